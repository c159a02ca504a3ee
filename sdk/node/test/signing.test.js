'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Runtime, SigningError } = require('../lib/index');
const { TestDaemon } = require('../lib/testing');
const { endpoint, gateway, handshake, listen, recordingLogger, request } = require('./helpers');

const ENDPOINTS = [{ method: 'ATTEST', path: '/statements', handlerReference: 'attest' }];

function attestingApp(sign) {
  return new Runtime({ name: 'signing-test', logger: recordingLogger() }).handler('attest', async (input, ctx) => {
    try {
      const result = await sign(ctx, input);
      return { ok: true, ...result };
    } catch (error) {
      return { ok: false, name: error.name, code: error.code ?? null, message: error.message };
    }
  });
}

test('with sign_request granted, sign() returns an Ed25519 signature that verifies with the daemon key', async () => {
  const app = attestingApp(async (ctx, input) => {
    const { kid, alg, signature } = await ctx.sign(input.statement);
    return { kid, alg, signature: signature.toString('base64') };
  });
  const daemon = await TestDaemon.start(app, { endpoints: ENDPOINTS, signing: true });
  const response = await daemon.call('ATTEST', '/statements', { statement: 'room 101 is booked' });
  assert.equal(response.body.ok, true);
  assert.equal(response.body.kid, 'test-key');
  assert.equal(response.body.alg, 'Ed25519');
  const signature = Buffer.from(response.body.signature, 'base64');
  assert.equal(signature.length, 64);
  assert.ok(crypto.verify(null, Buffer.from('room 101 is booked'), daemon.publicKey, signature));
  await daemon.close();
});

test('signatures asked for together are asked for one at a time (§9)', async () => {
  const gw = await gateway();
  const app = attestingApp(async (ctx) => {
    const results = await Promise.all([ctx.sign('one'), ctx.sign('two')]);
    return { kids: results.map((r) => r.kid) };
  });
  const server = listen(app, gw.socketPath, { encoding: 'json' });
  const peer = await gw.accept();
  await handshake(peer, { capabilities: ['registered_function', 'sign_request'], endpoints: [endpoint('ATTEST', '/statements', 'attest')] });
  peer.send(request('r-1', 'ATTEST', '/statements'));
  const signature = Buffer.alloc(64, 7).toString('base64url');
  const answer = (ask, kid) => ({ type: 'sign_response', operation_id: ask.operation_id, kid, alg: 'Ed25519', signature_b64: signature });
  const first = await peer.next();
  assert.equal(Buffer.from(first.data_b64, 'base64url').toString(), 'one');
  await assert.rejects(peer.next(150), /no frame/, 'the second waits for the first answer');
  peer.send(answer(first, 'k1'));
  const second = await peer.next();
  assert.equal(Buffer.from(second.data_b64, 'base64url').toString(), 'two');
  assert.notEqual(second.operation_id, first.operation_id);
  peer.send(answer(second, 'k2'));
  assert.deepEqual((await peer.next()).envelope.body, { ok: true, kids: ['k1', 'k2'] });
  await server.close();
  await gw.close();
});

test('without the grant, sign() rejects with SigningError not_granted', async () => {
  const app = attestingApp((ctx) => ctx.sign('x'));
  const daemon = await TestDaemon.start(app, { endpoints: ENDPOINTS });
  const response = await daemon.call('ATTEST', '/statements');
  assert.deepEqual(
    [response.body.ok, response.body.name, response.body.code],
    [false, 'SigningError', 'not_granted'],
  );
  assert.match(response.body.message, /did not grant `sign_request`/);
  await daemon.close();
});

test('a sign_error from the daemon rejects with its code and message', async () => {
  const gw = await gateway();
  const server = listen(
    attestingApp((ctx) => ctx.sign('x')),
    gw.socketPath,
    { encoding: 'json' },
  );
  const peer = await gw.accept();
  await handshake(peer, { capabilities: ['registered_function', 'sign_request'], endpoints: [endpoint('ATTEST', '/statements', 'attest')] });
  peer.send(request('r-1', 'ATTEST', '/statements'));
  const ask = await peer.next();
  assert.equal(ask.type, 'sign_request');
  assert.equal(ask.request_id, 'r-1');
  assert.equal(Buffer.from(ask.data_b64, 'base64url').toString(), 'x');
  peer.send({ type: 'sign_error', operation_id: ask.operation_id, code: 'sign_failure', message: 'the key is locked' });
  const answer = await peer.next();
  assert.deepEqual(answer.envelope.body, { ok: false, name: 'SigningError', code: 'sign_failure', message: 'the key is locked' });
  await server.close();
  await gw.close();
});

test('sign() after the request was answered rejects with request_finished', async () => {
  let later;
  const app = new Runtime({ name: 'late-sign', logger: recordingLogger() }).handler('attest', (input, ctx) => {
    later = ctx;
    return {};
  });
  const daemon = await TestDaemon.start(app, { endpoints: ENDPOINTS, signing: true });
  await daemon.call('ATTEST', '/statements');
  await assert.rejects(later.sign('too late'), (error) => error instanceof SigningError && error.code === 'request_finished');
  await assert.rejects(later.sign(42), TypeError);
  await daemon.close();
});
