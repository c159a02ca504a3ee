'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { setTimeout: sleep } = require('node:timers/promises');
const { Runtime } = require('../lib/index');
const { TestDaemon } = require('../lib/testing');
const { endpoint, gateway, handshake, listen, recordingLogger, request } = require('./helpers');

const ENDPOINTS = [endpoint('FETCH', '/work/{ms}', 'work'), endpoint('FETCH', '/wait', 'wait')];
const MULTIPLEX = ['registered_function', 'multiplex'];

// `work` takes the milliseconds of its path; `wait` runs until its signal aborts.
function app(events = []) {
  return new Runtime({ name: 'multiplex-test', logger: recordingLogger() })
    .handler('work', async (input, ctx) => {
      await sleep(Number(ctx.params.ms));
      return { slept: Number(ctx.params.ms) };
    })
    .handler('wait', async (input, ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      events.push(`aborted: ${ctx.signal.reason.name}`);
      return { aborted: true };
    });
}

async function multiplexed(maxInFlight = 8, events = []) {
  const gw = await gateway();
  const server = listen(app(events), gw.socketPath, { encoding: 'json', maxInFlight: 16 });
  const peer = await gw.accept();
  const { ack } = await handshake(peer, { capabilities: MULTIPLEX, maxInFlight, endpoints: ENDPOINTS });
  assert.equal(ack.ok, true);
  return {
    peer,
    async stop() {
      server.close();
      peer.destroy();
      await server.closed;
      await gw.close();
    },
  };
}

test('with multiplex granted, requests on one connection run at once and are answered as they finish', async () => {
  const { peer, stop } = await multiplexed();
  peer.send(request('slow', 'FETCH', '/work/150'), request('fast', 'FETCH', '/work/10'), request('mid', 'FETCH', '/work/60'));
  const order = [];
  for (let i = 0; i < 3; i++) order.push((await peer.next()).request_id);
  assert.deepEqual(order, ['fast', 'mid', 'slow']);
  await stop();
});

test('answers that are ready together leave in one write', async (t) => {
  const runtime = new Runtime({ name: 'batch', logger: recordingLogger() }).handler('now', (input, ctx) => ({ id: ctx.requestId }));
  const gw = await gateway();
  const server = listen(runtime, gw.socketPath, { encoding: 'json' });
  const peer = await gw.accept();
  await handshake(peer, { capabilities: MULTIPLEX, maxInFlight: 8, endpoints: [endpoint('FETCH', '/now', 'now')] });
  const writes = [];
  const write = net.Socket.prototype.write;
  t.mock.method(net.Socket.prototype, 'write', function spy(bytes, ...rest) {
    writes.push(bytes.length);
    return write.call(this, bytes, ...rest);
  });
  const ids = ['a', 'b', 'c', 'd', 'e'];
  peer.send(...ids.map((id) => request(id, 'FETCH', '/now')));
  const answers = [];
  for (const _ of ids) answers.push(await peer.next());
  t.mock.restoreAll();
  assert.deepEqual(
    answers.map((a) => a.request_id),
    ids,
  );
  assert.equal(writes.length, 2, 'one write of five requests by the daemon, one write of five answers by the runtime');
  await server.close();
  await gw.close();
});

test('handler_timeout for one request cancels its handler and answers it at once; the others go on', async () => {
  const events = [];
  const { peer, stop } = await multiplexed(8, events);
  peer.send(request('stuck', 'FETCH', '/wait'), request('other', 'FETCH', '/work/100'));
  await sleep(20);
  peer.send({ type: 'error', request_id: 'stuck', code: 'handler_timeout', message: 'the deadline passed' });
  const first = await peer.next();
  assert.deepEqual([first.type, first.request_id, first.code], ['error', 'stuck', 'handler_timeout']);
  const second = await peer.next();
  assert.equal(second.request_id, 'other');
  assert.deepEqual(second.envelope.body, { slept: 100 });
  assert.deepEqual(events, ['aborted: TimeoutError']);
  peer.send({ type: 'ping', nonce: 'still-open' });
  assert.equal((await peer.next()).nonce, 'still-open', 'the connection stays open');
  await stop();
});

test('a multiplexed answer that misses its deadline is sent as handler_timeout, freeing its slot', async () => {
  const { peer, stop } = await multiplexed();
  peer.send(request('late', 'FETCH', '/work/120', {}, { deadline_ms: 40 }));
  const answer = await peer.next();
  assert.deepEqual([answer.type, answer.request_id, answer.code], ['error', 'late', 'handler_timeout']);
  await stop();
});

test('more requests in flight than the granted max_in_flight is a phase_violation', async () => {
  const { peer, stop } = await multiplexed(2);
  peer.send(request('1', 'FETCH', '/work/200'), request('2', 'FETCH', '/work/200'), request('3', 'FETCH', '/work/200'));
  const error = await peer.next();
  assert.equal(error.code, 'phase_violation');
  assert.match(error.message, /more than 2/);
  await stop();
});

test('a runtime whose multiplex claim is not granted takes one request at a time', async () => {
  const gw = await gateway();
  const server = listen(app(), gw.socketPath, { encoding: 'json', maxInFlight: 16 });
  const peer = await gw.accept();
  const { hello } = await handshake(peer, { endpoints: ENDPOINTS });
  assert.ok(hello.capabilities.includes('multiplex'), 'the runtime claims it');
  peer.send(request('1', 'FETCH', '/work/100'), request('2', 'FETCH', '/work/10'));
  const error = await peer.next();
  assert.equal(error.code, 'phase_violation');
  assert.match(error.message, /a request while another is in flight/);
  await server.close();
  await gw.close();
});

test('the test daemon grants multiplex when asked, and the handlers then overlap', async () => {
  let running = 0;
  let most = 0;
  const runtime = new Runtime({ name: 'overlap', logger: recordingLogger() }).handler('work', async () => {
    running += 1;
    most = Math.max(most, running);
    await sleep(30);
    running -= 1;
    return {};
  });
  const daemon = await TestDaemon.start(runtime, { endpoints: [{ method: 'FETCH', path: '/work', handlerReference: 'work' }], multiplex: 4 });
  assert.equal(daemon.hellos[0].max_in_flight, 64);
  const responses = await Promise.all(Array.from({ length: 6 }, () => daemon.call('FETCH', '/work')));
  assert.ok(responses.every((r) => r.status === 200));
  assert.equal(most, 4, 'no more than the granted four at once');
  await daemon.close();
});

test('a goodbye while multiplexed requests are in flight lets them finish, then the runtime closes', async () => {
  const { peer, stop } = await multiplexed();
  peer.send(request('a', 'FETCH', '/work/60'), request('b', 'FETCH', '/work/30'));
  await sleep(10);
  peer.send({ type: 'goodbye', reason: 'drain' });
  const frames = [await peer.next(), await peer.next(), await peer.next()];
  assert.deepEqual(
    frames.map((f) => f.request_id ?? f.type),
    ['b', 'a', 'goodbye'],
  );
  assert.equal(await peer.next(), null);
  await stop();
});
