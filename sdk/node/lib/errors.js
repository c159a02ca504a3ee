'use strict';

// Thrown by a handler to answer with one of the endpoint's declared errors: the daemon
// checks `code` against the endpoint's `errors` list and the agent gets 422 with it.
class EndpointError extends Error {
  constructor(code, message, details) {
    if (typeof code !== 'string' || code === '') {
      throw new TypeError('EndpointError: `code` must be a non-empty string');
    }
    super(message === undefined ? code : String(message));
    this.name = 'EndpointError';
    this.code = code;
    if (details !== undefined && details !== null) {
      if (typeof details !== 'object' || Array.isArray(details)) {
        throw new TypeError('EndpointError: `details` must be a plain object');
      }
      this.details = details;
    }
  }
}

// Why `ctx.sign()` could not produce a signature. `code` is the daemon's `sign_error` code
// (`signing_unavailable`, `sign_failure`) or one of this package's: `not_granted`,
// `request_finished`, `connection_closed`.
class SigningError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'SigningError';
    this.code = code;
  }
}

// A setting that cannot be used (an unknown argument, a bad AGTP_* value). A process started
// through `listen()` with `exit: true` prints it and exits 64.
class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }
}

// The peer broke the protocol; `code` is the `error` frame's code (PROTOCOL.md §11) that
// answers it before the connection closes.
class ProtocolError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.details = details;
  }
}

// Something only an operator can fix (a refused registration, no common protocol version):
// the runtime stops with exit status 1 instead of reconnecting.
class FatalError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FatalError';
  }
}

module.exports = { EndpointError, SigningError, ConfigError, ProtocolError, FatalError };
