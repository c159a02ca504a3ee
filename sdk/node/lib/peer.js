'use strict';

// The daemon's end of one gateway connection, for the test daemon and this package's own
// tests: frames in, in order, and frames out, through the same framing and codecs as the
// runtime.

const { FrameDecoder, joinFrames, MAX_FRAME_BYTES } = require('./framing');
const { detectCodec, payloadLength, json } = require('./codec');
const { checkFrame, FROM_RUNTIME } = require('./frames');
const { ProtocolError } = require('./errors');

class DaemonPeer {
  #socket;
  #decoder;
  #codec = null;
  #frames = [];
  #waiters = [];
  #ended = false;
  #failure = null;

  constructor(socket, { maxFrameBytes = MAX_FRAME_BYTES } = {}) {
    this.#socket = socket;
    this.#decoder = new FrameDecoder(maxFrameBytes, (buffer, start, end) => this.#onPayload(buffer, start, end));
    this.closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('data', (chunk) => {
      try {
        this.#decoder.push(chunk);
      } catch (error) {
        this.#reject(error);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#ended = true;
      this.#settle();
    });
  }

  // The encoding the runtime chose with its first frame: `json`, `msgpack`, or null before.
  get encoding() {
    return this.#codec?.name ?? null;
  }

  // What the runtime sent that broke the protocol, if anything (a ProtocolError).
  get failure() {
    return this.#failure;
  }

  get isClosed() {
    return this.#ended;
  }

  // The next frame from the runtime; null once the connection closed with nothing left.
  // Rejects after `timeoutMs`, or with the ProtocolError when the runtime broke the protocol.
  next(timeoutMs = 5000) {
    if (this.#frames.length > 0) return Promise.resolve(this.#frames.shift());
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, timer: null };
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new Error(`no frame from the runtime within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#waiters.push(waiter);
    });
  }

  // Writes `frames` in one write, in the runtime's encoding (JSON before it chose).
  send(...frames) {
    const codec = this.#codec ?? json;
    const payloads = frames.map((frame) => codec.encode(frame));
    this.sendBytes(joinFrames(payloads, payloads.map(payloadLength)));
  }

  sendBytes(bytes) {
    if (!this.#socket.destroyed && !this.#socket.writableEnded) this.#socket.write(bytes);
  }

  // Closes after the bytes already written.
  end() {
    this.#socket.end();
  }

  destroy() {
    this.#socket.destroy();
  }

  #onPayload(buffer, start, end) {
    this.#codec ??= detectCodec(buffer[start]);
    const frame = checkFrame(this.#codec.decode(buffer, start, end), FROM_RUNTIME);
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#frames.push(frame);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(frame);
  }

  // As the daemon does: an `error` frame, then the close.
  #reject(error) {
    this.#decoder.stop();
    this.#failure = error instanceof ProtocolError ? error : new ProtocolError('malformed_frame', String(error));
    this.send({ type: 'error', code: this.#failure.code, message: this.#failure.message });
    this.end();
    this.#settle();
  }

  #settle() {
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      if (this.#failure !== null) waiter.reject(this.#failure);
      else waiter.resolve(null);
    }
  }
}

module.exports = { DaemonPeer };
