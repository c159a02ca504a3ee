'use strict';

// `agtp-runtime/testing`: a daemon in the test's own process. It listens on a Unix socket in
// a temporary directory, lets the Runtime under test connect to it through `listen()`, and
// plays agtpd's side of the protocol, so every call goes through the real framing,
// handshake, registration and dispatch code.

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { Router, Template } = require('./routes');
const { DaemonPeer } = require('./peer');
const { PROTOCOL_VERSION } = require('./frames');

const HANDSHAKE_TIMEOUT_MS = 5000;
const DEFAULT_DEADLINE_MS = 30_000;
const MAX_IN_FLIGHT_LIMIT = 4096;
const DEFAULT_AGENT = 'test-agent';

// RFC 8785 serialisation for the JSON values of a registration (no -0, no NaN there).
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function label(method, template) {
  return `${method} ${template}`;
}

// The endpoint entries of `register`, from the test's short form.
function registration(endpoints) {
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new TypeError('TestDaemon: `endpoints` must list at least one endpoint');
  }
  const schemas = {};
  const specs = endpoints.map((endpoint, i) => {
    const { method, path: template } = endpoint;
    if (typeof method !== 'string' || typeof template !== 'string' || !template.startsWith('/')) {
      throw new TypeError(`TestDaemon: endpoint ${i} needs a \`method\` and a \`path\` starting with /`);
    }
    const upper = method.toUpperCase();
    schemas[`input-${i}`] = endpoint.inputSchema ?? {};
    schemas[`output-${i}`] = endpoint.outputSchema ?? {};
    const spec = {
      method: upper,
      path: template,
      handler_reference: endpoint.handlerReference ?? `test:${label(upper, template)}`,
      input_schema_ref: `#/schemas/input-${i}`,
      output_schema_ref: `#/schemas/output-${i}`,
      errors: [...(endpoint.errors ?? [])],
    };
    if (endpoint.requiredScopes !== undefined) spec.required_scopes = [...endpoint.requiredScopes];
    return spec;
  });
  const digest = crypto.createHash('sha256').update(canonicalJson({ endpoints: specs, schemas }), 'utf8').digest('hex');
  return { specs, schemas, hash: `sha256:${digest}` };
}

function problem(status, code, message, extra = {}) {
  return {
    status,
    headers: {},
    body: { error: { code, message } },
    error: { code, message },
    attributionExtra: null,
    ...extra,
  };
}

// What the agent would get for the runtime's answer, as agtpd translates it (§12).
function translate(frame, spec) {
  const where = label(spec.method, spec.path);
  if (frame.type === 'error') {
    const exception = { code: frame.code, message: frame.message, details: frame.details ?? null };
    if (frame.code === 'handler_timeout') {
      return problem(504, 'handler-timeout', `the handler of \`${where}\` did not answer in time`, { exception });
    }
    return problem(500, 'handler-exception', `the handler of \`${where}\` failed; the operator's log has the detail`, {
      exception,
    });
  }
  const envelope = frame.envelope;
  const declared = envelope.endpoint_error;
  if (declared !== undefined && declared !== null) {
    if (!spec.errors.includes(declared.code)) {
      return problem(500, 'undeclared-error-code', `the handler of \`${where}\` answered with an undeclared error`, {
        undeclared: declared,
      });
    }
    const error = { code: declared.code, message: declared.message };
    if (declared.details !== undefined) error.details = declared.details;
    return { status: 422, headers: {}, body: { error }, error, attributionExtra: null };
  }
  return {
    status: envelope.status ?? 200,
    headers: envelope.headers ?? {},
    body: envelope.body ?? null,
    error: null,
    attributionExtra: envelope.attribution_extra ?? null,
  };
}

// The request's input as agtpd builds it: query parameters, then the body, then the path
// parameters, each overriding the one before. Without schemas, values stay strings.
function buildInput(requestPath, params, input) {
  const merged = {};
  const query = requestPath.indexOf('?');
  if (query >= 0) {
    for (const [name, value] of new URLSearchParams(requestPath.slice(query + 1))) merged[name] = value;
  }
  Object.assign(merged, input ?? {}, params);
  return merged;
}

class TestDaemon {
  #runtime;
  #options;
  #dir;
  #socketPath;
  #server;
  #listening = null;
  #registration;
  #router;
  #keys = null;
  #peers = new Set();
  #queue = [];
  #nextRequest = 0;
  #nextCall = 0;
  #nextNonce = 0;
  #pings = new Map();
  #registeredWaiters = [];
  #refusal = null;
  #closed = false;

