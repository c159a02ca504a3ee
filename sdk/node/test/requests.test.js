'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { setTimeout: sleep } = require('node:timers/promises');
const { Runtime, Reply, EndpointError, Context } = require('../lib/index');
const { TestDaemon } = require('../lib/testing');
const { recordingLogger, eventually } = require('./helpers');

const ENDPOINTS = [
  { method: 'QUERY', path: '/echo/{name}', handlerReference: 'echo' },
  { method: 'BOOK', path: '/rooms/{room_id}', handlerReference: 'book', errors: ['room_unavailable'] },
  { method: 'FETCH', path: '/fail', handlerReference: 'fail', errors: ['booking_not_found'] },
  { method: 'FETCH', path: '/slow', handlerReference: 'slow' },
];

// A test daemon serving the endpoints of ENDPOINTS that `handlers` has a handler for.
async function start(handlers, options = {}) {
  const logger = recordingLogger();
  const app = new Runtime({ name: 'requests-test', logger, handlers });
  const endpoints = ENDPOINTS.filter((e) => Object.hasOwn(handlers, e.handlerReference));
  const daemon = await TestDaemon.start(app, { endpoints, ...options });
  return { daemon, logger };
}

test('a plain value returned by a handler is a 200 reply with that body', async () => {
  const { daemon } = await start({ echo: async (input) => ({ hello: input.name }) });
  const response = await daemon.call('QUERY', '/echo/ada');
  assert.equal(response.status, 200);
  assert.deepEqual(response.body, { hello: 'ada' });
  assert.equal(response.error, null);
  await daemon.close();
});

test('a handler may be synchronous, and returning nothing is a null body', async () => {
  const { daemon } = await start({ echo: () => undefined });
  const response = await daemon.call('QUERY', '/echo/x');
  assert.equal(response.status, 200);
  assert.equal(response.body, null);
  await daemon.close();
});

test('a Reply sets the status, the headers and the attribution extra', async () => {
  const { daemon } = await start({
    book: async (input) =>
      new Reply(
        { booking_id: 'bk-1', room: input.room_id },
        { status: 201, headers: { location: '/bookings/bk-1' }, attributionExtra: { source: 'test' } },
      ),
  });
  const response = await daemon.call('BOOK', '/rooms/101', { guest: 'Ada' });
  assert.equal(response.status, 201);
  assert.deepEqual(response.headers, { location: '/bookings/bk-1' });
  assert.deepEqual(response.body, { booking_id: 'bk-1', room: '101' });
  assert.deepEqual(response.attributionExtra, { source: 'test' });
  await daemon.close();
});

test('a Reply refuses a status outside 2xx and headers that are not strings', () => {
  assert.throws(() => new Reply({}, { status: 404 }), /200 to 299/);
  assert.throws(() => new Reply({}, { status: 200.5 }), /200 to 299/);
  assert.throws(() => new Reply({}, { headers: { 'x-count': 3 } }), /x-count/);
  assert.throws(() => new Reply({}, { attributionExtra: [1] }), /plain object/);
});

test('an EndpointError with a declared code is the declared error, with its details', async () => {
  const { daemon } = await start({
    book: async (input) => {
      throw new EndpointError('room_unavailable', `room ${input.room_id} is taken`, { room_id: input.room_id });
    },
  });
  const response = await daemon.call('BOOK', '/rooms/102');
  assert.equal(response.status, 422);
  assert.deepEqual(response.error, { code: 'room_unavailable', message: 'room 102 is taken', details: { room_id: '102' } });
  assert.deepEqual(response.body, { error: response.error });
  await daemon.close();
});

test('an EndpointError with an undeclared code is logged and becomes 500 undeclared-error-code', async () => {
  const { daemon, logger } = await start({
    fail: async () => {
      throw new EndpointError('no_such_code', 'not in the list');
    },
  });
  const response = await daemon.call('FETCH', '/fail');
  assert.equal(response.status, 500);
  assert.equal(response.error.code, 'undeclared-error-code');
  assert.match(logger.lines.join('\n'), /warn: FETCH \/fail answered `no_such_code`, which it does not declare/);
  await daemon.close();
});

test('an EndpointError checks its arguments', () => {
  assert.throws(() => new EndpointError(''), /non-empty string/);
  assert.throws(() => new EndpointError('x', 'y', ['not', 'a', 'map']), /plain object/);
  const error = new EndpointError('booking_not_found');
  assert.equal(error.message, 'booking_not_found');
  assert.equal(error.details, undefined);
});

