'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { FrameDecoder, MAX_FRAME_BYTES } = require('../lib/framing');
const { Runtime } = require('../lib/index');
const { gateway, handshake, listen, recordingLogger, request, delay, frameBytes } = require('./helpers');

function collect() {
  const payloads = [];
  const decoder = new FrameDecoder(MAX_FRAME_BYTES, (buffer, start, end) => payloads.push(buffer.toString('utf8', start, end)));
  return { decoder, payloads };
}

function frameOf(object) {
  return frameBytes(JSON.stringify(object));
}

function bookingApp(logger = recordingLogger()) {
  return new Runtime({ name: 'framing-test', logger })
    .handler('booking.query_availability', async () => ({ rooms: [] }))
    .handler('booking.fetch_booking', async (input, ctx) => ({ booking_id: ctx.params.booking_id }));
}

// A runtime connected to a fresh gateway, registered; `stop()` ends both.
async function registered() {
  const gw = await gateway();
  const logger = recordingLogger();
  const server = listen(bookingApp(logger), gw.socketPath, { encoding: 'json' });
  const peer = await gw.accept();
  const { ack } = await handshake(peer);
  assert.equal(ack.ok, true);
  return {
    gw,
    peer,
    logger,
    async stop() {
      server.close();
      peer.destroy();
      await server.closed;
      await gw.close();
    },
  };
}

// The `error` frame the runtime answers with, and the close after it.
async function errorThenClose(peer) {
  const frame = await peer.next();
  assert.equal(frame.type, 'error');
  assert.equal(await peer.next(), null, 'the runtime closes after the error frame');
  return frame;
}

test('a frame split into single bytes is decoded once its last byte arrives', () => {
  const { decoder, payloads } = collect();
  const bytes = frameOf({ type: 'ping', nonce: 'p-1' });
  for (let i = 0; i < bytes.length - 1; i++) decoder.push(bytes.subarray(i, i + 1));
  assert.deepEqual(payloads, []);
  decoder.push(bytes.subarray(bytes.length - 1));
  assert.deepEqual(payloads, ['{"type":"ping","nonce":"p-1"}']);
});

test('several frames in one read are each delivered, and a trailing partial one waits for the rest', () => {
  const { decoder, payloads } = collect();
  const one = frameOf({ type: 'ping', nonce: 'a' });
  const two = frameOf({ type: 'ping', nonce: 'b' });
  const three = frameOf({ type: 'ping', nonce: 'c' });
  const all = Buffer.concat([one, two, three]);
  decoder.push(all.subarray(0, one.length + two.length + 2));
  assert.equal(payloads.length, 2);
  decoder.push(all.subarray(one.length + two.length + 2));
  assert.deepEqual(payloads.map((p) => JSON.parse(p).nonce), ['a', 'b', 'c']);
});

test('only the bytes before `end` of a reused read buffer are taken', () => {
  const { decoder, payloads } = collect();
  const bytes = frameOf({ type: 'ping', nonce: 'reused' });
  const buffer = Buffer.alloc(256, 0xff);
  bytes.copy(buffer, 0, 0, 10);
  decoder.push(buffer, 10);
  buffer.fill(0xff);
  bytes.copy(buffer, 0, 10);
  decoder.push(buffer, bytes.length - 10);
  assert.deepEqual(payloads, ['{"type":"ping","nonce":"reused"}']);
});

test('the decoder refuses a zero length and an oversized one from the header alone', () => {
  const { decoder } = collect();
  assert.throws(() => decoder.push(Buffer.from([0, 0, 0, 0])), { code: 'malformed_frame' });
  const small = new FrameDecoder(1024, () => {});
  assert.throws(() => small.push(Buffer.from([0, 0, 4, 1])), (error) => {
    assert.equal(error.code, 'frame_too_large');
    assert.deepEqual(error.details, { size: 1025, max: 1024 });
    return true;
  });
});

test('a welcome and a register written one byte at a time still register the runtime', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { encoding: 'json' });
  const peer = await gw.accept();
  assert.equal((await peer.next()).type, 'hello');
  const bytes = Buffer.concat([
    frameOf({ type: 'welcome', gateway_version: '1.0', daemon: { version: 't', server_id: 't' }, capabilities: [] }),
    frameOf({ type: 'register', manifest_hash: 'sha256:00', endpoints: [], schemas: {} }),
  ]);
  for (const byte of bytes) {
    peer.sendBytes(Buffer.from([byte]));
    await delay(1);
  }
  const ack = await peer.next();
  assert.equal(ack.type, 'register_ack');
  assert.equal(ack.ok, true);
  await server.close();
  await gw.close();
});

