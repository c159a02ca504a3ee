#!/usr/bin/env node
// An agtpd runtime in one file of dependency-free Node.js (20 or later).
//
// agtpd checks every AGTP call (agent, scopes, input schema) and then forwards it over a
// Unix socket, "the gateway", to runtime processes such as this one. This file speaks that
// protocol (runtime-protocol/PROTOCOL.md, version 1.0, JSON encoding); `handlers.js` beside
// it is the service. Read it top to bottom:
//
//   1. settings     where the socket is, which pool to join, how many connections to open;
//   2. framing      a 4-byte big-endian length, then one JSON object;
//   3. handlers     the interface a handler sees: `Context` in, an object or `EndpointError` out;
//   4. routing      registered endpoints bound to handler functions;
//   5. connection   hello -> welcome -> register -> register_ack, then requests one at a time;
//   6. runtime      N connections, reconnection with backoff, SIGTERM.
//
// Run it (agtpd must be listening on the socket):
//
//     AGTP_GATEWAY_SOCKET=/run/agtpd/gateway.sock node runtime.js [--handlers FILE]
'use strict';

const net = require('node:net');
const path = require('node:path');

const PROTOCOL_VERSION = '1.0';
// The daemon's default frame limit (PROTOCOL.md §2); checked before a payload is buffered.
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
// How long the daemon may take to answer `hello` and to send its registration.
const HANDSHAKE_TIMEOUT_MS = 30_000;
// Reconnection delays after an unexpected close (PROTOCOL.md §10); the last one repeats.
const BACKOFF_MS = [1000, 2000, 4000, 8000, 16000, 30000];
const EXIT_USAGE = 64;

function log(...words) {
  console.error(new Date().toISOString(), 'runtime:', ...words);
}

// --- 1. settings ---------------------------------------------------------------------------

class UsageError extends Error {}

function readSettings(argv, env) {
  const settings = {
    socketPath: env.AGTP_GATEWAY_SOCKET || '',
    pool: env.AGTP_POOL || 'default',
    handlersFile: path.join(__dirname, 'handlers.js'),
  };
  const args = [...argv];
  while (args.length > 0) {
    const flag = args.shift();
    if (flag === '--gateway-socket' && args.length > 0) settings.socketPath = args.shift();
    else if (flag === '--handlers' && args.length > 0) settings.handlersFile = path.resolve(args.shift());
    else throw new UsageError(`unknown argument \`${flag}\``);
  }
  if (!settings.socketPath) throw new UsageError('set AGTP_GATEWAY_SOCKET or pass --gateway-socket PATH');
  const connections = env.AGTP_CONNECTIONS || '2';
  if (!/^[0-9]+$/.test(connections) || Number(connections) < 1) {
    throw new UsageError(`AGTP_CONNECTIONS must be a positive integer, not \`${connections}\``);
  }
  settings.connections = Number(connections);
  return settings;
}

// --- 2. framing ----------------------------------------------------------------------------

