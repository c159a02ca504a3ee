'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const msgpack = require('@msgpack/msgpack');
const { Runtime } = require('../lib/index');
const { TestDaemon } = require('../lib/testing');
const { json, withinDepth, MAX_DEPTH } = require('../lib/codec');
const { FIXTURES, endpoint, gateway, handshake, listen, recordingLogger, request, spawnRunner, frameBytes } = require('./helpers');

const ENDPOINTS = [{ method: 'QUERY', path: '/echo/{word}', handlerReference: 'echo' }];

function echoApp() {
  return new Runtime({ name: 'encoding-test', logger: recordingLogger() }).handler('echo', (input, ctx) => ({
    word: ctx.params.word,
    input,
  }));
}

async function msgpackConnection() {
  const gw = await gateway();
  const server = listen(echoApp(), gw.socketPath);
  const peer = await gw.accept();
  await handshake(peer, { endpoints: [endpoint('QUERY', '/echo/{word}', 'echo')] });
  assert.equal(peer.encoding, 'msgpack');
  return {
    peer,
    async stop() {
      await server.close();
      await gw.close();
    },
  };
}

test('with @msgpack/msgpack installed the runtime speaks MessagePack, starting with a fixmap hello', async () => {
  const daemon = await TestDaemon.start(echoApp(), { endpoints: ENDPOINTS });
  const response = await daemon.call('QUERY', '/echo/hi', { n: 1.5, list: [1, null, 'x'], nested: { ok: true } });
  assert.equal(response.status, 200);
  assert.deepEqual(response.body, { word: 'hi', input: { n: 1.5, list: [1, null, 'x'], nested: { ok: true }, word: 'hi' } });
  await daemon.close();
  const gw = await gateway();
  const server = listen(echoApp(), gw.socketPath);
  const peer = await gw.accept();
  await peer.next();
  assert.equal(peer.encoding, 'msgpack');
  await server.close();
  await gw.close();
});

test('AGTP_ENCODING=json makes the runtime speak JSON even with MessagePack available', async () => {
  const gw = await gateway();
  const server = echoApp().listen({ socket: gw.socketPath, env: { AGTP_ENCODING: 'json' }, argv: [], signals: false, exit: false, connections: 1 });
  const peer = await gw.accept();
  await peer.next();
  assert.equal(peer.encoding, 'json');
  await server.close();
  await gw.close();
});

test('without @msgpack/msgpack the runtime speaks JSON, and asking for msgpack is a usage error', async () => {
  const gw = await gateway();
  const nodeArgs = ['--require', path.join(FIXTURES, 'without-msgpack.js')];
  const service = path.join(FIXTURES, 'service.js');
  const child = spawnRunner(['--handlers', service], { AGTP_GATEWAY_SOCKET: gw.socketPath, AGTP_CONNECTIONS: '1' }, { nodeArgs });
  const peer = await gw.accept();
  await peer.next();
  assert.equal(peer.encoding, 'json');
  child.kill('SIGTERM');
  assert.equal(await child.exited, 0);
  const refused = spawnRunner(['--handlers', service], { AGTP_GATEWAY_SOCKET: gw.socketPath, AGTP_ENCODING: 'msgpack' }, { nodeArgs });
  assert.equal(await refused.exited, 64);
  assert.match(refused.output, /needs the package `@msgpack\/msgpack`/);
  await gw.close();
});

test('a MessagePack frame holding a bin value is malformed', async () => {
  const { peer, stop } = await msgpackConnection();
  peer.sendBytes(frameBytes(msgpack.encode({ type: 'ping', nonce: 'x', blob: new Uint8Array([1, 2]) })));
  const error = await peer.next();
  assert.equal(error.code, 'malformed_frame');
  assert.match(error.message, /bin or extension/);
  await stop();
});

test('a MessagePack map with a non-string key is malformed', async () => {
  const { peer, stop } = await msgpackConnection();
  // {"type":"ping","nonce":"x",1:2} written by hand: fixmap of 3 entries.
  const bytes = Buffer.concat([
    Buffer.from([0x83]),
    Buffer.from(msgpack.encode('type')),
    Buffer.from(msgpack.encode('ping')),
    Buffer.from(msgpack.encode('nonce')),
    Buffer.from(msgpack.encode('x')),
    Buffer.from([0x01, 0x02]),
  ]);
  peer.sendBytes(frameBytes(bytes));
  assert.equal((await peer.next()).code, 'malformed_frame');
  await stop();
});

test('a JSON frame on a MessagePack connection is malformed (§3: no switching)', async () => {
  const { peer, stop } = await msgpackConnection();
  peer.sendBytes(frameBytes(JSON.stringify({ type: 'ping', nonce: 'x' })));
  const error = await peer.next();
  assert.equal(error.code, 'malformed_frame');
  assert.match(error.message, /not a MessagePack map/);
  await stop();
});

test('a request and its answer round-trip through MessagePack with unicode and large integers', async () => {
  const { peer, stop } = await msgpackConnection();
  peer.send(request('r-1', 'QUERY', '/echo/%E2%82%AC', { big: 2 ** 40, text: 'naïve 🚀' }));
  const answer = await peer.next();
  assert.deepEqual(answer.envelope.body, { word: '€', input: { big: 2 ** 40, text: 'naïve 🚀' } });
  await stop();
});

test('nesting is checked at exactly 128 levels, the frame map included', () => {
  let value = 'leaf';
  for (let i = 0; i < MAX_DEPTH - 1; i++) value = [value];
  const frame = JSON.stringify({ type: 'ping', nonce: 'n', deep: value });
  const bytes = Buffer.from(frame);
  assert.equal(json.decode(bytes, 0, bytes.length).type, 'ping');
  const deeper = Buffer.from(JSON.stringify({ type: 'ping', nonce: 'n', deep: [value] }));
  assert.throws(() => json.decode(deeper, 0, deeper.length), { code: 'malformed_frame' });
  assert.equal(withinDepth({ a: { b: 1 } }, 2), true);
  assert.equal(withinDepth({ a: { b: {} } }, 2), false);
});