test('several frames in one write are all answered, in order', async () => {
  const { peer, stop } = await registered();
  peer.send(
    { type: 'ping', nonce: 'first' },
    request('r-1', 'FETCH', '/bookings/bk-7'),
    { type: 'ping', nonce: 'second' },
  );
  const frames = [await peer.next(), await peer.next(), await peer.next()];
  assert.deepEqual(
    frames.map((f) => f.nonce ?? f.request_id),
    ['first', 'second', 'r-1'],
    'pongs are written as the pings are read; the answer follows its handler',
  );
  assert.deepEqual(frames[2].envelope.body, { booking_id: 'bk-7' });
  await stop();
});

test('a zero-length frame is answered with malformed_frame and a close', async () => {
  const { peer, logger, stop } = await registered();
  peer.sendBytes(Buffer.from([0, 0, 0, 0]));
  const error = await errorThenClose(peer);
  assert.equal(error.code, 'malformed_frame');
  assert.match(logger.lines.join('\n'), /length zero/);
  await stop();
});

test('a length over 16 MiB is refused with frame_too_large before any of the payload is sent', async () => {
  const { peer, stop } = await registered();
  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX_FRAME_BYTES + 1);
  peer.sendBytes(header);
  const error = await errorThenClose(peer);
  assert.equal(error.code, 'frame_too_large');
  assert.deepEqual(error.details, { size: MAX_FRAME_BYTES + 1, max: MAX_FRAME_BYTES });
  await stop();
});

test('a payload that is not JSON is answered with malformed_frame', async () => {
  const { peer, stop } = await registered();
  peer.sendBytes(frameBytes('{"type":"ping",'));
  const error = await errorThenClose(peer);
  assert.equal(error.code, 'malformed_frame');
  assert.match(error.message, /not JSON/);
  await stop();
});

test('a JSON payload with leading whitespace is malformed (§3)', async () => {
  const { peer, stop } = await registered();
  peer.sendBytes(frameBytes(' {"type":"ping","nonce":"x"}'));
  assert.equal((await errorThenClose(peer)).code, 'malformed_frame');
  await stop();
});

test('an unknown frame type is answered with malformed_frame', async () => {
  const { peer, stop } = await registered();
  peer.send({ type: 'teleport' });
  const error = await errorThenClose(peer);
  assert.equal(error.code, 'malformed_frame');
  assert.match(error.message, /teleport/);
  await stop();
});

test('a request without a request_id is answered with malformed_frame', async () => {
  const { peer, stop } = await registered();
  const frame = request('r-1', 'FETCH', '/bookings/1');
  delete frame.request_id;
  peer.send(frame);
  assert.equal((await errorThenClose(peer)).code, 'malformed_frame');
  await stop();
});

test('a payload nested deeper than 128 levels is answered with malformed_frame', async () => {
  const { peer, stop } = await registered();
  const deep = `${'['.repeat(128)}${']'.repeat(128)}`;
  peer.sendBytes(frameBytes(`{"type":"ping","nonce":"n","extra":${deep}}`));
  const error = await errorThenClose(peer);
  assert.equal(error.code, 'malformed_frame');
  assert.match(error.message, /128/);
  await stop();
});

test('a frame the phase does not allow is answered with phase_violation', async () => {
  const { peer, stop } = await registered();
  peer.send({ type: 'register_resume', manifest_hash: 'sha256:00' });
  assert.equal((await errorThenClose(peer)).code, 'phase_violation');
  await stop();
});

test('after malformed input the runtime stays up, reconnects and serves again', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { encoding: 'json' });
  const first = await gw.accept();
  await handshake(first);
  first.sendBytes(frameBytes('not json at all'));
  assert.equal((await errorThenClose(first)).code, 'malformed_frame');
  const second = await gw.accept(4000);
  const { ack } = await handshake(second);
  assert.equal(ack.ok, true);
  second.send(request('r-1', 'FETCH', '/bookings/bk-1'));
  assert.deepEqual((await second.next()).envelope.body, { booking_id: 'bk-1' });
  await server.close();
  await gw.close();
});