// The daemon sent something this runtime cannot accept; `code` is the `error` frame's code
// (PROTOCOL.md §11) this runtime answers with before closing.
class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function encodeFrame(frame) {
  const payload = Buffer.from(JSON.stringify(frame), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

// Collects bytes as they arrive and cuts them into frames.
class FrameReader {
  constructor() {
    this.buffer = Buffer.alloc(0);
  }

  // Adds `chunk` and returns every frame now complete; throws ProtocolError.
  push(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const frames = [];
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (length === 0) throw new ProtocolError('malformed_frame', 'zero-length frame');
      if (length > MAX_FRAME_BYTES) {
        throw new ProtocolError('frame_too_large', `${length}-byte frame exceeds ${MAX_FRAME_BYTES}`);
      }
      if (this.buffer.length < 4 + length) break;
      const payload = this.buffer.subarray(4, 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(4 + length);
      let frame;
      try {
        frame = JSON.parse(payload);
      } catch (error) {
        throw new ProtocolError('malformed_frame', `payload is not JSON: ${error.message}`);
      }
      if (frame === null || typeof frame !== 'object' || Array.isArray(frame) || typeof frame.type !== 'string') {
        throw new ProtocolError('malformed_frame', 'payload is not an object with a string `type`');
      }
      frames.push(frame);
    }
    return frames;
  }
}

// --- 3. the handler interface --------------------------------------------------------------

// Throw from a handler to answer with one of the endpoint's declared errors; the agent gets
// 422 with this code. Anything else thrown becomes `handler_exception` (a 500 whose detail
// only the daemon's log sees).
class EndpointError extends Error {
  constructor(code, message, details) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

// Everything about a call besides its input: who calls, and until when.
class Context {
  constructor(request, receivedAt) {
    const envelope = request.envelope;
    this.requestId = request.request_id;
    this.method = envelope.method;
    this.path = envelope.path;
    this.agentId = envelope.agent_id || '';
    this.principalId = envelope.principal_id || '';
    this.sessionId = envelope.session_id ?? null;
    this.headers = envelope.headers || {};
    this.trust = request.trust ?? null;
    this.envelope = envelope;
    // `deadline_ms` counts from when this runtime read the frame (PROTOCOL.md §8.4).
    this.deadline = receivedAt + (request.deadline_ms ?? 30_000);
  }

  // Milliseconds until the daemon gives up on this call (never negative).
  timeLeft() {
    return Math.max(0, this.deadline - Date.now());
  }
}

// --- 4. routing ----------------------------------------------------------------------------

// One registered endpoint, bound to the function that serves it.
class Endpoint {
  constructor(spec, handler) {
    this.method = spec.method;
    this.path = spec.path;
    this.key = `${spec.method} ${spec.path}`;
    this.handler = handler;
    this.segments = trimSlashes(spec.path).split('/');
  }

  matches(method, requestPath) {
    const parts = trimSlashes(requestPath).split('/');
    if (method !== this.method || parts.length !== this.segments.length) return false;
    return this.segments.every((s, i) => s.startsWith('{') || s === parts[i]);
  }

  // Compares precedence: a literal segment beats a `{param}` at the same position, so
  // `/rooms/availability` wins over `/rooms/{room_id}` for the same method.
  beats(other) {
    for (let i = 0; i < this.segments.length; i++) {
      const mine = !this.segments[i].startsWith('{');
      const theirs = !other.segments[i].startsWith('{');
      if (mine !== theirs) return mine;
    }
    return false;
  }
}

function trimSlashes(p) {
  return p.replace(/^\/+|\/+$/g, '');
}

// Binds each endpoint to `handlers[handler_reference]`. A failure is a `register_ack.errors`
// entry (PROTOCOL.md §7.2).
function bind(specs, handlers) {
  const endpoints = [];
  const failures = [];
  for (const spec of specs) {
    const handler = Object.hasOwn(handlers, spec.handler_reference) ? handlers[spec.handler_reference] : null;
    if (typeof handler === 'function') {
      endpoints.push(new Endpoint(spec, handler));
    } else {
      failures.push({
        endpoint: `${spec.method} ${spec.path}`,
        reason: 'handler_not_found',
        detail: `no handler named \`${spec.handler_reference}\` in this runtime`,
      });
    }
  }
  return { endpoints, failures };
}

function route(endpoints, method, requestPath) {
  let best = null;
  for (const endpoint of endpoints) {
    if (endpoint.matches(method, requestPath) && (best === null || endpoint.beats(best))) best = endpoint;
  }
  return best;
}

// --- 5. one connection ---------------------------------------------------------------------

// An operator has to fix something (refused registration, unsupported version); the runtime
// exits non-zero instead of reconnecting.
class Fatal extends Error {}

// One socket to the daemon. `done` settles when it closes: with `{registered}`, or rejected
// with Fatal.
class Connection {
  constructor(runtime, socket) {
    this.runtime = runtime;
    this.socket = socket;
    this.reader = new FrameReader();
    this.phase = 'handshake'; // handshake -> registration -> serving
    this.inFlight = null; // request_id of the request being handled
    this.draining = false;
    this.registered = false;
    this.fatal = null;
    this.done = new Promise((resolve, reject) => {
      socket.on('close', () => (this.fatal ? reject(this.fatal) : resolve({ registered: this.registered })));
    });
    socket.on('error', (error) => log('connection error:', error.message));
    socket.on('data', (chunk) => this.receive(chunk));
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => {
      log('the daemon did not complete the handshake in time');
      socket.destroy();
    });
  }

  send(frame) {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(frame));
  }

  close() {
    this.socket.destroy();
  }

  // Closes once the frames already written have left; a daemon that keeps its side open
  // gets a second to notice.
  closeAfterFlush() {
    this.socket.end();
    setTimeout(() => this.close(), 1000).unref();
  }

  start() {
    const hello = {
      type: 'hello',
      gateway_versions: [PROTOCOL_VERSION],
      module: {
        id: this.runtime.moduleId,
        version: this.runtime.moduleVersion,
        runtime: `node ${process.version}`,
        pid: process.pid,
        pool: this.runtime.settings.pool,
      },
      capabilities: ['registered_function'],
    };
    if (this.runtime.cache) hello.cached_manifest_hash = this.runtime.cache.manifestHash;
    this.send(hello);
  }

  receive(chunk) {
    try {
      for (const frame of this.reader.push(chunk)) this.onFrame(frame);
    } catch (error) {
      if (error instanceof ProtocolError) {
        log(`protocol error from the daemon: ${error.message} (${error.code})`);
        this.send({ type: 'error', code: error.code, message: error.message });
      } else if (error instanceof Fatal) {
        log(`${error.message}; exiting`);
        this.fatal = error;
      } else {
        log('connection failed:', error.stack);
      }
      this.closeAfterFlush();
    }
  }

  onFrame(frame) {
    if (frame.type === 'error' && (frame.request_id == null || this.phase !== 'serving')) {
      if (frame.code === 'gateway_version_unsupported') {
        throw new Fatal(`the daemon does not speak ${PROTOCOL_VERSION}: ${frame.message}`);
      }
      log(`the daemon closes the connection: ${frame.code}: ${frame.message}`);
      this.close();
      return;
    }
    if (this.phase === 'handshake' && frame.type === 'welcome') {
      log(`connected to ${frame.daemon?.version ?? 'the daemon'}`);
      this.phase = 'registration';
    } else if (this.phase === 'registration' && (frame.type === 'register' || frame.type === 'register_resume')) {
      this.register(frame);
    } else if (this.phase === 'serving') {
      this.serve(frame);
    } else {
      throw new ProtocolError('phase_violation', `\`${frame.type}\` during the ${this.phase}`);
    }
  }

  register(frame) {
    let manifestHash = frame.manifest_hash;
    let specs = frame.endpoints;
    if (frame.type === 'register_resume') {
      const cache = this.runtime.cache;
      if (!cache || cache.manifestHash !== frame.manifest_hash) {
        // We did not offer this hash; refuse without exiting: the next hello carries no
        // hash, so the daemon sends the full registration.
        this.runtime.cache = null;
        this.send({ type: 'register_ack', ok: false, errors: [{ endpoint: '*', reason: 'unknown_manifest', detail: 'register_resume for a manifest this runtime has not cached' }] });
        this.closeAfterFlush();
        return;
      }
      specs = cache.specs;
    }
    const { endpoints, failures } = bind(specs, this.runtime.handlers);
    if (failures.length > 0) {
      this.send({ type: 'register_ack', ok: false, errors: failures });
      for (const failure of failures) log(`cannot serve ${failure.endpoint}: ${failure.detail}`);
      throw new Fatal('the daemon registered endpoints this runtime has no handler for');
    }
    this.endpoints = endpoints;
    this.runtime.cache = { manifestHash, specs };
    this.send({ type: 'register_ack', ok: true, resolved: endpoints.map((e) => e.key) });
    this.phase = 'serving';
    this.registered = true;
    this.socket.setTimeout(0);
    log(`serving ${endpoints.length} endpoints (${frame.type === 'register' ? 'registered' : 'resumed'}, pool ${this.runtime.settings.pool})`);
    if (this.draining) this.goodbye(); // SIGTERM arrived during the handshake
  }

  serve(frame) {
    switch (frame.type) {
      case 'request':
        if (this.inFlight !== null || this.draining) {
          throw new ProtocolError('phase_violation', 'a request while another is in flight');
        }
        this.handle(frame);
        break;
      case 'ping':
        this.send({ type: 'pong', nonce: frame.nonce ?? '' });
        break;
      case 'pong':
        break;
      case 'goodbye':
        log(`the daemon said goodbye (${frame.reason ?? 'no reason'})`);
        this.drain();
        break;
      case 'error': // about one request, e.g. handler_timeout: give the call up
        log(`daemon error ${frame.code}: ${frame.message}`);
        if (frame.request_id === this.inFlight) this.inFlight = null;
        break;
      default:
        throw new ProtocolError('phase_violation', `\`${frame.type}\` while serving`);
    }
  }

  async handle(request) {
    const requestId = request.request_id;
    const receivedAt = Date.now();
    this.inFlight = requestId;
    const answer = await this.answer(request, receivedAt);
    if (this.inFlight !== requestId) return; // the daemon gave up on this call
    this.inFlight = null;
    if (Date.now() > receivedAt + (request.deadline_ms ?? 30_000)) {
      log(`request ${requestId} finished after its deadline; answer dropped`);
      return;
    }
    this.send(answer);
    if (this.draining) this.goodbye();
  }

  // Runs the handler and turns its outcome into a `response` or `error` frame.
  async answer(request, receivedAt) {
    const requestId = request.request_id;
    const { method, path: requestPath, input } = request.envelope;
    try {
      const endpoint = route(this.endpoints, method, requestPath);
      if (endpoint === null) throw new Error(`no endpoint bound for ${method} ${requestPath}`);
      const body = await endpoint.handler(input ?? {}, new Context(request, receivedAt));
      return { type: 'response', request_id: requestId, envelope: { body } };
    } catch (error) {
      if (error instanceof EndpointError) {
        const declared = { code: error.code, message: error.message };
        if (error.details !== undefined) declared.details = error.details;
        return { type: 'response', request_id: requestId, envelope: { endpoint_error: declared } };
      }
      log(`handler for ${method} ${requestPath} failed:`, error?.stack ?? error);
      return {
        type: 'error',
        request_id: requestId,
        code: 'handler_exception',
        message: String(error?.message ?? error),
        details: { exception: error?.name ?? typeof error },
      };
    }
  }

  // Starts nothing new; closes now if idle, else right after the answer in flight.
  drain() {
    this.draining = true;
    if (this.phase !== 'serving') this.close();
    else if (this.inFlight === null) this.goodbye();
  }

  goodbye() {
    if (this.socket.destroyed) return;
    this.socket.write(encodeFrame({ type: 'goodbye', reason: 'shutdown' }), () => this.close());
  }
}

// --- 6. the runtime ------------------------------------------------------------------------

class Runtime {
  constructor(settings, service) {
    this.settings = settings;
    this.handlers = service.HANDLERS;
    this.moduleId = service.MODULE_ID ?? 'node-runtime';
    this.moduleVersion = service.MODULE_VERSION ?? '0.0.0';
    this.stopping = false;
    this.connections = new Set();
    this.wakers = new Set();
    // The last registration applied, offered on reconnect as `hello.cached_manifest_hash`
    // so the daemon can answer `register_resume` (PROTOCOL.md §7.3).
    this.cache = null;
    this.exitCode = 0;
  }

