'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');
const { Runtime } = require('../lib/index');
const { TestDaemon } = require('../lib/testing');
const { recordingLogger } = require('./helpers');

function app(handlers) {
  return new Runtime({ name: 'testing-test', logger: recordingLogger(), handlers });
}

test('start() rejects, naming each endpoint, when the runtime cannot bind the registration', async () => {
  const endpoints = [
    { method: 'QUERY', path: '/a', handlerReference: 'a' },
    { method: 'QUERY', path: '/b', handlerReference: 'b' },
  ];
  await assert.rejects(TestDaemon.start(app({ a: () => ({}) }), { endpoints }), (error) => {
    assert.match(error.message, /refused the registration: QUERY \/b: handler_not_found/);
    assert.deepEqual(error.errors.map((e) => e.endpoint), ['QUERY /b']);
    return true;
  });
});

test('an endpoint without a handler reference is bound by its route', async () => {
  const runtime = app({}).route('FETCH', '/bookings/{id}', (input) => ({ id: input.booking_id }));
  const daemon = await TestDaemon.start(runtime, { endpoints: [{ method: 'FETCH', path: '/bookings/{booking_id}' }] });
  assert.deepEqual((await daemon.call('FETCH', '/bookings/bk-3')).body, { id: 'bk-3' });
  await daemon.close();
});

test('query parameters, then the body, then path parameters make the input, as agtpd merges them', async () => {
  const daemon = await TestDaemon.start(app({ echo: (input) => input }), {
    endpoints: [{ method: 'QUERY', path: '/rooms/{room_id}', handlerReference: 'echo' }],
  });
  const response = await daemon.call('QUERY', '/rooms/101?guests=2&room_id=999&sort=asc', { sort: 'desc' });
  assert.deepEqual(response.body, { guests: '2', room_id: '101', sort: 'desc' });
  await daemon.close();
});

test('a call to a path that no endpoint serves rejects', async () => {
  const daemon = await TestDaemon.start(app({ a: () => ({}) }), { endpoints: [{ method: 'QUERY', path: '/a', handlerReference: 'a' }] });
  await assert.rejects(daemon.call('QUERY', '/elsewhere'), /no endpoint of this test daemon serves QUERY \/elsewhere/);
  await assert.rejects(daemon.call('FETCH', '/a'), /FETCH \/a/);
  await daemon.close();
});

test('a missed deadline is 504; the connection is replaced, resumes, and serves the next call', async () => {
  let calls = 0;
  const daemon = await TestDaemon.start(
    app({
      slow: async () => {
        calls += 1;
        if (calls === 1) await sleep(400);
        return { call: calls };
      },
    }),
    { endpoints: [{ method: 'FETCH', path: '/slow', handlerReference: 'slow' }] },
  );
  const late = await daemon.call('FETCH', '/slow', {}, { deadlineMs: 100 });
  assert.equal(late.status, 504);
  const next = await daemon.call('FETCH', '/slow');
  assert.deepEqual(next.body, { call: 2 });
  assert.equal(daemon.hellos.length, 2, 'the runtime reconnected');
  assert.equal(daemon.hellos[1].cached_manifest_hash, daemon.manifestHash, 'and offered its registration to resume');
  await daemon.close();
});

test('close() stops the runtime, resolves with its exit status and removes the socket directory', async () => {
  const daemon = await TestDaemon.start(app({ a: () => ({}) }), { endpoints: [{ method: 'QUERY', path: '/a', handlerReference: 'a' }] });
  const socketPath = daemon.socketPath;
  assert.ok(fs.existsSync(socketPath));
  assert.equal(await daemon.close(), 0);
  assert.equal(fs.existsSync(socketPath), false);
  await assert.rejects(daemon.call('QUERY', '/a'), /closed/);
});
