'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { setTimeout: sleep } = require('node:timers/promises');
const { Runtime } = require('../lib/index');
const { TestDaemon } = require('../lib/testing');
const { endpoint, gateway, handshake, listen, recordingLogger, request } = require('./helpers');

const ENDPOINTS = [endpoint('FETCH', '/work/{ms}', 'work')];

function app() {
  return new Runtime({ name: 'lifecycle-test', logger: recordingLogger() }).handler('work', async (input, ctx) => {
    await sleep(Number(ctx.params.ms));
    return { slept: Number(ctx.params.ms) };
  });
}

async function connected(options = {}) {
  const gw = await gateway();
  const server = listen(app(), gw.socketPath, { encoding: 'json', ...options });
  const peer = await gw.accept();
  await handshake(peer, { endpoints: ENDPOINTS });
  return { gw, server, peer };
}

test('a ping from the daemon is answered with a pong carrying its nonce', async () => {
  const { gw, server, peer } = await connected();
  peer.send({ type: 'ping', nonce: 'k-41' });
  assert.deepEqual(await peer.next(), { type: 'pong', nonce: 'k-41' });
  await server.close();
  await gw.close();
});

test('the test daemon pings every connection and measures the round trip', async () => {
  const daemon = await TestDaemon.start(app(), { endpoints: [{ method: 'FETCH', path: '/work/{ms}', handlerReference: 'work' }], connections: 2 });
  assert.equal(daemon.connections, 2);
  const ms = await daemon.ping();
  assert.ok(ms >= 0 && ms < 1000);
  await daemon.close();
});

test('an idle runtime pings the daemon after the keepalive interval, and again after each pong', async () => {
  const { gw, server, peer } = await connected({ keepaliveMs: 100 });
  const started = Date.now();
  const first = await peer.next(1000);
  assert.equal(first.type, 'ping');
  assert.ok(Date.now() - started >= 90, 'not before the interval');
  peer.send({ type: 'pong', nonce: first.nonce });
  const second = await peer.next(1000);
  assert.equal(second.type, 'ping');
  assert.notEqual(second.nonce, first.nonce);
  await server.close();
  await gw.close();
});

test('a daemon that leaves the runtime ping unanswered is disconnected, and the runtime reconnects', async () => {
  const { gw, server, peer } = await connected({ keepaliveMs: 100 });
  assert.equal((await peer.next(1000)).type, 'ping');
  assert.equal(await peer.next(1000), null, 'closed after the pong timeout');
  const again = await gw.accept(4000);
  assert.equal((await again.next()).type, 'hello');
  await server.close();
  await gw.close();
});

test('a goodbye from the daemon on an idle connection: the runtime says goodbye, closes, and reconnects', async () => {
  const { gw, server, peer } = await connected();
  peer.send({ type: 'goodbye', reason: 'drain' });
  assert.deepEqual(await peer.next(), { type: 'goodbye', reason: 'shutdown' });
  assert.equal(await peer.next(), null);
  const closedAt = Date.now();
  const again = await gw.accept(4000);
  assert.ok(again.acceptedAt - closedAt >= 700, 'after a drain the runtime backs off before reconnecting');
  await server.close();
  await gw.close();
});

test('after a goodbye for a manifest reload the runtime reconnects at once to register again', async () => {
  const { gw, server, peer } = await connected();
  peer.send({ type: 'goodbye', reason: 'manifest_reload' });
  assert.equal((await peer.next()).type, 'goodbye');
  assert.equal(await peer.next(), null);
  const closedAt = Date.now();
  const again = await gw.accept(4000);
  assert.ok(again.acceptedAt - closedAt < 500, `reconnected after ${again.acceptedAt - closedAt} ms`);
  await server.close();
  await gw.close();
});

test('a goodbye from the daemon with a request in flight: the answer, then goodbye, then the close', async () => {
  const { gw, server, peer } = await connected();
  peer.send(request('r-1', 'FETCH', '/work/80'));
  await sleep(10);
  peer.send({ type: 'goodbye', reason: 'shutdown' });
  assert.equal((await peer.next()).request_id, 'r-1');
  assert.equal((await peer.next()).type, 'goodbye');
  assert.equal(await peer.next(), null);
  await server.close();
  await gw.close();
});

test('close() with a request in flight: goodbye at once, the answer, and the daemon closes the idle connection', async () => {
  const { gw, server, peer } = await connected();
  peer.send(request('r-1', 'FETCH', '/work/100'));
  await sleep(10);
  const closed = server.close();
  assert.deepEqual(await peer.next(), { type: 'goodbye', reason: 'shutdown' });
  const answer = await peer.next();
  assert.equal(answer.request_id, 'r-1');
  assert.deepEqual(answer.envelope.body, { slept: 100 });
  peer.end();
  assert.equal(await closed, 0);
  await gw.close();
});

test('the runtime reconnects with growing delays while the daemon is away', async () => {
  const gw = await gateway();
  const server = listen(app(), gw.socketPath, { encoding: 'json' });
  const times = [];
  for (let i = 0; i < 3; i++) {
    const peer = await gw.accept(6000);
    times.push(peer.acceptedAt);
    await peer.next();
    peer.destroy();
  }
  const gaps = [times[1] - times[0], times[2] - times[1]];
  assert.ok(gaps[0] >= 750 && gaps[0] <= 1300, `first gap ${gaps[0]} ms, about 1 s`);
  assert.ok(gaps[1] >= 1550 && gaps[1] <= 2500, `second gap ${gaps[1]} ms, about 2 s`);
  await server.close();
  await gw.close();
});