test('any other failure is handler_exception with the diagnosis, and the connection keeps serving', async () => {
  let calls = 0;
  const { daemon, logger } = await start({
    fail: async () => {
      calls += 1;
      if (calls === 1) throw new TypeError('the store is gone');
      if (calls === 2) throw 'a bare string';
      return { fine: true };
    },
  });
  const first = await daemon.call('FETCH', '/fail');
  assert.equal(first.status, 500);
  assert.equal(first.error.code, 'handler-exception');
  assert.doesNotMatch(first.error.message, /store/, 'the agent never sees the diagnosis');
  assert.equal(first.exception.code, 'handler_exception');
  assert.equal(first.exception.message, 'the store is gone');
  assert.equal(first.exception.details.exception, 'TypeError');
  assert.match(first.exception.details.stack, /TypeError: the store is gone/);
  const second = await daemon.call('FETCH', '/fail');
  assert.equal(second.exception.message, 'a bare string');
  assert.equal(second.exception.details.exception, 'string');
  const third = await daemon.call('FETCH', '/fail');
  assert.deepEqual(third.body, { fine: true });
  assert.equal(daemon.hellos.length, 1, 'one connection served all three');
  assert.match(logger.lines.join('\n'), /error: the handler of FETCH \/fail failed/);
  await daemon.close();
});

