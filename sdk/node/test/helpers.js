'use strict';

// Shared by the tests: a bare gateway socket whose connections the test drives frame by
// frame (through lib/peer.js), and ways to start a runtime against it, in this process or
// as a child process.

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { DaemonPeer } = require('../lib/peer');
const { joinFrames } = require('../lib/framing');
const { payloadLength } = require('../lib/codec');

const BIN = path.join(__dirname, '..', 'bin', 'agtp-runtime.js');
const FIXTURES = path.join(__dirname, 'fixtures');

function endpoint(method, path_, handlerReference, errors = []) {
  return {
    method,
    path: path_,
    handler_reference: handlerReference,
    input_schema_ref: '#/schemas/any',
    output_schema_ref: '#/schemas/any',
    errors,
  };
}

const ENDPOINTS = [
  endpoint('QUERY', '/rooms/availability', 'booking.query_availability', ['invalid_dates']),
  endpoint('FETCH', '/bookings/{booking_id}', 'booking.fetch_booking', ['booking_not_found']),
];
const HASH = `sha256:${'ab'.repeat(32)}`;

function request(id, method, requestPath, input = {}, extra = {}) {
  return {
    type: 'request',
    request_id: id,
    envelope: {
      method,
      path: requestPath,
      input,
      agent_id: 'agent-1',
      principal_id: '',
      agent_scopes: [],
      authority_scope: [],
      session_id: null,
      task_id: null,
      request_id: `agent-${id}`,
      headers: {},
      agent_verified: false,
      agent_cert_fingerprint: null,
      agent_cert_extensions: {},
    },
    deadline_ms: 30_000,
    ...extra,
  };
}

// A logger that keeps what it is told, for assertions and quiet test output.
function recordingLogger() {
  const lines = [];
  const record = (level) => (message) => lines.push(`${level}: ${message}`);
  return { lines, info: record('info'), warn: record('warn'), error: record('error') };
}

// A Unix socket in a fresh directory; `accept()` resolves with the next connection.
async function gateway() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agtp-sdk-test-'));
  const socketPath = path.join(dir, 'gateway.sock');
  const arrivals = [];
  const waiters = [];
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const peer = new DaemonPeer(socket);
    peer.acceptedAt = Date.now();
    const waiter = waiters.shift();
    if (waiter) waiter(peer);
    else arrivals.push(peer);
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    accept(timeoutMs = 5000) {
      if (arrivals.length > 0) return Promise.resolve(arrivals.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(done), 1);
          reject(new Error(`no connection within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (peer) => {
          clearTimeout(timer);
          resolve(peer);
        };
        waiters.push(done);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Answers the `hello` of `peer` with `welcome` and a registration; resolves with both
// frames of the runtime.
async function handshake(peer, { capabilities = ['registered_function'], maxInFlight, endpoints = ENDPOINTS, resume = false } = {}) {
  const hello = await peer.next();
  const welcome = { type: 'welcome', gateway_version: '1.0', daemon: { version: 'test', server_id: 'test' }, capabilities };
  if (maxInFlight !== undefined) welcome.max_in_flight = maxInFlight;
  const offer = resume
    ? { type: 'register_resume', manifest_hash: HASH }
    : { type: 'register', manifest_hash: HASH, endpoints, schemas: { any: {} } };
  peer.send(welcome, offer);
  const ack = await peer.next();
  return { hello, ack };
}

// Starts `app` against `socketPath` in this process, without touching signals or exiting.
function listen(app, socketPath, options = {}) {
  return app.listen({ socket: socketPath, connections: 1, argv: [], env: {}, signals: false, exit: false, ...options });
}

// Starts the `agtp-runtime` runner (or, with `script`, another file) in a child process
// with node options `nodeArgs`; `exited` resolves with its exit status.
function spawnRunner(args, env = {}, { nodeArgs = [], script = BIN } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.output = '';
  child.stdout.on('data', (chunk) => (child.output += chunk));
  child.stderr.on('data', (chunk) => (child.output += chunk));
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return child;
}

// One frame holding `payload` (a string or bytes) as it is, valid or not.
function frameBytes(payload) {
  return joinFrames([payload], [payloadLength(payload)]);
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves once `test()` is true, checking every 10 ms; rejects after `timeoutMs`.
async function eventually(test, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > until) throw new Error('the condition did not become true in time');
    await delay(10);
  }
}

module.exports = {
  ENDPOINTS,
  HASH,
  FIXTURES,
  endpoint,
  request,
  recordingLogger,
  gateway,
  handshake,
  listen,
  spawnRunner,
  frameBytes,
  delay,
  eventually,
};
