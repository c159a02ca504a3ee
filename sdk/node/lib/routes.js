'use strict';

// Path templates (`/bookings/{booking_id}`) and the router that finds, for a request's
// method and path, the registered endpoint the daemon routed it to, with its parameters.
// Precedence matches the daemon's: at the first segment where two templates differ, a
// literal beats a `{param}`.

const NO_PARAMS = Object.freeze(Object.create(null));

function splitPath(path) {
  const query = path.indexOf('?');
  const bare = query < 0 ? path : path.slice(0, query);
  const rest = bare.startsWith('/') ? bare.slice(1) : bare;
  return rest === '' ? [] : rest.split('/');
}

function isHexDigit(code) {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

// `raw` with its %XX escapes decoded; a malformed escape stays as written and bytes that are
// not UTF-8 become U+FFFD, as the daemon decodes them.
function percentDecode(raw) {
  if (!raw.includes('%')) return raw;
  const bytes = [];
  let i = 0;
  while (i < raw.length) {
    if (raw[i] === '%' && isHexDigit(raw.charCodeAt(i + 1)) && isHexDigit(raw.charCodeAt(i + 2))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 3;
      continue;
    }
    let next = raw.indexOf('%', i + 1);
    if (next < 0) next = raw.length;
    for (const byte of Buffer.from(raw.slice(i, next), 'utf8')) bytes.push(byte);
    i = next;
  }
  return Buffer.from(bytes).toString('utf8');
}

class Template {
  constructor(path) {
    this.path = path;
    // Each segment: `{ literal }` (decoded) or `{ param }` (its name).
    this.segments = splitPath(path).map((segment) =>
      segment.length > 2 && segment.startsWith('{') && segment.endsWith('}')
        ? { param: segment.slice(1, -1) }
        : { literal: percentDecode(segment) },
    );
    this.hasParams = this.segments.some((s) => s.param !== undefined);
  }

  // The parameters of `parts` (a request path's raw segments, as many as the template's),
  // or null when it does not fit.
  match(parts) {
    let params = null;
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i];
      if (segment.param === undefined) {
        if (segment.literal !== percentDecode(parts[i])) return null;
      } else {
        if (parts[i] === '') return null;
        params ??= Object.create(null);
        params[segment.param] = percentDecode(parts[i]);
      }
    }
    return params ?? NO_PARAMS;
  }

  // Negative when this template should be tried before `other` (same segment count).
  compare(other) {
    for (let i = 0; i < this.segments.length; i++) {
      const mine = this.segments[i].param !== undefined;
      const theirs = other.segments[i].param !== undefined;
      if (mine !== theirs) return mine ? 1 : -1;
    }
    return 0;
  }
}

// Maps requests to entries; each entry has a `template` (a Template).
class Router {
  #exact = new Map(); // "METHOD /literal/path" -> entry
  #byMethod = new Map(); // method -> segment count -> entries, most specific first

  constructor(entries) {
    for (const entry of entries) {
      const method = entry.method;
      if (!entry.template.hasParams) {
        const key = `${method} /${entry.template.segments.map((s) => s.literal).join('/')}`;
        if (!this.#exact.has(key)) this.#exact.set(key, entry);
      }
      let depths = this.#byMethod.get(method);
      if (depths === undefined) this.#byMethod.set(method, (depths = []));
      const depth = entry.template.segments.length;
      (depths[depth] ??= []).push(entry);
    }
    for (const depths of this.#byMethod.values()) {
      for (const bucket of depths) bucket?.sort((a, b) => a.template.compare(b.template));
    }
  }

  // `{ entry, params }` for `method path`, or null.
  route(method, path) {
    const exact = this.#exact.get(`${method} ${path}`);
    if (exact !== undefined) return { entry: exact, params: NO_PARAMS };
    const parts = splitPath(path);
    const bucket = this.#byMethod.get(method)?.[parts.length];
    if (bucket === undefined) return null;
    for (const entry of bucket) {
      const params = entry.template.match(parts);
      if (params !== null) return { entry, params };
    }
    return null;
  }
}

module.exports = { Template, Router, NO_PARAMS };
