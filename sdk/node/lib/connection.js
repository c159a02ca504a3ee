'use strict';

// One connection to the daemon, from `hello` to the close (PROTOCOL.md §5-§10).

const { performance } = require('node:perf_hooks');
const { FrameDecoder, joinFrames } = require('./framing');
const { payloadLength, isPlain, withinDepth, MAX_DEPTH } = require('./codec');
const { checkFrame, FROM_DAEMON, PROTOCOL_VERSION } = require('./frames');
const { Context, abortContext, finishContext, abortReasonOf } = require('./context');
const { NO_PARAMS } = require('./routes');
const { Reply } = require('./reply');
const { EndpointError, SigningError, ProtocolError, FatalError } = require('./errors');
const { version: SDK_VERSION } = require('../package.json');

// How long the daemon may take to answer `hello` and to register.
const HANDSHAKE_TIMEOUT_MS = 30_000;
// How long the daemon has to answer this runtime's ping (§10), at most.
const PONG_TIMEOUT_MS = 30_000;
// How long a connection waits for the daemon to close it after the last goodbye step.
const CLOSE_GRACE_MS = 2_000;
// Diagnoses sent in `handler_exception` frames are cut to this many characters.
const MAX_DIAGNOSIS_CHARS = 8192;
// Nesting left for a handler's values once the frame around them is counted (§3).
const BODY_LEVELS = MAX_DEPTH - 2; // frame, envelope
const ERROR_DETAILS_LEVELS = MAX_DEPTH - 3; // frame, envelope, endpoint_error

