'use strict';

const net = require('node:net');
const { Connection } = require('./connection');
const { chooseCodec } = require('./codec');
const { resolveSettings } = require('./settings');
const { Template, Router } = require('./routes');
const { ConfigError } = require('./errors');
const { stderrLogger, checkLogger } = require('./log');

const BRAND = Symbol.for('agtp-runtime.Runtime');
// Reconnection delays after an unexpected close (§10); the last one repeats.
const BACKOFF_MS = [1000, 2000, 4000, 8000, 16000, 30000];
const READ_BUFFER_BYTES = 64 * 1024;
const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_USAGE = 64;

// A delay of `BACKOFF_MS[attempt]`, give or take 20%, so that runtimes restarted together do
// not reconnect in lockstep.
function backoff(attempt) {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

// `/a/{x}/b` and `/a/{y}/b` are one route: parameter names come from the endpoint file.
function routeKey(method, path) {
  const shape = new Template(path).segments.map((s) => (s.param === undefined ? s.literal : '{}'));
  return `${method} /${shape.join('/')}`;
}

function checkHandler(fn, what) {
  if (typeof fn !== 'function') throw new TypeError(`${what}: the handler must be a function`);
}

// The handlers of a service, and the way to serve them: `listen()`.
class Runtime {
  #name;
  #version;
  #logger;
  #byReference = new Map();
  #byRoute = new Map();

  constructor({ name = 'node-runtime', version = '0.0.0', handlers, logger } = {}) {
    if (typeof name !== 'string' || name === '') throw new TypeError('Runtime: `name` must be a non-empty string');
    if (typeof version !== 'string' || version === '') throw new TypeError('Runtime: `version` must be a non-empty string');
    this.#name = name;
    this.#version = version;
    this.#logger = checkLogger(logger ?? stderrLogger(name));
    for (const [reference, fn] of Object.entries(handlers ?? {})) this.handler(reference, fn);
  }

  get [BRAND]() {
    return true;
  }

  // Whether `value` is a Runtime, even one made by another copy of this package.
  static isRuntime(value) {
    return value !== null && typeof value === 'object' && value[BRAND] === true;
  }

  get name() {
    return this.#name;
  }

  get version() {
    return this.#version;
  }

  // Binds `fn` to the endpoints whose `[endpoint.handler] function` is `reference`.
  handler(reference, fn) {
    if (typeof reference !== 'string' || reference === '') {
      throw new TypeError('handler(reference, fn): `reference` must be a non-empty string');
    }
    checkHandler(fn, `handler('${reference}')`);
    if (this.#byReference.has(reference)) throw new Error(`a handler for \`${reference}\` is already bound`);
    this.#byReference.set(reference, fn);
    return this;
  }

  // Binds `fn` to the endpoint `method path` (a template such as `/rooms/{room_id}`), for
  // endpoints whose handler reference names no handler.
  route(method, path, fn) {
    if (typeof method !== 'string' || !/^[A-Za-z]+$/.test(method)) {
      throw new TypeError('route(method, path, fn): `method` must be a verb such as QUERY');
    }
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new TypeError('route(method, path, fn): `path` must start with `/`');
    }
    const key = routeKey(method.toUpperCase(), path);
    checkHandler(fn, `route('${key}')`);
    if (this.#byRoute.has(key)) throw new Error(`a handler for \`${key}\` is already bound`);
    this.#byRoute.set(key, fn);
    return this;
  }

  // Connects to the daemon and serves until stopped; returns the Server at once.
  listen(options = {}) {
    const exit = options.exit ?? true;
    let settings;
    let codec;
    try {
      settings = resolveSettings(options);
      codec = chooseCodec(settings.encoding);
    } catch (error) {
      if (exit && error instanceof ConfigError) {
        this.#logger.error(error.message);
        process.exit(EXIT_USAGE);
      }
      throw error;
    }
    return new Server({
      settings,
      codec,
      module: { id: this.#name, version: this.#version },
      bind: (endpoints) => this.#bind(endpoints),
      logger: this.#logger,
      signals: options.signals ?? true,
      exit,
    });
  }

  // The handlers for a registration: `{ router, resolved, failures: [] }`, or `{ failures }`
  // naming each endpoint without one (§7.2).
  #bind(endpoints) {
    const entries = [];
    const failures = [];
    for (const spec of endpoints) {
      const key = `${spec.method} ${spec.path}`;
      const handler = this.#byReference.get(spec.handler_reference) ?? this.#byRoute.get(routeKey(spec.method, spec.path));
      if (handler === undefined) {
        failures.push({
          endpoint: key,
          reason: 'handler_not_found',
          detail: `no handler is bound to \`${spec.handler_reference}\`, nor a route to ${key}`,
        });
        continue;
      }
      entries.push({
        method: spec.method,
        template: new Template(spec.path),
        handler,
        declared: new Set(spec.errors),
        info: Object.freeze({
          method: spec.method,
          path: spec.path,
          handlerReference: spec.handler_reference,
          errors: Object.freeze([...spec.errors]),
        }),
      });
    }
    if (failures.length > 0) return { failures };
    return { router: new Router(entries), resolved: entries.map((e) => `${e.method} ${e.info.path}`), failures };
  }
}

// A listening runtime: `AGTP_CONNECTIONS` connections, each kept open (reconnecting with
// backoff) until `close()`, a signal, or a registration it cannot serve.
class Server {
  #settings;
  #logger;
  #exit;
  #options;
  #connections = new Set();
  #sleepers = new Set();
  #readyWaiters = [];
  #stopping = false;
  #finished = false;
  #registeredOnce = false;
  #exitCode = EXIT_OK;
  #cache = null;
  #signalHandler = null;

  constructor(options) {
    this.#options = options;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#exit = options.exit;
    if (options.signals) this.#installSignals();
    const slots = [];
    for (let i = 0; i < this.#settings.connections; i++) slots.push(this.#keepConnected());
    // Settles with the exit status: 0 after close() or a signal, 1 after a fatal error.
    this.closed = Promise.all(slots).then(() => this.#finish());
  }

  get settings() {
    return { ...this.#settings };
  }

  // Resolves once a connection is registered; rejects if the server stops before that.
  ready() {
    if (this.#registeredOnce) return Promise.resolve();
    if (this.#finished || this.#stopping) return Promise.reject(new Error('the runtime stopped before it registered'));
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  // Stops taking work, lets every connection finish what is in flight and say goodbye, and
  // resolves with the exit status.
  close() {
    this.#stop(EXIT_OK);
    return this.closed;
  }

  #stop(code) {
    this.#exitCode = Math.max(this.#exitCode, code);
    if (this.#stopping) return;
    this.#stopping = true;
    for (const wake of [...this.#sleepers]) wake();
    for (const connection of this.#connections) connection.drain();
    for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(new Error('the runtime stopped before it registered'));
  }

  async #keepConnected() {
    let attempt = 0;
    while (!this.#stopping) {
      const outcome = await this.#session();
      if (outcome.fatal !== null) {
        this.#stop(EXIT_FATAL);
        break;
      }
      if (this.#stopping) break;
      if (outcome.registered) attempt = 0;
      const delay = outcome.reconnectNow ? 0 : backoff(attempt++);
      const why = outcome.error && !outcome.registered ? `cannot connect to ${this.#settings.socket}: ${outcome.error.message}` : 'the connection closed';
      this.#logger.info(`${why}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
      await this.#sleep(delay);
    }
  }

  // One connection, from connect to close.
  #session() {
    // Reads land in one buffer per connection, handed straight to the frame decoder,
    // instead of a new Buffer per read through the stream machinery.
    let connection = null;
    const socket = net.createConnection({
      path: this.#settings.socket,
      onread: { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: (length, buffer) => connection.onRead(length, buffer) },
    });
    connection = new Connection(socket, {
      codec: this.#options.codec,
      settings: this.#settings,
      module: this.#options.module,
      bind: this.#options.bind,
      cache: {
        get: () => this.#cache,
        set: (entry) => {
          this.#cache = entry;
        },
        clear: () => {
          this.#cache = null;
        },
      },
      logger: this.#logger,
      onRegistered: () => this.#onRegistered(),
    });
    this.#connections.add(connection);
    return connection.closed.finally(() => this.#connections.delete(connection));
  }

  #onRegistered() {
    this.#registeredOnce = true;
    for (const waiter of this.#readyWaiters.splice(0)) waiter.resolve();
  }

  #sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #installSignals() {
    this.#signalHandler = (signal) => {
      if (this.#stopping) {
        this.#logger.warn(`${signal} again: exiting without waiting for the requests in flight`);
        process.exit(EXIT_FATAL);
      }
      this.#logger.info(`${signal}: finishing the requests in flight, then exiting`);
      this.#stop(EXIT_OK);
    };
    process.on('SIGTERM', this.#signalHandler);
    process.on('SIGINT', this.#signalHandler);
  }

  #finish() {
    this.#finished = true;
    if (this.#signalHandler !== null) {
      process.off('SIGTERM', this.#signalHandler);
      process.off('SIGINT', this.#signalHandler);
    }
    for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(new Error('the runtime stopped before it registered'));
    const code = this.#exitCode;
    this.#logger.info(`stopped (exit status ${code})`);
    // A handler abandoned at its deadline may still hold a timer; it must not keep the
    // process alive.
    if (this.#exit) process.exit(code);
    return code;
  }
}

module.exports = { Runtime, Server, EXIT_USAGE };