test('the context carries the identity, scopes, ids, headers, parameters and trust of the call', async () => {
  let seen;
  const { daemon } = await start({
    echo: async (input, ctx) => {
      seen = ctx;
      return {};
    },
  });
  await daemon.call(
    'QUERY',
    '/echo/caf%C3%A9?lang=fr',
    { extra: 1 },
    {
      agentId: 'agent-7',
      principalId: 'principal-3',
      agentScopes: ['bookings:read'],
      authorityScopes: ['bookings:read'],
      sessionId: 'sess-1',
      taskId: 'task-1',
      requestId: 'req-visible',
      headers: { 'X-Custom': 'yes', Traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'v=1' },
      agentVerified: true,
      agentCertFingerprint: 'ab12',
      agentCertExtensions: { 'principal-id': 'principal-3' },
    },
  );
  assert.ok(seen instanceof Context);
  assert.equal(seen.agentId, 'agent-7');
  assert.equal(seen.principalId, 'principal-3');
  assert.deepEqual(seen.agentScopes, ['bookings:read']);
  assert.deepEqual(seen.authorityScopes, ['bookings:read']);
  assert.equal(seen.sessionId, 'sess-1');
  assert.equal(seen.taskId, 'task-1');
  assert.equal(seen.requestId, 'req-visible');
  assert.match(seen.gatewayRequestId, /^t-\d+$/);
  assert.equal(seen.method, 'QUERY');
  assert.equal(seen.path, '/echo/caf%C3%A9');
  assert.deepEqual({ ...seen.params }, { name: 'café' });
  assert.deepEqual(seen.endpoint, { method: 'QUERY', path: '/echo/{name}', handlerReference: 'echo', errors: [] });
  assert.equal(seen.headers['x-custom'], 'yes');
  assert.equal(seen.agentVerified, true);
  assert.equal(seen.agentCertFingerprint, 'ab12');
  assert.deepEqual(seen.agentCertExtensions, { 'principal-id': 'principal-3' });
  assert.deepEqual(seen.trust, { verified: true, agentId: 'agent-7', agentCertFingerprint: 'ab12', method: 'agent_cert_mtls' });
  assert.equal(seen.deadlineMs <= 30_000 && seen.deadlineMs > 29_000, true);
  assert.equal(seen.envelope.input.lang, 'fr', 'query parameters are merged into the input, as agtpd does');
  assert.equal(seen.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  assert.equal(seen.tracestate, 'v=1');
  await daemon.close();
});

test('a child traceparent keeps the trace id and flags with a new span; without one a new trace starts', async () => {
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
  const children = [];
  const { daemon } = await start({
    echo: async (input, ctx) => {
      children.push([ctx.traceparent, ctx.childTraceparent(), ctx.childTraceparent()]);
      return {};
    },
  });
  await daemon.call('QUERY', '/echo/a', {}, { headers: { traceparent: parent } });
  await daemon.call('QUERY', '/echo/b');
  await daemon.call('QUERY', '/echo/c', {}, { headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' } });
  const [[seen, one, two], [none, root], [invalid, fresh]] = children;
  assert.equal(seen, parent);
  for (const child of [one, two]) {
    assert.match(child, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
    assert.notEqual(child.split('-')[2], '00f067aa0ba902b7');
  }
  assert.notEqual(one, two);
  assert.equal(none, null);
  assert.match(root, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(invalid, null, 'an all-zero trace id is not valid trace context');
  assert.doesNotMatch(fresh, /^00-0{32}/);
  await daemon.close();
});

test('the signal aborts with a TimeoutError when the deadline passes, and timeLeft counts down to it', async () => {
  let reason;
  let left;
  const { daemon } = await start({
    slow: async (input, ctx) => {
      left = ctx.timeLeft();
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      reason = ctx.signal.reason;
      return { late: true };
    },
  });
  const started = Date.now();
  const response = await daemon.call('FETCH', '/slow', {}, { deadlineMs: 300 });
  assert.equal(response.status, 504);
  assert.equal(response.error.code, 'handler-timeout');
  assert.ok(left > 200 && left <= 300, `timeLeft() was ${left}`);
  await eventually(() => reason !== undefined);
  assert.equal(reason.name, 'TimeoutError');
  assert.ok(Date.now() - started >= 290);
  await daemon.close();
});

test('a handler that gives up on its aborted signal is not reported as a failure', async () => {
  const { daemon, logger } = await start({
    slow: async (input, ctx) => {
      await sleep(10_000, undefined, { signal: ctx.signal });
      return {};
    },
  });
  const response = await daemon.call('FETCH', '/slow', {}, { deadlineMs: 200 });
  assert.equal(response.status, 504);
  await eventually(() => logger.lines.some((line) => line.includes('stopped on cancellation')));
  assert.equal(logger.lines.filter((line) => line.startsWith('error:')).length, 0);
  await daemon.close();
});

test('bodies are sent as JSON would render them: dates become strings, undefined fields disappear', async () => {
  const { daemon } = await start({
    echo: async () => ({ at: new Date(Date.UTC(2031, 4, 1)), gone: undefined, list: [1, 'two'] }),
  });
  const response = await daemon.call('QUERY', '/echo/x');
  assert.deepEqual(response.body, { at: '2031-05-01T00:00:00.000Z', list: [1, 'two'] });
  await daemon.close();
});

test('a body that cannot be encoded is handler_exception, not a broken connection', async () => {
  const cyclic = { name: 'loop' };
  cyclic.self = cyclic;
  let n = 0;
  const bodies = [{ big: 10n }, cyclic, JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`)];
  const { daemon } = await start({ echo: async () => bodies[n++] });
  const messages = [];
  for (let i = 0; i < bodies.length; i++) {
    const response = await daemon.call('QUERY', '/echo/x');
    assert.equal(response.status, 500);
    messages.push(response.exception.message);
  }
  assert.match(messages[0], /BigInt/);
  assert.match(messages[1], /circular/);
  assert.match(messages[2], /deeper than 126 levels/);
  assert.equal(daemon.hellos.length, 1);
  await daemon.close();
});

test('handlers run one at a time per connection unless multiplexing is granted', async () => {
  let running = 0;
  let most = 0;
  const { daemon } = await start({
    slow: async () => {
      running += 1;
      most = Math.max(most, running);
      await sleep(20);
      running -= 1;
      return {};
    },
  });
  const responses = await Promise.all([1, 2, 3, 4].map(() => daemon.call('FETCH', '/slow')));
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 200, 200, 200],
  );
  assert.equal(most, 1);
  await daemon.close();
});

test('handlers can be bound after construction, chained, and not twice', () => {
  const app = new Runtime({ name: 'binding-test' });
  assert.equal(app.handler('a', () => 1).route('query', '/x/{id}', () => 2), app);
  assert.throws(() => app.handler('a', () => 3), /already bound/);
  assert.throws(() => app.route('QUERY', '/x/{other}', () => 4), /already bound/, 'parameter names do not make a new route');
  assert.throws(() => app.handler('b', 'not a function'), /must be a function/);
  assert.throws(() => app.route('QUERY', 'no-slash', () => 5), /start with/);
  assert.ok(Runtime.isRuntime(app));
  assert.equal(Runtime.isRuntime({}), false);
});
