'use strict';

// Framing (PROTOCOL.md §2): a 4-byte unsigned big-endian length, then that many bytes of
// payload.

const { ProtocolError } = require('./errors');

const HEADER_BYTES = 4;
// The daemon's default limit; a runtime applies the same one to what it reads.
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

// Cuts a byte stream into payloads. Complete frames are handed to `onPayload(buffer, start,
// end)` straight out of the chunk that holds them; only a frame split across reads is
// copied, into a buffer allocated once its length is known (and found within the limit).
class FrameDecoder {
  #maxBytes;
  #onPayload;
  #header = Buffer.alloc(HEADER_BYTES);
  #headerFill = 0;
  #partial = null; // the payload being assembled, once its header is complete
  #partialFill = 0;
  #stopped = false;

  constructor(maxBytes, onPayload) {
    this.#maxBytes = maxBytes;
    this.#onPayload = onPayload;
  }

  // Drops whatever arrives from now on (the connection is closing).
  stop() {
    this.#stopped = true;
  }

  // Takes the bytes `chunk[0, end)`; they are only read during the call, so the caller may
  // reuse `chunk` afterwards. Throws ProtocolError for a zero or oversized length, and
  // rethrows what `onPayload` throws.
  push(chunk, end = chunk.length) {
    let offset = 0;
    if (this.#headerFill > 0 || this.#partial !== null) {
      offset = this.#continuePartial(chunk, end);
      if (offset < 0) return;
    }
    while (!this.#stopped && end - offset >= HEADER_BYTES) {
      const length = this.#check(chunk.readUInt32BE(offset));
      const start = offset + HEADER_BYTES;
      if (end - start < length) break;
      offset = start + length;
      this.#onPayload(chunk, start, offset);
    }
    if (this.#stopped || offset === end) return;
    if (end - offset < HEADER_BYTES) {
      this.#headerFill = chunk.copy(this.#header, 0, offset, end);
      return;
    }
    this.#partial = Buffer.allocUnsafe(chunk.readUInt32BE(offset));
    this.#partialFill = chunk.copy(this.#partial, 0, offset + HEADER_BYTES, end);
  }

  // Feeds the frame in progress; returns the offset of the first byte after it, or -1 when
  // the bytes ended first.
  #continuePartial(chunk, end) {
    let offset = 0;
    if (this.#partial === null) {
      offset = chunk.copy(this.#header, this.#headerFill, 0, Math.min(end, HEADER_BYTES - this.#headerFill));
      this.#headerFill += offset;
      if (this.#headerFill < HEADER_BYTES) return -1;
      this.#partial = Buffer.allocUnsafe(this.#check(this.#header.readUInt32BE(0)));
      this.#partialFill = 0;
    }
    const copied = chunk.copy(this.#partial, this.#partialFill, offset, end);
    this.#partialFill += copied;
    if (this.#partialFill < this.#partial.length) return -1;
    const payload = this.#partial;
    this.#partial = null;
    this.#headerFill = 0;
    this.#onPayload(payload, 0, payload.length);
    return this.#stopped ? -1 : offset + copied;
  }

  #check(length) {
    if (length === 0) throw new ProtocolError('malformed_frame', 'a frame of length zero');
    if (length > this.#maxBytes) {
      throw new ProtocolError('frame_too_large', `a frame of ${length} bytes exceeds the limit of ${this.#maxBytes}`, {
        size: length,
        max: this.#maxBytes,
      });
    }
    return length;
  }
}

// One buffer holding every payload of `payloads` (strings or byte arrays), each behind
// its length; `lengths[i]` is the byte length of `payloads[i]`.
function joinFrames(payloads, lengths) {
  let total = 0;
  for (let i = 0; i < lengths.length; i++) total += HEADER_BYTES + lengths[i];
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < payloads.length; i++) {
    out.writeUInt32BE(lengths[i], offset);
    offset += HEADER_BYTES;
    const payload = payloads[i];
    if (typeof payload === 'string') out.write(payload, offset, lengths[i], 'utf8');
    else out.set(payload, offset);
    offset += lengths[i];
  }
  return out;
}

module.exports = { FrameDecoder, joinFrames, MAX_FRAME_BYTES };