  // Starts a daemon, has `runtime` connect to it, and resolves once every connection of
  // the runtime is registered. Rejects when the runtime refuses the registration.
  static async start(runtime, options = {}) {
    const daemon = new TestDaemon(runtime, options);
    try {
      await daemon.#start();
    } catch (error) {
      await daemon.close();
      throw error;
    }
    return daemon;
  }

  constructor(runtime, options) {
    this.#runtime = runtime;
    this.#options = options;
    this.#registration = registration(options.endpoints);
    this.#router = new Router(
      this.#registration.specs.map((spec) => ({ method: spec.method, template: new Template(spec.path), spec })),
    );
    if (options.signing) this.#keys = crypto.generateKeyPairSync('ed25519');
    // Every `hello` the runtime sent, in order.
    this.hellos = [];
  }

  get socketPath() {
    return this.#socketPath;
  }

  get manifestHash() {
    return this.#registration.hash;
  }

  // The Ed25519 public key that verifies `ctx.sign()` signatures (with `signing: true`).
  get publicKey() {
    return this.#keys?.publicKey ?? null;
  }

  // The runtime's Server, as `listen()` returned it.
  get server() {
    return this.#listening;
  }

  // How many registered connections the runtime has open.
  get connections() {
    return this.#peers.size;
  }

  async #start() {
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agtp-test-'));
    this.#socketPath = path.join(this.#dir, 'gateway.sock');
    this.#server = net.createServer((socket) => this.#accept(socket));
    await new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#socketPath, resolve);
    });
    const connections = this.#options.connections ?? 1;
    this.#listening = this.#runtime.listen({
      socket: this.#socketPath,
      pool: this.#options.pool ?? 'default',
      connections,
      maxInFlight: this.#options.maxInFlight ?? 64,
      encoding: this.#options.encoding ?? 'auto',
      keepaliveMs: this.#options.keepaliveMs,
      argv: [],
      env: {},
      signals: false,
      exit: false,
    });
    await this.#registered(connections);
  }

  // Resolves once `count` connections are registered (counting those open now).
  #registered(count) {
    return new Promise((resolve, reject) => {
      const waiter = { count, resolve, reject };
      this.#registeredWaiters.push(waiter);
      this.#listening.closed.then((code) =>
        reject(this.#refusal ?? new Error(`the runtime stopped (exit status ${code}) before it registered`)),
      );
      this.#checkRegistered();
    });
  }

  #checkRegistered() {
    this.#registeredWaiters = this.#registeredWaiters.filter((waiter) => {
      if (this.#peers.size < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  // Calls `method path` as an agent would and resolves with what the agent would get:
  // `{ status, headers, body, error, attributionExtra }`, plus `exception` (the diagnosis
  // agtpd logs) for a handler failure.
  call(method, requestPath, input = {}, options = {}) {
    const upper = String(method).toUpperCase();
    const bare = requestPath.split('?')[0];
    const found = this.#router.route(upper, bare);
    if (found === null) return Promise.reject(new Error(`no endpoint of this test daemon serves ${upper} ${bare}`));
    if (this.#closed) return Promise.reject(new Error('the test daemon is closed'));
    const params = Object.fromEntries(Object.entries(found.params));
    const agentId = options.agentId ?? DEFAULT_AGENT;
    const headers = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = String(value);
    const envelope = {
      method: upper,
      path: bare,
      input: buildInput(requestPath, params, input),
      agent_id: agentId,
      principal_id: options.principalId ?? '',
      agent_scopes: options.agentScopes ?? [],
      authority_scope: options.authorityScopes ?? [],
      session_id: options.sessionId ?? headers['session-id'] ?? null,
      task_id: options.taskId ?? headers['task-id'] ?? null,
      request_id: options.requestId ?? headers['request-id'] ?? `req-${++this.#nextCall}`,
      headers,
      agent_verified: options.agentVerified ?? false,
      agent_cert_fingerprint: options.agentCertFingerprint ?? null,
      agent_cert_extensions: options.agentCertExtensions ?? {},
    };
    const trust = options.trust ?? {
      verified: agentId !== '',
      agent_id: agentId,
      agent_cert_fingerprint: envelope.agent_cert_fingerprint,
      method: envelope.agent_verified ? 'agent_cert_mtls' : 'agent_id_header',
    };
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    return new Promise((resolve) => {
      const call = { envelope, trust, spec: found.entry.spec, deadlineAt: Date.now() + deadlineMs, resolve, peer: null };
      call.timer = setTimeout(() => this.#expire(call), deadlineMs);
      this.#queue.push(call);
      this.#dispatch();
    });
  }

  // Sends `ping` on every registered connection; resolves with the slowest round trip (ms).
  async ping() {
    const rounds = [...this.#peers].map((live) => {
      const nonce = `t-${++this.#nextNonce}`;
      const sent = Date.now();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#pings.delete(nonce);
          reject(new Error(`no pong for ${nonce} within ${HANDSHAKE_TIMEOUT_MS} ms`));
        }, HANDSHAKE_TIMEOUT_MS);
        this.#pings.set(nonce, () => {
          clearTimeout(timer);
          resolve(Date.now() - sent);
        });
        live.peer.send({ type: 'ping', nonce });
      });
    });
    return Math.max(0, ...(await Promise.all(rounds)));
  }

  // Stops the runtime (it drains and says goodbye), then the daemon; resolves with the
  // runtime's exit status.
  async close() {
    const code = this.#listening === null ? null : await this.#listening.close();
    this.#closed = true;
    for (const live of this.#peers) live.peer.destroy();
    for (const call of this.#queue.splice(0)) this.#settle(call, problem(503, 'runtime-unavailable', 'the test daemon closed'));
    if (this.#server?.listening) await new Promise((resolve) => this.#server.close(resolve));
    if (this.#dir !== undefined) fs.rmSync(this.#dir, { recursive: true, force: true });
    return code;
  }

  async #accept(socket) {
    const peer = new DaemonPeer(socket);
    try {
      const live = await this.#handshake(peer);
      if (live !== null) await this.#serve(live);
    } catch {
      peer.destroy();
    }
  }

  // hello -> welcome -> register (or register_resume) -> register_ack; the live connection,
  // or null when it ended there.
  async #handshake(peer) {
    const hello = await peer.next(HANDSHAKE_TIMEOUT_MS);
    if (hello === null || hello.type !== 'hello') throw new Error('no hello');
    this.hellos.push(hello);
    if (!hello.gateway_versions.includes(PROTOCOL_VERSION)) {
      peer.send({ type: 'error', code: 'gateway_version_unsupported', message: `this daemon speaks ${PROTOCOL_VERSION}` });
      peer.end();
      return null;
    }
    const claimed = new Set(hello.capabilities ?? []);
    const granted = ['registered_function'];
    if (this.#keys !== null && claimed.has('sign_request')) granted.push('sign_request');
    const welcome = { type: 'welcome', gateway_version: PROTOCOL_VERSION, daemon: { version: 'test', server_id: 'test-daemon' } };
    let limit = 1;
    const grant = this.#options.multiplex ?? false;
    if (grant !== false && claimed.has('multiplex') && Number.isInteger(hello.max_in_flight) && hello.max_in_flight >= 1) {
      limit = Math.min(hello.max_in_flight, grant === true ? MAX_IN_FLIGHT_LIMIT : grant);
      granted.push('multiplex');
      welcome.max_in_flight = limit;
    }
    welcome.capabilities = granted;
    const { specs, schemas, hash } = this.#registration;
    const offer =
      hello.cached_manifest_hash === hash
        ? { type: 'register_resume', manifest_hash: hash }
        : { type: 'register', manifest_hash: hash, endpoints: specs, schemas };
    peer.send(welcome, offer);
    const ack = await peer.next(HANDSHAKE_TIMEOUT_MS);
    if (ack === null || ack.type !== 'register_ack') throw new Error('no register_ack');
    if (!ack.ok) {
      const reasons = (ack.errors ?? []).map((e) => `${e.endpoint}: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`);
      this.#refusal = new Error(`the runtime refused the registration: ${reasons.join('; ')}`);
      this.#refusal.errors = ack.errors ?? [];
      peer.end();
      return null;
    }
    return {
      peer,
      limit,
      multiplexed: welcome.max_in_flight !== undefined,
      inFlight: new Map(),
      abandoned: new Set(),
      // Set by a goodbye from the runtime, or when this daemon closes the connection.
      retiring: false,
    };
  }

  async #serve(live) {
    this.#peers.add(live);
    this.#checkRegistered();
    this.#dispatch();
    try {
      for (;;) {
        const frame = await live.peer.next(Infinity);
        if (frame === null) break;
        this.#onFrame(live, frame);
      }
    } finally {
      this.#peers.delete(live);
      for (const call of live.inFlight.values()) {
        this.#settle(call, problem(503, 'runtime-failed', 'the runtime failed before answering'));
      }
      this.#dispatch();
    }
  }

  #onFrame(live, frame) {
    switch (frame.type) {
      case 'response':
      case 'error': {
        const id = frame.request_id;
        if (id === undefined || id === null) {
          live.peer.destroy();
          return;
        }
        const call = live.inFlight.get(id);
        if (call !== undefined && Date.now() >= call.deadlineAt) {
          // An answer that lost the race with the deadline's timer: late, as in agtpd.
          this.#expire(call);
          live.abandoned.delete(id);
        } else if (call !== undefined) {
          live.inFlight.delete(id);
          this.#settle(call, translate(frame, call.spec));
        } else if (!live.abandoned.delete(id)) {
          live.peer.send({ type: 'error', code: 'request_id_mismatch', message: `no request \`${id}\` is in flight` });
          live.peer.end();
          return;
        }
        break;
      }
      case 'ping':
        live.peer.send({ type: 'pong', nonce: frame.nonce });
        break;
      case 'pong':
        this.#pings.get(frame.nonce)?.();
        this.#pings.delete(frame.nonce);
        break;
      case 'goodbye':
        live.retiring = true;
        break;
      case 'sign_request':
        live.peer.send(this.#sign(frame));
        break;
      default:
        live.peer.send({ type: 'error', code: 'phase_violation', message: `\`${frame.type}\` while serving` });
        live.peer.end();
        return;
    }
    if (live.retiring && live.inFlight.size === 0 && live.abandoned.size === 0) live.peer.end();
    this.#dispatch();
  }

  #sign(frame) {
    if (this.#keys === null) {
      return { type: 'sign_error', operation_id: frame.operation_id, code: 'signing_unavailable', message: 'no signing key' };
    }
    const data = Buffer.from(frame.data_b64, 'base64url');
    const signature = crypto.sign(null, data, this.#keys.privateKey);
    return {
      type: 'sign_response',
      operation_id: frame.operation_id,
      kid: 'test-key',
      alg: 'Ed25519',
      signature_b64: signature.toString('base64url'),
    };
  }

  // Sends queued calls to connections with room, least loaded first; the requests for one
  // connection leave in one write, as agtpd writes them.
  #dispatch() {
    const batches = new Map();
    while (this.#queue.length > 0) {
      let best = null;
      for (const live of this.#peers) {
        const load = live.inFlight.size + live.abandoned.size;
        if (live.retiring || live.peer.isClosed || load >= live.limit) continue;
        if (best === null || load < best.inFlight.size + best.abandoned.size) best = live;
      }
      if (best === null) break;
      const call = this.#queue.shift();
      const id = `t-${++this.#nextRequest}`;
      call.id = id;
      call.peer = best;
      best.inFlight.set(id, call);
      const frame = {
        type: 'request',
        request_id: id,
        envelope: call.envelope,
        trust: call.trust,
        deadline_ms: Math.max(0, call.deadlineAt - Date.now()),
      };
      if (!batches.has(best)) batches.set(best, []);
      batches.get(best).push(frame);
    }
    for (const [live, frames] of batches) live.peer.send(...frames);
  }

  // The deadline passed: 504 for the agent and `handler_timeout` for the runtime; one
  // request at a time, the connection is closed too (§8.4), multiplexed it stays (§8.6).
  #expire(call) {
    if (call.peer === null) {
      this.#queue.splice(this.#queue.indexOf(call), 1);
      this.#settle(call, problem(503, 'runtime-busy', 'no connection of the runtime had room in time'));
      return;
    }
    const live = call.peer;
    live.inFlight.delete(call.id);
    this.#settle(call, problem(504, 'handler-timeout', `the handler of \`${label(call.spec.method, call.spec.path)}\` did not answer in time`));
    live.peer.send({ type: 'error', request_id: call.id, code: 'handler_timeout', message: 'the deadline passed' });
    if (live.multiplexed) {
      live.abandoned.add(call.id);
    } else {
      live.retiring = true;
      live.peer.end();
    }
  }

  #settle(call, response) {
    clearTimeout(call.timer);
    call.resolve(response);
  }
}

module.exports = { TestDaemon };