  async run() {
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.stop('SIGINT'));
    const slots = [];
    for (let i = 0; i < this.settings.connections; i++) slots.push(this.keepConnected());
    await Promise.all(slots);
    return this.exitCode;
  }

  // Keeps one connection open: connects, serves, and reconnects after a close.
  async keepConnected() {
    let attempt = 0;
    let delay = 0;
    while (!this.stopping) {
      if (delay > 0) await this.sleep(delay);
      if (this.stopping) break;
      let connection;
      try {
        connection = await this.connect();
      } catch (error) {
        delay = BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)];
        log(`cannot connect to ${this.settings.socketPath}: ${error.message}; retrying in ${delay / 1000}s`);
        continue;
      }
      this.connections.add(connection);
      if (this.stopping) connection.drain();
      try {
        const { registered } = await connection.done;
        if (registered) attempt = 0; // a registered session restarts the backoff
      } catch (fatal) {
        this.exitCode = 1;
        this.stop();
      } finally {
        this.connections.delete(connection);
      }
      delay = BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)];
    }
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.settings.socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const connection = new Connection(this, socket);
        connection.start();
        resolve(connection);
      });
    });
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  // SIGTERM: finish the requests in flight, say goodbye, and exit.
  stop(signal) {
    if (signal) log(`${signal}: draining`);
    this.stopping = true;
    for (const wake of [...this.wakers]) wake();
    for (const connection of this.connections) connection.drain();
  }
}

async function main(argv) {
  let settings;
  try {
    settings = readSettings(argv, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`runtime.js: ${error.message}`);
    return EXIT_USAGE;
  }
  // Loaded here, not at the top: the handlers require this file for EndpointError.
  const service = require(settings.handlersFile);
  return new Runtime(settings, service).run();
}

module.exports = { EndpointError, Context };

if (require.main === module) {
  // process.exit, not a natural end: a handler abandoned at its deadline may still hold a
  // timer, and it must not keep the process alive.
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