function describe(value) {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function cut(text) {
  return text.length > MAX_DIAGNOSIS_CHARS ? `${text.slice(0, MAX_DIAGNOSIS_CHARS)}...` : text;
}

// `value` as both encodings carry it: as is when already plain, else the way JSON.stringify
// renders it (Dates become strings, and so on). Throws for what JSON cannot carry.
function portable(value, levels, what) {
  if (isPlain(value, levels)) return value;
  const text = JSON.stringify(value);
  const parsed = text === undefined ? null : JSON.parse(text);
  if (!withinDepth(parsed, levels)) throw new RangeError(`${what} nests deeper than ${levels} levels`);
  return parsed;
}

function replyFrame(requestId, result) {
  let envelope;
  if (result instanceof Reply) {
    envelope = { body: portable(result.body, BODY_LEVELS, 'the reply body') };
    if (result.status !== 200) envelope.status = result.status;
    if (result.headers !== null) envelope.headers = result.headers;
    if (result.attributionExtra !== null) {
      envelope.attribution_extra = portable(result.attributionExtra, BODY_LEVELS, '`attributionExtra`');
    }
  } else {
    envelope = { body: result === undefined ? null : portable(result, BODY_LEVELS, 'the reply body') };
  }
  return { type: 'response', request_id: requestId, envelope };
}

function declaredErrorFrame(requestId, error) {
  const declared = { code: error.code, message: describe(error.message) };
  if (error.details !== undefined) declared.details = portable(error.details, ERROR_DETAILS_LEVELS, 'the error details');
  return { type: 'response', request_id: requestId, envelope: { endpoint_error: declared } };
}

function timeoutFrame(requestId) {
  return { type: 'error', request_id: requestId, code: 'handler_timeout', message: 'cancelled at the deadline' };
}

// Whether `error` is how a handler gives up once its signal aborted with `reason`.
function isCancellation(error, reason) {
  return reason !== null && (error === reason || error?.cause === reason || error?.name === 'AbortError');
}

function exceptionFrame(requestId, error) {
  const isError = error instanceof Error;
  return {
    type: 'error',
    request_id: requestId,
    code: 'handler_exception',
    message: cut(describe(isError ? error.message : error)),
    details: {
      exception: isError ? describe(error.name) : typeof error,
      stack: isError && typeof error.stack === 'string' ? cut(error.stack) : null,
    },
  };
}

let flushConnection;
let keepaliveTick;

class Connection {
  #socket;
  #codec;
  #settings;
  #module;
  #bind;
  #cache;
  #logger;
  #onRegistered;
  #decoder;
  #phase = 'handshake'; // handshake -> registration -> serving
  #router = null;
  #calls = new Map(); // gateway request id -> Context, while in flight
  #limit = 1;
  #multiplexed = false;
  #signing = false;
  #signOps = new Map();
  #nextOperation = 0;
  #outPayloads = [];
  #outLengths = [];
  #flushScheduled = false;
  #draining = false;
  #goodbyeSent = false;
  #goodbyeReceived = false;
  #closing = false;
  #closed = false;
  #registered = false;
  #fatal = null;
  #socketError = null;
  #reconnectNow = false;
  #heardAt = performance.now();
  #pingSentAt = null;
  #nextNonce = 0;
  #handshakeTimer = null;
  #keepaliveTimer = null;
  #graceTimer = null;
  #resolveClosed;

  // `bind(specs)` turns registered endpoints into `{ router, resolved }` or `{ failures }`;
  // `cache` keeps the last registration (`get()`, `set(entry)`, `clear()`).
  constructor(socket, { codec, settings, module, bind, cache, logger, onRegistered }) {
    this.#socket = socket;
    this.#codec = codec;
    this.#settings = settings;
    this.#module = module;
    this.#bind = bind;
    this.#cache = cache;
    this.#logger = logger;
    this.#onRegistered = onRegistered;
    this.#decoder = new FrameDecoder(settings.maxFrameBytes, (buffer, start, end) => this.#onPayload(buffer, start, end));
    // Settles, never rejects, with what the runtime needs to decide about reconnecting.
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.on('connect', () => this.#hello());
    socket.on('error', (error) => {
      this.#socketError = error;
    });
    socket.on('close', () => this.#onClose());
    this.#handshakeTimer = setTimeout(() => {
      this.#logger.warn(`the daemon did not complete the handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s; closing`);
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS).unref();
  }

  static {
    flushConnection = (connection) => connection.#flush();
    keepaliveTick = (connection) => connection.#keepalive();
  }

  // Starts nothing new: says goodbye, answers what is in flight, and lets the daemon close.
  drain() {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    if (this.#phase !== 'serving') {
      this.#socket.destroy();
      return;
    }
    this.#sendGoodbye();
    if (this.#calls.size === 0) this.#drained();
  }

  // Sends `sign_request` for the request in flight `requestId`; used by Context#sign.
  sign(requestId, bytes) {
    if (!this.#signing) {
      return Promise.reject(
        new SigningError('not_granted', 'the daemon did not grant `sign_request` on this connection (it has no signing key)'),
      );
    }
    if (this.#closing || this.#closed) {
      return Promise.reject(new SigningError('connection_closed', 'the connection to the daemon is closing'));
    }
    const data = bytes.toString('base64url');
    if (data.length + 256 > this.#settings.maxFrameBytes) {
      return Promise.reject(new RangeError(`sign(data): ${bytes.length} bytes do not fit in one frame`));
    }
    const operationId = `s${++this.#nextOperation}`;
    return new Promise((resolve, reject) => {
      this.#signOps.set(operationId, { resolve, reject });
      this.#send({ type: 'sign_request', operation_id: operationId, data_b64: data, request_id: requestId });
    });
  }

  #hello() {
    const { pool, maxInFlight } = this.#settings;
    const capabilities = ['registered_function', 'sign_request'];
    const hello = {
      type: 'hello',
      gateway_versions: [PROTOCOL_VERSION],
      module: {
        id: this.#module.id,
        version: this.#module.version,
        runtime: `node ${process.version}, agtp-runtime ${SDK_VERSION}`,
        pid: process.pid,
        pool,
      },
      capabilities,
    };
    if (maxInFlight > 1) {
      capabilities.push('multiplex');
      hello.max_in_flight = maxInFlight;
    }
    const cached = this.#cache.get();
    if (cached !== null) hello.cached_manifest_hash = cached.hash;
    this.#send(hello);
  }

  // Called with the socket's read buffer, which is reused for the next read.
  onRead(length, buffer) {
    try {
      this.#decoder.push(buffer, length);
    } catch (error) {
      this.#fail(error);
    }
  }

  #onPayload(buffer, start, end) {
    const frame = checkFrame(this.#codec.decode(buffer, start, end), FROM_DAEMON);
    this.#heardAt = performance.now();
    if (this.#phase === 'serving') this.#serve(frame);
    else if (frame.type === 'error') this.#onConnectionError(frame);
    else if (this.#phase === 'handshake' && frame.type === 'welcome') this.#welcome(frame);
    else if (this.#phase === 'registration' && frame.type === 'register') this.#register(frame);
    else if (this.#phase === 'registration' && frame.type === 'register_resume') this.#resume(frame);
    else throw new ProtocolError('phase_violation', `\`${frame.type}\` during the ${this.#phase}`);
  }

  #welcome(frame) {
    if (frame.gateway_version !== PROTOCOL_VERSION) {
      throw new ProtocolError('malformed_frame', `\`welcome.gateway_version\` ${frame.gateway_version} was not offered`);
    }
    const granted = frame.capabilities ?? [];
    this.#signing = granted.includes('sign_request');
    if (this.#settings.maxInFlight > 1 && granted.includes('multiplex')) {
      const limit = frame.max_in_flight;
      if (!Number.isInteger(limit) || limit < 1 || limit > this.#settings.maxInFlight) {
        throw new ProtocolError(
          'malformed_frame',
          `\`welcome.max_in_flight\` must be 1 to ${this.#settings.maxInFlight} with \`multiplex\`, not ${limit}`,
        );
      }
      this.#limit = limit;
      this.#multiplexed = true;
    }
    this.#phase = 'registration';
  }

  #register(frame) {
    this.#cache.clear();
    this.#bindEndpoints(frame.manifest_hash, frame.endpoints, 'registered');
  }

  #resume(frame) {
    const cached = this.#cache.get();
    if (cached !== null && cached.hash === frame.manifest_hash) {
      this.#bindEndpoints(cached.hash, cached.endpoints, 'resumed');
      return;
    }
    // A hash this runtime never offered: refuse, forget the cache, and reconnect without it
    // so that the daemon sends the full registration.
    this.#cache.clear();
    this.#send({
      type: 'register_ack',
      ok: false,
      errors: [{ endpoint: '*', reason: 'manifest_not_cached', detail: `no cached registration ${frame.manifest_hash}` }],
    });
    this.#shutdown();
  }

  #bindEndpoints(hash, endpoints, how) {
    const bound = this.#bind(endpoints);
    if (bound.failures.length > 0) {
      this.#send({ type: 'register_ack', ok: false, errors: bound.failures });
      for (const failure of bound.failures) this.#logger.error(`cannot serve ${failure.endpoint}: ${failure.detail}`);
      throw new FatalError(`the daemon registered ${bound.failures.length} endpoint(s) this runtime has no handler for`);
    }
    this.#cache.set({ hash, endpoints });
    this.#router = bound.router;
    this.#send({ type: 'register_ack', ok: true, resolved: bound.resolved });
    this.#phase = 'serving';
    this.#registered = true;
    clearTimeout(this.#handshakeTimer);
    this.#keepaliveTimer = setTimeout(keepaliveTick, this.#settings.keepaliveMs, this).unref();
    const mode = this.#multiplexed ? `multiplexed, up to ${this.#limit} in flight` : 'one request at a time';
    const count = bound.resolved.length;
    this.#logger.info(`serving ${count} endpoint${count === 1 ? '' : 's'} in pool ${this.#settings.pool} (${how}, ${mode})`);
    this.#onRegistered();
    if (this.#draining) {
      this.#sendGoodbye();
      this.#drained();
    }
  }

  #serve(frame) {
    switch (frame.type) {
      case 'request':
        this.#onRequest(frame);
        break;
      case 'ping':
        this.#send({ type: 'pong', nonce: frame.nonce });
        break;
      case 'pong':
        this.#pingSentAt = null;
        break;
      case 'goodbye':
        this.#onGoodbye(frame);
        break;
      case 'error':
        if (frame.request_id === undefined || frame.request_id === null) this.#onConnectionError(frame);
        else this.#onRequestError(frame);
        break;
      case 'sign_response':
      case 'sign_error':
        this.#onSignAnswer(frame);
        break;
      default:
        throw new ProtocolError('phase_violation', `\`${frame.type}\` while serving`);
    }
  }

  #onRequest(frame) {
    const receivedAt = performance.now();
    const id = frame.request_id;
    if (this.#goodbyeReceived) throw new ProtocolError('phase_violation', 'a request after the daemon said goodbye');
    if (this.#calls.has(id)) throw new ProtocolError('phase_violation', `request \`${id}\` is already in flight`);
    if (this.#calls.size >= this.#limit) {
      throw new ProtocolError(
        'phase_violation',
        this.#multiplexed ? `more than ${this.#limit} requests in flight` : 'a request while another is in flight',
      );
    }
    const { method, path } = frame.envelope;
    const found = this.#router.route(method, path);
    const ctx = new Context(this, frame, found?.entry.info ?? null, found?.params ?? NO_PARAMS, receivedAt);
    this.#calls.set(id, ctx);
    if (found === null) {
      this.#logger.error(`the daemon sent ${method} ${path}, which matches no registered endpoint`);
      this.#answer(ctx, exceptionFrame(id, new Error(`no registered endpoint matches ${method} ${path}`)));
      return;
    }
    this.#execute(ctx, found.entry, frame.envelope.input ?? {});
  }

  async #execute(ctx, entry, input) {
    const id = ctx.gatewayRequestId;
    let frame;
    try {
      frame = replyFrame(id, await entry.handler(input, ctx));
    } catch (error) {
      frame = this.#failureFrame(ctx, entry, error);
    }
    this.#answer(ctx, frame);
  }

  #failureFrame(ctx, entry, error) {
    const id = ctx.gatewayRequestId;
    const label = `${entry.info.method} ${entry.info.path}`;
    if (error instanceof EndpointError) {
      if (!entry.declared.has(error.code)) {
        this.#logger.warn(`${label} answered \`${error.code}\`, which it does not declare; the agent gets 500`);
      }
      try {
        return declaredErrorFrame(id, error);
      } catch (unportable) {
        error = unportable;
      }
    }
    if (isCancellation(error, abortReasonOf(ctx))) {
      this.#logger.info(`the handler of ${label} stopped on cancellation (request ${ctx.requestId || id})`);
    } else {
      const text = error instanceof Error && typeof error.stack === 'string' ? error.stack : describe(error);
      this.#logger.error(`the handler of ${label} failed (request ${ctx.requestId || id}): ${text}`);
    }
    return exceptionFrame(id, error);
  }

  // Sends the answer to `ctx`, unless the daemon stopped waiting for it.
  #answer(ctx, frame) {
    const id = ctx.gatewayRequestId;
    if (this.#calls.get(id) !== ctx) {
      if (!this.#closed) this.#logger.info(`the answer to request ${id} came after the daemon gave up on it; dropped`);
      return;
    }
    this.#calls.delete(id);
    finishContext(ctx);
    if (ctx.timeLeft() === 0) {
      // Past the deadline the daemon has answered the agent 504. One request at a time, it
      // closes the connection too; multiplexed, any answer frees the request's slot.
      if (this.#multiplexed) {
        this.#send(timeoutFrame(id));
      } else {
        this.#logger.info(`request ${id} finished after its deadline; the answer is dropped`);
      }
    } else if (!this.#send(frame)) {
      this.#send(exceptionFrame(id, new RangeError('the answer does not fit in one frame')));
    }
    if (this.#draining && this.#calls.size === 0) this.#drained();
  }

  #onGoodbye(frame) {
    this.#goodbyeReceived = true;
    this.#draining = true;
    this.#reconnectNow = frame.reason === 'manifest_reload';
    this.#logger.info(`the daemon said goodbye (${frame.reason ?? 'no reason'})`);
    if (this.#calls.size === 0) this.#drained();
  }

  // Draining, with nothing left in flight.
  #drained() {
    if (this.#goodbyeReceived) {
      this.#sendGoodbye();
      this.#shutdown();
    } else if (this.#graceTimer === null) {
      // Our goodbye is out; closing is the daemon's move once it sees us idle (§10).
      this.#graceTimer = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  }

  #sendGoodbye() {
    if (this.#goodbyeSent) return;
    this.#goodbyeSent = true;
    this.#send({ type: 'goodbye', reason: 'shutdown' });
  }

  #onRequestError(frame) {
    const id = frame.request_id;
    const ctx = this.#calls.get(id);
    if (ctx === undefined) {
      // The daemon's verdict on an answer already sent (output_schema_failure, ...).
      const level = frame.code === 'handler_timeout' ? 'info' : 'warn';
      this.#logger[level](`the daemon reports \`${frame.code}\` for request ${id}: ${frame.message}`);
      return;
    }
    if (frame.code !== 'handler_timeout') {
      this.#logger.warn(`the daemon reports \`${frame.code}\` for request ${id} in flight: ${frame.message}`);
      return;
    }
    this.#logger.warn(`request ${id} (${ctx.method} ${ctx.path}) missed its deadline; cancelling its handler`);
    this.#calls.delete(id);
    abortContext(ctx, new DOMException('the daemon gave up on this request (handler_timeout)', 'TimeoutError'));
    finishContext(ctx);
    // The abandoned request holds a slot until it is answered (§8.6).
    if (this.#multiplexed) this.#send(timeoutFrame(id));
    if (this.#draining && this.#calls.size === 0) this.#drained();
  }

  #onConnectionError(frame) {
    if (frame.code === 'gateway_version_unsupported') {
      throw new FatalError(`the daemon speaks none of this runtime's protocol versions: ${frame.message}`);
    }
    this.#logger.warn(`the daemon closes the connection: ${frame.code}: ${frame.message}`);
    this.#shutdown();
  }

  #onSignAnswer(frame) {
    const op = this.#signOps.get(frame.operation_id);
    if (op === undefined) {
      throw new ProtocolError('phase_violation', `\`${frame.type}\` for unknown operation \`${frame.operation_id}\``);
    }
    this.#signOps.delete(frame.operation_id);
    if (frame.type === 'sign_error') {
      op.reject(new SigningError(frame.code, frame.message));
      return;
    }
    const signature = Buffer.from(frame.signature_b64, 'base64url');
    if (frame.alg !== 'Ed25519' || signature.length !== 64) {
      op.reject(new SigningError('sign_failure', `the daemon answered a ${signature.length}-byte ${frame.alg} signature`));
      return;
    }
    op.resolve({ kid: frame.kid, alg: frame.alg, signature });
  }

  #keepalive() {
    if (this.#closing || this.#closed) return;
    const now = performance.now();
    const interval = this.#settings.keepaliveMs;
    const pongTimeout = Math.min(PONG_TIMEOUT_MS, interval);
    if (this.#pingSentAt !== null && this.#heardAt > this.#pingSentAt) this.#pingSentAt = null;
    if (this.#pingSentAt !== null && now - this.#pingSentAt >= pongTimeout) {
      this.#logger.warn(`the daemon did not answer a ping within ${pongTimeout} ms; closing`);
      this.#socket.destroy();
      return;
    }
    if (this.#pingSentAt === null && now - this.#heardAt >= interval && this.#calls.size === 0 && !this.#draining) {
      this.#pingSentAt = now;
      this.#send({ type: 'ping', nonce: `r-${++this.#nextNonce}` });
    }
    const wait = this.#pingSentAt !== null ? this.#pingSentAt + pongTimeout - now : this.#heardAt + interval - now;
    this.#keepaliveTimer = setTimeout(keepaliveTick, Math.max(1, wait), this).unref();
  }

  // Queues `frame` for the next write; false when it is too large for one frame.
  #send(frame) {
    if (this.#closing || this.#closed) return true;
    let payload;
    try {
      payload = this.#codec.encode(frame);
    } catch (error) {
      this.#logger.error(`cannot encode a \`${frame.type}\` frame: ${error.message}`);
      return false;
    }
    const length = payloadLength(payload);
    if (length > this.#settings.maxFrameBytes) {
      this.#logger.error(`a \`${frame.type}\` frame of ${length} bytes exceeds the frame limit`);
      return false;
    }
    this.#outPayloads.push(payload);
    this.#outLengths.push(length);
    // Answers that become ready in the same turn of the event loop leave in one write.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(flushConnection, this);
    }
    return true;
  }

  #flush() {
    this.#flushScheduled = false;
    if (this.#outPayloads.length === 0) return;
    const bytes = joinFrames(this.#outPayloads, this.#outLengths);
    this.#outPayloads.length = 0;
    this.#outLengths.length = 0;
    if (!this.#socket.destroyed) this.#socket.write(bytes);
  }

  #fail(error) {
    if (error instanceof ProtocolError) {
      this.#logger.warn(`the daemon broke the protocol (${error.code}): ${error.message}; closing`);
      const frame = { type: 'error', code: error.code, message: error.message };
      if (error.details !== undefined) frame.details = error.details;
      this.#send(frame);
    } else if (error instanceof FatalError) {
      this.#fatal = error;
      this.#logger.error(error.message);
    } else {
      this.#logger.error(`internal error, closing the connection: ${error?.stack ?? describe(error)}`);
    }
    this.#shutdown();
  }

  // Writes what is queued, then closes; the daemon gets a moment to close its side.
  #shutdown() {
    if (this.#closing) return;
    this.#closing = true;
    this.#decoder.stop();
    this.#flush();
    this.#socket.end();
    this.#graceTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  #onClose() {
    this.#closed = true;
    this.#decoder.stop();
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#keepaliveTimer);
    clearTimeout(this.#graceTimer);
    const gone = new DOMException('the connection to the daemon closed', 'AbortError');
    for (const ctx of this.#calls.values()) abortContext(ctx, gone);
    this.#calls.clear();
    for (const op of this.#signOps.values()) {
      op.reject(new SigningError('connection_closed', 'the connection to the daemon closed before it answered'));
    }
    this.#signOps.clear();
    this.#resolveClosed({
      registered: this.#registered,
      fatal: this.#fatal,
      error: this.#socketError,
      reconnectNow: this.#reconnectNow && this.#registered,
    });
  }
}

module.exports = { Connection };
