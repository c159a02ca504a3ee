'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { Runtime } = require('../lib/index');
const { ENDPOINTS, HASH, endpoint, gateway, handshake, listen, recordingLogger, request } = require('./helpers');

function bookingApp(logger = recordingLogger()) {
  return new Runtime({ name: 'handshake-test', version: '2.1.0', logger })
    .handler('booking.query_availability', async () => ({ rooms: [] }))
    .route('FETCH', '/bookings/{id}', async (input, ctx) => ({ found: ctx.params.booking_id }));
}

test('hello offers version 1.0, names the module and pool, and claims what the runtime can do', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { pool: 'billing', maxInFlight: 32 });
  const hello = await (await gw.accept()).next();
  assert.equal(hello.type, 'hello');
  assert.deepEqual(hello.gateway_versions, ['1.0']);
  assert.equal(hello.module.id, 'handshake-test');
  assert.equal(hello.module.version, '2.1.0');
  assert.equal(hello.module.pool, 'billing');
  assert.equal(hello.module.pid, process.pid);
  assert.match(hello.module.runtime, /^node v\d+/);
  assert.deepEqual(hello.capabilities, ['registered_function', 'sign_request', 'multiplex']);
  assert.equal(hello.max_in_flight, 32);
  assert.equal(hello.cached_manifest_hash, undefined, 'nothing is cached before the first registration');
  await server.close();
  await gw.close();
});

test('with a max in flight of 1 the runtime does not claim multiplex', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { maxInFlight: 1 });
  const hello = await (await gw.accept()).next();
  assert.deepEqual(hello.capabilities, ['registered_function', 'sign_request']);
  assert.equal(hello.max_in_flight, undefined);
  await server.close();
  await gw.close();
});

test('registration binds by handler reference and by route, and acknowledges every endpoint', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { encoding: 'json' });
  const peer = await gw.accept();
  const { ack } = await handshake(peer);
  assert.deepEqual(ack, {
    type: 'register_ack',
    ok: true,
    resolved: ['QUERY /rooms/availability', 'FETCH /bookings/{booking_id}'],
  });
  peer.send(request('r-1', 'FETCH', '/bookings/bk-9'));
  assert.deepEqual((await peer.next()).envelope.body, { found: 'bk-9' }, 'the route bound FETCH /bookings/{booking_id}');
  await server.ready();
  await server.close();
  await gw.close();
});

test('a registration naming endpoints without a handler is refused, each listed, and the runtime stops with 1', async () => {
  const gw = await gateway();
  const logger = recordingLogger();
  const server = listen(bookingApp(logger), gw.socketPath, { encoding: 'json' });
  const peer = await gw.accept();
  const endpoints = [
    ...ENDPOINTS,
    endpoint('QUERY', '/conformance/unresolvable', 'conformance.no_such_handler'),
    endpoint('BOOK', '/rooms/{room_id}', 'booking.book_room'),
  ];
  const { ack } = await handshake(peer, { endpoints });
  assert.equal(ack.ok, false);
  assert.deepEqual(
    ack.errors.map((e) => [e.endpoint, e.reason]),
    [
      ['QUERY /conformance/unresolvable', 'handler_not_found'],
      ['BOOK /rooms/{room_id}', 'handler_not_found'],
    ],
  );
  assert.match(ack.errors[0].detail, /conformance\.no_such_handler/);
  assert.equal(await peer.next(), null, 'the runtime closes the connection');
  assert.equal(await server.closed, 1);
  await assert.rejects(server.ready(), /stopped before it registered/);
  assert.match(logger.lines.join('\n'), /cannot serve QUERY \/conformance\/unresolvable/);
  await gw.close();
});

test('on reconnecting the runtime offers its cached manifest hash and serves from the cache on register_resume', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { encoding: 'json' });
  const first = await gw.accept();
  await handshake(first);
  first.destroy();
  const second = await gw.accept(4000);
  const { hello, ack } = await handshake(second, { resume: true });
  assert.equal(hello.cached_manifest_hash, HASH);
  assert.equal(ack.ok, true);
  assert.equal(ack.resolved.length, 2);
  second.send(request('r-1', 'FETCH', '/bookings/bk-2'));
  assert.deepEqual((await second.next()).envelope.body, { found: 'bk-2' });
  await server.close();
  await gw.close();
});

test('a register_resume for a hash the runtime never offered is refused, and the next hello offers none', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { encoding: 'json' });
  const first = await gw.accept();
  await first.next();
  first.send(
    { type: 'welcome', gateway_version: '1.0', daemon: { version: 't', server_id: 't' } },
    { type: 'register_resume', manifest_hash: HASH },
  );
  const ack = await first.next();
  assert.equal(ack.ok, false);
  assert.equal(ack.errors[0].reason, 'manifest_not_cached');
  assert.equal(await first.next(), null);
  const second = await gw.accept(4000);
  const { hello } = await handshake(second);
  assert.equal(hello.cached_manifest_hash, undefined);
  await server.close();
  await gw.close();
});

test('a full register replaces the cached registration: the next hello offers the new hash', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { encoding: 'json' });
  const first = await gw.accept();
  await handshake(first);
  first.destroy();
  const second = await gw.accept(4000);
  await second.next();
  const newHash = `sha256:${'cd'.repeat(32)}`;
  second.send(
    { type: 'welcome', gateway_version: '1.0', daemon: { version: 't', server_id: 't' } },
    { type: 'register', manifest_hash: newHash, endpoints: ENDPOINTS.slice(0, 1), schemas: {} },
  );
  assert.deepEqual((await second.next()).resolved, ['QUERY /rooms/availability']);
  second.destroy();
  const third = await gw.accept(4000);
  assert.equal((await third.next()).cached_manifest_hash, newHash);
  await server.close();
  await gw.close();
});

test('gateway_version_unsupported stops the runtime with exit status 1 instead of reconnecting', async () => {
  const gw = await gateway();
  const logger = recordingLogger();
  const server = listen(bookingApp(logger), gw.socketPath);
  const peer = await gw.accept();
  await peer.next();
  peer.send({ type: 'error', code: 'gateway_version_unsupported', message: 'this daemon speaks 2.0' });
  assert.equal(await server.closed, 1);
  assert.match(logger.lines.join('\n'), /speaks none of this runtime's protocol versions/);
  await gw.close();
});

test('a welcome that grants multiplex beyond what was asked is malformed', async () => {
  const gw = await gateway();
  const server = listen(bookingApp(), gw.socketPath, { maxInFlight: 4, encoding: 'json' });
  const peer = await gw.accept();
  await peer.next();
  peer.send({
    type: 'welcome',
    gateway_version: '1.0',
    daemon: { version: 't', server_id: 't' },
    capabilities: ['registered_function', 'multiplex'],
    max_in_flight: 5,
  });
  const error = await peer.next();
  assert.equal(error.code, 'malformed_frame');
  assert.match(error.message, /max_in_flight/);
  await server.close();
  await gw.close();
});

test('the runtime keeps AGTP_CONNECTIONS connections open, each registered', async () => {
  const gw = await gateway();
  const server = bookingApp().listen({
    argv: ['--gateway-socket', gw.socketPath],
    env: { AGTP_CONNECTIONS: '3', AGTP_ENCODING: 'json' },
    signals: false,
    exit: false,
  });
  const peers = [await gw.accept(), await gw.accept(), await gw.accept()];
  for (const peer of peers) assert.equal((await handshake(peer)).ack.ok, true);
  assert.equal(server.settings.connections, 3);
  await server.close();
  await gw.close();
});
