'use strict';

// The shapes of the frames (PROTOCOL.md §4-§11): which fields each type must carry, and of
// which type. A frame that fails is `malformed_frame`; unknown fields are ignored.

const { ProtocolError } = require('./errors');
const { isMap } = require('./codec');

const PROTOCOL_VERSION = '1.0';

const FROM_DAEMON = new Set([
  'welcome',
  'register',
  'register_resume',
  'request',
  'error',
  'ping',
  'pong',
  'goodbye',
  'sign_response',
  'sign_error',
]);
const FROM_RUNTIME = new Set(['hello', 'register_ack', 'response', 'error', 'ping', 'pong', 'goodbye', 'sign_request']);

function malformed(type, field, expected) {
  return new ProtocolError('malformed_frame', `\`${type}.${field}\` must be ${expected}`);
}

function isStringArray(value) {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

function isStringMap(value) {
  if (!isMap(value)) return false;
  for (const key in value) if (typeof value[key] !== 'string') return false;
  return true;
}

function requireString(frame, type, field) {
  if (typeof frame[field] !== 'string') throw malformed(type, field, 'a string');
}

function optionalString(frame, type, field) {
  const value = frame[field];
  if (value !== undefined && value !== null && typeof value !== 'string') {
    throw malformed(type, field, 'a string or null');
  }
}

function optionalCheck(frame, type, field, test, expected) {
  const value = frame[field];
  if (value !== undefined && value !== null && !test(value)) throw malformed(type, field, expected);
}

function isNonNegativeInteger(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

function checkEndpoint(endpoint) {
  const type = 'register.endpoints[]';
  if (!isMap(endpoint)) throw new ProtocolError('malformed_frame', 'an entry of `register.endpoints` is not a map');
  for (const field of ['method', 'path', 'handler_reference', 'input_schema_ref', 'output_schema_ref']) {
    requireString(endpoint, type, field);
  }
  if (!isStringArray(endpoint.errors)) throw malformed(type, 'errors', 'an array of strings');
  optionalCheck(endpoint, type, 'required_scopes', isStringArray, 'an array of strings');
}

function checkEnvelope(envelope) {
  const type = 'request.envelope';
  if (!isMap(envelope)) throw malformed('request', 'envelope', 'a map');
  requireString(envelope, type, 'method');
  requireString(envelope, type, 'path');
  for (const field of ['agent_id', 'principal_id', 'request_id', 'session_id', 'task_id', 'agent_cert_fingerprint']) {
    optionalString(envelope, type, field);
  }
  optionalCheck(envelope, type, 'agent_scopes', isStringArray, 'an array of strings');
  optionalCheck(envelope, type, 'authority_scope', isStringArray, 'an array of strings');
  optionalCheck(envelope, type, 'headers', isStringMap, 'a map of strings');
  optionalCheck(envelope, type, 'agent_verified', (v) => typeof v === 'boolean', 'a bool');
  optionalCheck(envelope, type, 'agent_cert_extensions', isMap, 'a map');
}

const CHECKS = {
  hello(frame) {
    if (!isStringArray(frame.gateway_versions)) throw malformed('hello', 'gateway_versions', 'an array of strings');
    if (!isMap(frame.module)) throw malformed('hello', 'module', 'a map');
    requireString(frame.module, 'hello.module', 'id');
    requireString(frame.module, 'hello.module', 'version');
    optionalString(frame.module, 'hello.module', 'pool');
    optionalCheck(frame, 'hello', 'capabilities', isStringArray, 'an array of strings');
    optionalString(frame, 'hello', 'cached_manifest_hash');
    optionalCheck(frame, 'hello', 'max_in_flight', isNonNegativeInteger, 'a non-negative integer');
  },
  welcome(frame) {
    requireString(frame, 'welcome', 'gateway_version');
    if (!isMap(frame.daemon)) throw malformed('welcome', 'daemon', 'a map');
    optionalCheck(frame, 'welcome', 'capabilities', isStringArray, 'an array of strings');
    optionalCheck(frame, 'welcome', 'max_in_flight', isNonNegativeInteger, 'a non-negative integer');
  },
  register(frame) {
    requireString(frame, 'register', 'manifest_hash');
    if (!Array.isArray(frame.endpoints)) throw malformed('register', 'endpoints', 'an array');
    frame.endpoints.forEach(checkEndpoint);
    if (!isMap(frame.schemas)) throw malformed('register', 'schemas', 'a map');
  },
  register_resume(frame) {
    requireString(frame, 'register_resume', 'manifest_hash');
  },
  register_ack(frame) {
    if (typeof frame.ok !== 'boolean') throw malformed('register_ack', 'ok', 'a bool');
    optionalCheck(frame, 'register_ack', 'resolved', isStringArray, 'an array of strings');
    optionalCheck(frame, 'register_ack', 'errors', Array.isArray, 'an array');
  },
  request(frame) {
    requireString(frame, 'request', 'request_id');
    checkEnvelope(frame.envelope);
    optionalCheck(frame, 'request', 'trust', isMap, 'a map');
    optionalCheck(frame, 'request', 'deadline_ms', isNonNegativeInteger, 'a non-negative integer');
  },
  response(frame) {
    requireString(frame, 'response', 'request_id');
    if (!isMap(frame.envelope)) throw malformed('response', 'envelope', 'a map');
  },
  error(frame) {
    requireString(frame, 'error', 'code');
    requireString(frame, 'error', 'message');
    optionalString(frame, 'error', 'request_id');
    optionalCheck(frame, 'error', 'details', isMap, 'a map');
  },
  ping(frame) {
    requireString(frame, 'ping', 'nonce');
  },
  pong(frame) {
    requireString(frame, 'pong', 'nonce');
  },
  goodbye(frame) {
    optionalString(frame, 'goodbye', 'reason');
  },
  sign_request(frame) {
    requireString(frame, 'sign_request', 'operation_id');
    requireString(frame, 'sign_request', 'data_b64');
    optionalString(frame, 'sign_request', 'request_id');
  },
  sign_response(frame) {
    for (const field of ['operation_id', 'kid', 'alg', 'signature_b64']) requireString(frame, 'sign_response', field);
  },
  sign_error(frame) {
    for (const field of ['operation_id', 'code', 'message']) requireString(frame, 'sign_error', field);
  },
};

// Checks a frame received from the other side; `expected` is FROM_DAEMON or FROM_RUNTIME.
// A known type sent the wrong way round is a phase violation, an unknown one malformed.
function checkFrame(frame, expected) {
  if (!isMap(frame) || typeof frame.type !== 'string') {
    throw new ProtocolError('malformed_frame', 'the payload is not a map with a string `type`');
  }
  const check = Object.hasOwn(CHECKS, frame.type) ? CHECKS[frame.type] : undefined;
  if (check === undefined) throw new ProtocolError('malformed_frame', `unknown frame type \`${frame.type}\``);
  if (!expected.has(frame.type)) {
    throw new ProtocolError('phase_violation', `\`${frame.type}\` is never sent in this direction`);
  }
  check(frame);
  return frame;
}

module.exports = { PROTOCOL_VERSION, FROM_DAEMON, FROM_RUNTIME, checkFrame };
