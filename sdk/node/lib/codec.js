'use strict';

// The two payload encodings of PROTOCOL.md §3. A codec turns a payload into a frame map
// and back; the framing (lib/framing.js) is the same for both.

const { ProtocolError, ConfigError } = require('./errors');

// Nesting deeper than this is malformed, in either encoding (§3). The frame map is level 1.
const MAX_DEPTH = 128;
const OPEN_BRACE = 0x7b;

// Whether `value` nests no deeper than `levels` (a scalar is 0 levels, `{}` is 1).
function withinDepth(value, levels) {
  if (value === null || typeof value !== 'object') return true;
  if (levels === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!withinDepth(value[i], levels - 1)) return false;
    return true;
  }
  for (const key in value) if (!withinDepth(value[key], levels - 1)) return false;
  return true;
}

// Whether `value` holds only what both encodings carry alike (null, booleans, finite
// numbers, strings, arrays, plain objects; `undefined` is dropped by both) within `levels`.
function isPlain(value, levels) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (levels === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlain(value[i], levels - 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) if (!isPlain(value[key], levels - 1)) return false;
  return true;
}

function isMap(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const json = {
  name: 'json',

  // Payloads are strings until the writer copies them into the outgoing buffer, which
  // saves one copy per frame.
  encode(frame) {
    return JSON.stringify(frame);
  },

  decode(buffer, start, end) {
    if (buffer[start] !== OPEN_BRACE) {
      throw new ProtocolError('malformed_frame', 'the payload is not a JSON object (it must start with `{`)');
    }
    let frame;
    try {
      frame = JSON.parse(buffer.toString('utf8', start, end));
    } catch (error) {
      throw new ProtocolError('malformed_frame', `the payload is not JSON: ${error.message}`);
    }
    if (!withinDepth(frame, MAX_DEPTH)) {
      throw new ProtocolError('malformed_frame', `the payload nests deeper than ${MAX_DEPTH} levels`);
    }
    return frame;
  },
};

function isMessagePackMap(byte) {
  return (byte >= 0x80 && byte <= 0x8f) || byte === 0xde || byte === 0xdf;
}

function rejectNonStringKey(key) {
  if (typeof key !== 'string') throw new TypeError(`a map key is a ${typeof key}, not a string`);
  return key;
}

// The MessagePack codec, built on `@msgpack/msgpack` when that package can be loaded;
// `null` otherwise. Loaded once, on first use.
let messagePackCodec;

function messagePack() {
  if (messagePackCodec !== undefined) return messagePackCodec;
  let library;
  try {
    library = require('@msgpack/msgpack');
  } catch {
    messagePackCodec = null;
    return null;
  }
  // `undefined` properties are left out, as JSON.stringify leaves them out.
  const encoder = new library.Encoder({ ignoreUndefined: true, maxDepth: MAX_DEPTH });
  const decoder = new library.Decoder({ mapKeyConverter: rejectNonStringKey });
  messagePackCodec = {
    name: 'msgpack',

    encode(frame) {
      return encoder.encode(frame);
    },

    decode(buffer, start, end) {
      if (!isMessagePackMap(buffer[start])) {
        throw new ProtocolError('malformed_frame', 'the payload is not a MessagePack map');
      }
      let frame;
      try {
        frame = decoder.decode(buffer.subarray(start, end));
      } catch (error) {
        throw new ProtocolError('malformed_frame', `the payload is not MessagePack: ${error.message}`);
      }
      // `bin` decodes to a Uint8Array and extension types to ExtData or Date: none is plain.
      if (!isPlain(frame, MAX_DEPTH)) {
        throw new ProtocolError(
          'malformed_frame',
          `the payload holds a bin or extension value, or nests deeper than ${MAX_DEPTH} levels`,
        );
      }
      return frame;
    },
  };
  return messagePackCodec;
}

// The codec for a connection: `encoding` is `auto` (MessagePack when the package loads),
// `json` or `msgpack`. Throws when `msgpack` is asked for and not installed.
function chooseCodec(encoding) {
  if (encoding === 'json') return json;
  const packed = messagePack();
  if (packed !== null) return packed;
  if (encoding === 'msgpack') {
    throw new ConfigError('the msgpack encoding needs the package `@msgpack/msgpack` (npm install @msgpack/msgpack)');
  }
  return json;
}

// The codec a peer chose, recognised from the first byte of its first payload (§3).
function detectCodec(firstByte) {
  if (firstByte === OPEN_BRACE) return json;
  if (isMessagePackMap(firstByte)) {
    const packed = messagePack();
    if (packed !== null) return packed;
    throw new ProtocolError('malformed_frame', 'a MessagePack payload, and `@msgpack/msgpack` is not installed');
  }
  throw new ProtocolError('malformed_frame', 'the payload is neither a JSON object nor a MessagePack map');
}

// Byte length of an encoded payload.
function payloadLength(payload) {
  return typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
}

module.exports = { MAX_DEPTH, json, chooseCodec, detectCodec, payloadLength, isPlain, isMap, withinDepth };
