'use strict';

const { isMap } = require('./codec');

// A handler's answer when a bare body is not enough: another success status, response
// headers, or extra fields for the daemon's attribution record. Returning a plain value is
// the same as returning `new Reply(value)`. Failures are EndpointErrors, so the status is 2xx:
// the daemon turns any other into 500 `output-validation-failed`.
class Reply {
  constructor(body, { status = 200, headers, attributionExtra } = {}) {
    if (!Number.isInteger(status) || status < 200 || status > 299) {
      throw new TypeError(`Reply: \`status\` must be an integer from 200 to 299, not ${status}`);
    }
    if (headers !== undefined && headers !== null) {
      if (!isMap(headers)) throw new TypeError('Reply: `headers` must be an object of strings');
      for (const name in headers) {
        if (typeof headers[name] !== 'string') {
          throw new TypeError(`Reply: the value of header \`${name}\` must be a string`);
        }
      }
    }
    if (attributionExtra !== undefined && attributionExtra !== null && !isMap(attributionExtra)) {
      throw new TypeError('Reply: `attributionExtra` must be a plain object');
    }
    this.body = body === undefined ? null : body;
    this.status = status;
    this.headers = headers ?? null;
    this.attributionExtra = attributionExtra ?? null;
  }
}

module.exports = { Reply };
