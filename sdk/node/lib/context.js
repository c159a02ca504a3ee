'use strict';

const { randomBytes } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { SigningError } = require('./errors');

const NO_STRINGS = Object.freeze([]);
const NO_MAP = Object.freeze({});

// W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

// The parts of a valid `traceparent` header, or null.
function parseTraceparent(value) {
  if (typeof value !== 'string') return null;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return null;
  const [, version, traceId, parentId, flags, rest] = m;
  // Version 00 has exactly four fields; ff is never valid; later versions may add fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return null;
  return { traceId, flags };
}

function randomHex(bytes) {
  for (;;) {
    const hex = randomBytes(bytes).toString('hex');
    if (!/^0+$/.test(hex)) return hex;
  }
}

function onDeadline(ctx) {
  abortContext(ctx, new DOMException('the deadline of this request passed', 'TimeoutError'));
}

let abortContext;
let finishContext;
let abortReasonOf;

// What a handler knows about the call besides its input. One Context per request; it is
// also the runtime's record of that request while it is in flight.
class Context {
  #connection;
  #deadlineAt;
  #trust;
  #traceparent;
  #controller = null;
  #timer = null;
  #abortReason = null;
  #finished = false;
  #signing = null;

  constructor(connection, frame, endpoint, params, receivedAt) {
    const envelope = frame.envelope;
    this.#connection = connection;
    this.#trust = frame.trust;
    this.gatewayRequestId = frame.request_id;
    this.requestId = envelope.request_id ?? '';
    this.method = envelope.method;
    this.path = envelope.path;
    this.params = params;
    this.endpoint = endpoint;
    this.agentId = envelope.agent_id ?? '';
    this.principalId = envelope.principal_id ?? '';
    this.sessionId = envelope.session_id ?? null;
    this.taskId = envelope.task_id ?? null;
    this.agentScopes = envelope.agent_scopes ?? NO_STRINGS;
    this.authorityScopes = envelope.authority_scope ?? NO_STRINGS;
    this.headers = envelope.headers ?? NO_MAP;
    this.agentVerified = envelope.agent_verified ?? false;
    this.agentCertFingerprint = envelope.agent_cert_fingerprint ?? null;
    this.agentCertExtensions = envelope.agent_cert_extensions ?? NO_MAP;
    this.deadlineMs = frame.deadline_ms ?? null;
    this.envelope = envelope;
    this.#deadlineAt = this.deadlineMs === null ? Infinity : receivedAt + this.deadlineMs;
  }

  static {
    abortContext = (ctx, reason) => {
      if (ctx.#abortReason !== null) return;
      ctx.#abortReason = reason;
      if (ctx.#timer !== null) clearTimeout(ctx.#timer);
      ctx.#controller?.abort(reason);
    };
    abortReasonOf = (ctx) => ctx.#abortReason;
    finishContext = (ctx) => {
      ctx.#finished = true;
      if (ctx.#timer !== null) clearTimeout(ctx.#timer);
    };
  }

  // How the daemon established the agent's identity (§8.1), or null when it sent nothing.
  get trust() {
    const trust = this.#trust;
    if (trust === undefined || trust === null) return null;
    return {
      verified: trust.verified === true,
      agentId: typeof trust.agent_id === 'string' ? trust.agent_id : '',
      agentCertFingerprint: typeof trust.agent_cert_fingerprint === 'string' ? trust.agent_cert_fingerprint : null,
      method: typeof trust.method === 'string' ? trust.method : null,
    };
  }

  // Aborted when the deadline passes, when the daemon gives up on the request, or when the
  // connection it came on closes. Made (and its timer armed) on first use only.
  get signal() {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#abortReason !== null) {
        this.#controller.abort(this.#abortReason);
      } else if (!this.#finished && this.#deadlineAt !== Infinity) {
        const left = this.#deadlineAt - performance.now();
        if (left <= 0) onDeadline(this);
        else this.#timer = setTimeout(onDeadline, left, this).unref();
      }
    }
    return this.#controller.signal;
  }

  // Milliseconds until the daemon stops waiting for the answer: never negative, Infinity
  // when the request carried no deadline.
  timeLeft() {
    return Math.max(0, this.#deadlineAt - performance.now());
  }

  // The caller's `traceparent` header when it is valid W3C Trace Context, else null.
  get traceparent() {
    if (this.#traceparent === undefined) {
      this.#traceparent = parseTraceparent(this.headers.traceparent) === null ? null : this.headers.traceparent.trim();
    }
    return this.#traceparent;
  }

  get tracestate() {
    return this.traceparent === null ? null : (this.headers.tracestate ?? null);
  }

  // A `traceparent` for a call this handler makes: the caller's trace id and flags with a
  // new span id, or a new sampled trace when the caller sent none.
  childTraceparent() {
    const parent = parseTraceparent(this.traceparent);
    const traceId = parent === null ? randomHex(16) : parent.traceId;
    const flags = parent === null ? '01' : parent.flags;
    return `00-${traceId}-${randomHex(8)}-${flags}`;
  }

  // Has the daemon sign `data` (bytes, or a string as UTF-8) with its Ed25519 key (§9).
  // Resolves to `{ kid, alg, signature }` (signature: a 64-byte Buffer); rejects with
  // SigningError. Signatures of one request are asked for one after another.
  sign(data) {
    let bytes;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (data instanceof Uint8Array) bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else return Promise.reject(new TypeError('sign(data): `data` must be a string, a Buffer or a Uint8Array'));
    const run = () => {
      if (this.#finished || this.#abortReason !== null) {
        throw new SigningError('request_finished', 'this request is no longer in flight, so nothing can be signed for it');
      }
      return this.#connection.sign(this.gatewayRequestId, bytes);
    };
    const result = this.#signing === null ? new Promise((resolve) => resolve(run())) : this.#signing.then(run, run);
    this.#signing = result.catch(() => {});
    return result;
  }
}

module.exports = { Context, abortContext, finishContext, abortReasonOf };
