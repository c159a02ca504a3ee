'use strict';

// The runtime as a process: signals, exit statuses and the `agtp-runtime` runner.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { FIXTURES, endpoint, gateway, handshake, request, spawnRunner } = require('./helpers');
const { DaemonPeer } = require('../lib/peer');

const SERVICE = path.join(FIXTURES, 'service.js');
const ENDPOINTS = [endpoint('FETCH', '/work/{ms}', 'work')];
const JSON_ONLY = { AGTP_ENCODING: 'json', AGTP_CONNECTIONS: '1' };

test('SIGTERM with a request in flight: goodbye, the answer, the close, then exit status 0', async () => {
  const gw = await gateway();
  const child = spawnRunner(['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: gw.socketPath, ...JSON_ONLY });
  const peer = await gw.accept();
  await handshake(peer, { endpoints: ENDPOINTS });
  peer.send(request('r-1', 'FETCH', '/work/400'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  child.kill('SIGTERM');
  assert.deepEqual(await peer.next(), { type: 'goodbye', reason: 'shutdown' });
  const answer = await peer.next();
  assert.equal(answer.request_id, 'r-1');
  assert.deepEqual(answer.envelope.body, { slept: 400 });
  peer.end();
  assert.equal(await child.exited, 0);
  assert.match(child.output, /SIGTERM: finishing the requests in flight/);
  await gw.close();
});

test('SIGTERM on an idle runtime: goodbye, and exit status 0 once the daemon closes', async () => {
  const gw = await gateway();
  const child = spawnRunner(['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: gw.socketPath, ...JSON_ONLY });
  const peer = await gw.accept();
  await handshake(peer, { endpoints: ENDPOINTS });
  child.kill('SIGTERM');
  assert.equal((await peer.next()).type, 'goodbye');
  peer.end();
  assert.equal(await child.exited, 0);
  await gw.close();
});

test('a script that calls listen() exits 1 when the daemon registers an endpoint it has no handler for', async () => {
  const gw = await gateway();
  const child = spawnRunner([], { AGTP_GATEWAY_SOCKET: gw.socketPath, ...JSON_ONLY }, { script: path.join(FIXTURES, 'listen.js') });
  const peer = await gw.accept();
  const { ack } = await handshake(peer, { endpoints: [...ENDPOINTS, endpoint('QUERY', '/elsewhere', 'missing.handler')] });
  assert.equal(ack.ok, false);
  assert.deepEqual(ack.errors.map((e) => e.endpoint), ['QUERY /elsewhere']);
  assert.equal(await child.exited, 1);
  await gw.close();
});

test('no common protocol version makes the process exit 1', async () => {
  const gw = await gateway();
  const child = spawnRunner(['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: gw.socketPath, ...JSON_ONLY });
  const peer = await gw.accept();
  await peer.next();
  peer.send({ type: 'error', code: 'gateway_version_unsupported', message: 'only 2.0 here' });
  assert.equal(await child.exited, 1);
  await gw.close();
});

test('usage errors exit 64 with a message', async () => {
  const cases = [
    [['--handlers', SERVICE], {}, /no gateway socket/],
    [['--handlers', SERVICE, '--bogus'], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock' }, /unknown argument `--bogus`/],
    [[], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock' }, /--handlers FILE is required/],
    [['--handlers', path.join(FIXTURES, 'missing.js')], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock' }, /no such file/],
    [['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock', AGTP_CONNECTIONS: '0' }, /AGTP_CONNECTIONS must be an integer from 1/],
    [['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock', AGTP_MAX_IN_FLIGHT: 'lots' }, /AGTP_MAX_IN_FLIGHT/],
    [['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock', AGTP_ENCODING: 'xml' }, /auto, json or msgpack/],
    [['--handlers', path.join(FIXTURES, 'without-msgpack.js')], { AGTP_GATEWAY_SOCKET: '/tmp/x.sock' }, /neither a Runtime nor/],
  ];
  for (const [args, env, message] of cases) {
    const child = spawnRunner(args, env);
    assert.equal(await child.exited, 64, `${args.join(' ')}: ${child.output}`);
    assert.match(child.output, message);
  }
});

test('the runner serves an ES module whose default export is an object of handlers', async () => {
  const gw = await gateway();
  const child = spawnRunner(['--handlers', path.join(FIXTURES, 'handlers-object.mjs'), '--gateway-socket', gw.socketPath], JSON_ONLY);
  const peer = await gw.accept();
  const { hello, ack } = await handshake(peer, { endpoints: ENDPOINTS });
  assert.equal(hello.module.id, 'handlers-object');
  assert.equal(ack.ok, true);
  peer.send(request('r-1', 'FETCH', '/work/5'));
  assert.deepEqual((await peer.next()).envelope.body, { slept: 0, from: 'esm', ms: '5' });
  child.kill('SIGTERM');
  peer.end();
  assert.equal(await child.exited, 0);
  await gw.close();
});

test('--gateway-socket wins over AGTP_GATEWAY_SOCKET', async () => {
  const gw = await gateway();
  const child = spawnRunner(['--handlers', SERVICE, `--gateway-socket=${gw.socketPath}`], {
    AGTP_GATEWAY_SOCKET: '/nonexistent/agtpd.sock',
    ...JSON_ONLY,
  });
  const peer = await gw.accept();
  assert.equal((await peer.next()).type, 'hello');
  child.kill('SIGTERM');
  assert.equal(await child.exited, 0, 'SIGTERM before registration ends the process at once');
  await gw.close();
});

test('a runtime started before the daemon connects once the socket appears', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agtp-sdk-late-'));
  const socketPath = path.join(dir, 'gateway.sock');
  const child = spawnRunner(['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: socketPath, ...JSON_ONLY });
  await new Promise((resolve) => setTimeout(resolve, 300));
  let arrived;
  const peerArrived = new Promise((resolve) => (arrived = resolve));
  const server = net.createServer((socket) => arrived(new DaemonPeer(socket)));
  await new Promise((resolve) => server.listen(socketPath, resolve));
  const peer = await peerArrived;
  assert.equal((await handshake(peer, { endpoints: ENDPOINTS })).ack.ok, true);
  assert.match(child.output, /cannot connect to .*gateway\.sock.*reconnecting in/);
  child.kill('SIGTERM');
  assert.equal((await peer.next()).type, 'goodbye');
  peer.end();
  assert.equal(await child.exited, 0);
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM while waiting to reconnect exits 0 at once', async () => {
  const child = spawnRunner(['--handlers', SERVICE], { AGTP_GATEWAY_SOCKET: '/nonexistent/agtpd.sock', ...JSON_ONLY });
  await new Promise((resolve) => setTimeout(resolve, 400));
  const signalled = Date.now();
  child.kill('SIGTERM');
  assert.equal(await child.exited, 0);
  assert.ok(Date.now() - signalled < 500, 'it does not sit out the backoff');
});
