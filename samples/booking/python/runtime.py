#!/usr/bin/env python3
"""An agtpd runtime in one file of standard-library Python.

agtpd checks every AGTP call (agent, scopes, input schema) and then forwards it over a Unix
socket, "the gateway", to runtime processes such as this one. This file speaks that protocol
(runtime-protocol/PROTOCOL.md, version 1.0, JSON encoding); `handlers.py` beside it is the
service. Read it top to bottom:

  1. settings     where the socket is, which pool to join, how many connections to open;
  2. framing      a 4-byte big-endian length, then one JSON object;
  3. handlers     the interface a handler sees: `Context` in, a dict or `EndpointError` out;
  4. routing      registered endpoints bound to handler functions;
  5. connection   hello -> welcome -> register -> register_ack, then requests one at a time;
  6. runtime      N connections, reconnection with backoff, SIGTERM.

Run it (agtpd must be listening on the socket):

    AGTP_GATEWAY_SOCKET=/run/agtpd/gateway.sock python3 runtime.py [--handlers MODULE]
"""

import importlib
import json
import logging
import os
import platform
import signal
import socket
import struct
import sys
import threading
import time

log = logging.getLogger("runtime")

PROTOCOL_VERSION = "1.0"
# The daemon's default frame limit (PROTOCOL.md §2); checked before a payload is read.
MAX_FRAME_BYTES = 16 * 1024 * 1024
# How long the daemon may take to answer `hello` and to send its registration.
HANDSHAKE_TIMEOUT_S = 30
# Reconnection delays after an unexpected close (PROTOCOL.md §10); the last one repeats.
BACKOFF_S = (1, 2, 4, 8, 16, 30)
EXIT_USAGE = 64


# --- 1. settings -------------------------------------------------------------------------


class Settings:
    """What the runtime needs to know, from the environment and the command line."""

    def __init__(self, argv, env):
        self.socket_path = env.get("AGTP_GATEWAY_SOCKET", "")
        self.pool = env.get("AGTP_POOL", "default")
        self.handlers_module = "handlers"
        connections = env.get("AGTP_CONNECTIONS", "2")
        args = list(argv)
        while args:
            flag = args.pop(0)
            if flag in ("--gateway-socket", "--handlers") and args:
                value = args.pop(0)
                if flag == "--gateway-socket":
                    self.socket_path = value
                else:
                    self.handlers_module = value
            else:
                raise UsageError(f"unknown argument `{flag}`")
        if not self.socket_path:
            raise UsageError("set AGTP_GATEWAY_SOCKET or pass --gateway-socket PATH")
        if not connections.isdigit() or int(connections) < 1:
            raise UsageError(f"AGTP_CONNECTIONS must be a positive integer, not `{connections}`")
        self.connections = int(connections)


class UsageError(Exception):
    pass


# --- 2. framing --------------------------------------------------------------------------


class ProtocolError(Exception):
    """The daemon sent something this runtime cannot accept. `code` is the `error` frame's
    code (PROTOCOL.md §11) this runtime answers with before closing."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def encode_frame(frame):
    payload = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


def read_frame(sock):
    """The next frame as a dict, or None when the daemon closed the connection between frames."""
    header = read_exactly(sock, 4, eof_ok=True)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    if length == 0:
        raise ProtocolError("malformed_frame", "zero-length frame")
    if length > MAX_FRAME_BYTES:
        raise ProtocolError("frame_too_large", f"{length}-byte frame exceeds {MAX_FRAME_BYTES}")
    payload = read_exactly(sock, length, eof_ok=False)
    try:
        frame = json.loads(payload.decode("utf-8"))
    except ValueError as error:
        raise ProtocolError("malformed_frame", f"payload is not JSON: {error}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ProtocolError("malformed_frame", "payload is not an object with a string `type`")
    return frame


def read_exactly(sock, n, eof_ok):
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 16))
        if not chunk:
            if eof_ok and not chunks:
                return None
            raise ConnectionError("connection closed in the middle of a frame")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# --- 3. the handler interface ------------------------------------------------------------


class EndpointError(Exception):
    """Raise from a handler to answer with one of the endpoint's declared errors; the agent
    gets 422 with this code. Any other exception becomes `handler_exception` (a 500 whose
    detail only the daemon's log sees)."""

    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class Context:
    """Everything about a call besides its input: who calls, and until when."""

    def __init__(self, request, received_at):
        envelope = request["envelope"]
        self.request_id = request["request_id"]
        self.method = envelope["method"]
        self.path = envelope["path"]
        self.agent_id = envelope.get("agent_id", "")
        self.principal_id = envelope.get("principal_id", "")
        self.session_id = envelope.get("session_id")
        self.headers = envelope.get("headers") or {}
        self.trust = request.get("trust")
        self.envelope = envelope
        # `deadline_ms` counts from when this runtime read the frame (PROTOCOL.md §8.4).
        self.deadline = received_at + request.get("deadline_ms", 30_000) / 1000

    def time_left(self):
        """Seconds until the daemon gives up on this call (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


# --- 4. routing --------------------------------------------------------------------------


class Endpoint:
    """One registered endpoint, bound to the function that serves it."""

    def __init__(self, spec, handler):
        self.method = spec["method"]
        self.path = spec["path"]
        self.key = f"{self.method} {self.path}"
        self.handler = handler
        self.segments = self.path.strip("/").split("/")

    def matches(self, method, path):
        parts = path.strip("/").split("/")
        if method != self.method or len(parts) != len(self.segments):
            return False
        return all(s.startswith("{") or s == p for s, p in zip(self.segments, parts))

    def precedence(self):
        # A literal segment beats a `{param}` at the same position: `/rooms/availability`
        # wins over `/rooms/{room_id}` for the same method.
        return [not s.startswith("{") for s in self.segments]


def bind(endpoint_specs, handlers):
    """Binds each endpoint to `handlers[handler_reference]`. Returns (endpoints, failures);
    a failure is a `register_ack.errors` entry (PROTOCOL.md §7.2)."""
    endpoints, failures = [], []
    for spec in endpoint_specs:
        handler = handlers.get(spec["handler_reference"])
        if handler is None:
            failures.append({
                "endpoint": f"{spec['method']} {spec['path']}",
                "reason": "handler_not_found",
                "detail": f"no handler named `{spec['handler_reference']}` in this runtime",
            })
        else:
            endpoints.append(Endpoint(spec, handler))
    return endpoints, failures


def route(endpoints, method, path):
    candidates = [e for e in endpoints if e.matches(method, path)]
    return max(candidates, key=Endpoint.precedence, default=None)


# --- 5. one connection -------------------------------------------------------------------


class Fatal(Exception):
    """An operator has to fix something (refused registration, unsupported version); the
    runtime exits non-zero instead of reconnecting."""


class Connection:
    """One socket to the daemon. Its thread reads frames; each request runs on a worker
    thread, so a `ping` is answered even while a handler is busy."""

    def __init__(self, runtime, sock):
        self.runtime = runtime
        self.sock = sock
        self.lock = threading.Lock()  # guards the fields below and every write
        self.serving = False
        self.in_flight = None  # request_id of the request being handled
        self.draining = False
        self.closed = False
        self.registered = False

    def send(self, frame):
        with self.lock:
            self.send_locked(frame)

    def send_locked(self, frame):
        if not self.closed:
            self.sock.sendall(encode_frame(frame))

    def close_locked(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
            except OSError:
                pass

    def run(self):
        """Handshake, registration, then serving until the connection ends."""
        try:
            self.sock.settimeout(HANDSHAKE_TIMEOUT_S)
            self.handshake()
            self.register()
            self.sock.settimeout(None)
            self.serve()
        except ProtocolError as error:
            log.warning("protocol error from the daemon: %s (%s)", error, error.code)
            try:
                self.send({"type": "error", "code": error.code, "message": str(error)})
            except OSError:
                pass
        except (OSError, ConnectionError) as error:
            if not self.closed:
                log.warning("connection lost: %s", error)
        finally:
            with self.lock:
                self.close_locked()
            self.sock.close()

    def handshake(self):
        runtime = self.runtime
        hello = {
            "type": "hello",
            "gateway_versions": [PROTOCOL_VERSION],
            "module": {
                "id": runtime.module_id,
                "version": runtime.module_version,
                "runtime": f"{platform.python_implementation()} {platform.python_version()}",
                "pid": os.getpid(),
                "pool": runtime.settings.pool,
            },
            "capabilities": ["registered_function"],
        }
        cached = runtime.cached_registration()
        if cached is not None:
            hello["cached_manifest_hash"] = cached[0]
        self.send(hello)
        welcome = self.expect("welcome")
        log.info("connected to %s", welcome.get("daemon", {}).get("version", "the daemon"))

    def register(self):
        frame = self.expect("register", "register_resume")
        if frame["type"] == "register":
            manifest_hash, specs = frame["manifest_hash"], frame["endpoints"]
        else:
            cached = self.runtime.cached_registration()
            if cached is None or cached[0] != frame["manifest_hash"]:
                # We did not offer this hash; refuse without exiting: the next hello carries
                # no hash, so the daemon sends the full registration.
                self.runtime.forget_registration()
                self.send({"type": "register_ack", "ok": False, "errors": [{
                    "endpoint": "*", "reason": "unknown_manifest",
                    "detail": "register_resume for a manifest this runtime has not cached"}]})
                raise ConnectionError("register_resume for an unknown manifest")
            manifest_hash, specs = cached
        self.endpoints, failures = bind(specs, self.runtime.handlers)
        if failures:
            self.send({"type": "register_ack", "ok": False, "errors": failures})
            for failure in failures:
                log.error("cannot serve %s: %s", failure["endpoint"], failure["detail"])
            raise Fatal("the daemon registered endpoints this runtime has no handler for")
        self.runtime.remember_registration(manifest_hash, specs)
        self.send({"type": "register_ack", "ok": True,
                   "resolved": [e.key for e in self.endpoints]})
        self.registered = True
        log.info("serving %d endpoints (%s, pool %s)", len(self.endpoints),
                 "resumed" if frame["type"] == "register_resume" else "registered",
                 self.runtime.settings.pool)

    def expect(self, *types):
        frame = read_frame(self.sock)
        if frame is None:
            raise ConnectionError("the daemon closed the connection during the handshake")
        if frame["type"] == "error":
            if frame.get("code") == "gateway_version_unsupported":
                raise Fatal(f"the daemon does not speak {PROTOCOL_VERSION}: {frame.get('message')}")
            raise ConnectionError(f"the daemon refused: {frame.get('code')}: {frame.get('message')}")
        if frame["type"] not in types:
            raise ProtocolError("phase_violation", f"`{frame['type']}` during the handshake")
        return frame

    def serve(self):
        with self.lock:
            self.serving = True
            if self.draining:  # SIGTERM arrived during the handshake
                self.say_goodbye_locked()
        while True:
            frame = read_frame(self.sock)
            if frame is None:
                return
            kind = frame["type"]
            if kind == "request":
                self.start(frame)
            elif kind == "ping":
                self.send({"type": "pong", "nonce": frame.get("nonce", "")})
            elif kind == "pong":
                pass
            elif kind == "goodbye":
                log.info("the daemon said goodbye (%s)", frame.get("reason", "no reason"))
                self.drain()
            elif kind == "error":
                log.warning("daemon error %s: %s", frame.get("code"), frame.get("message"))
                if frame.get("request_id") is None:
                    return  # a connection-level error ends the connection
                with self.lock:
                    if frame["request_id"] == self.in_flight:
                        self.in_flight = None  # e.g. handler_timeout: give the call up
            else:
                raise ProtocolError("phase_violation", f"`{kind}` while serving")

    def start(self, request):
        received_at = time.monotonic()
        with self.lock:
            if self.in_flight is not None or self.draining:
                raise ProtocolError("phase_violation", "a request while another is in flight")
            self.in_flight = request["request_id"]
        worker = threading.Thread(target=self.handle, args=(request, received_at), daemon=True)
        worker.start()

    def handle(self, request, received_at):
        request_id = request["request_id"]
        answer = self.answer(request, received_at)
        with self.lock:
            if self.in_flight != request_id:
                return  # the daemon gave up on this call (deadline) or the connection ended
            self.in_flight = None
            if time.monotonic() > received_at + request.get("deadline_ms", 30_000) / 1000:
                log.warning("request %s finished after its deadline; answer dropped", request_id)
                return
            try:
                self.send_locked(answer)
                if self.draining:
                    self.say_goodbye_locked()
            except OSError as error:
                log.warning("cannot answer request %s: %s", request_id, error)

    def answer(self, request, received_at):
        """Runs the handler and turns its outcome into a `response` or `error` frame."""
        request_id = request["request_id"]
        envelope = request["envelope"]
        endpoint = route(self.endpoints, envelope["method"], envelope["path"])
        try:
            if endpoint is None:
                raise LookupError(f"no endpoint bound for {envelope['method']} {envelope['path']}")
            body = endpoint.handler(envelope.get("input") or {}, Context(request, received_at))
            return {"type": "response", "request_id": request_id, "envelope": {"body": body}}
        except EndpointError as error:
            declared = {"code": error.code, "message": error.message}
            if error.details is not None:
                declared["details"] = error.details
            return {"type": "response", "request_id": request_id,
                    "envelope": {"endpoint_error": declared}}
        except Exception as error:  # noqa: BLE001 - any failure is reported, never fatal
            log.exception("handler for %s %s failed", envelope["method"], envelope["path"])
            return {"type": "error", "request_id": request_id, "code": "handler_exception",
                    "message": f"{type(error).__name__}: {error}",
                    "details": {"exception": type(error).__name__}}

    def drain(self):
        """Starts nothing new; closes now if idle, else right after the answer in flight."""
        with self.lock:
            self.draining = True
            if not self.serving:
                self.close_locked()
            elif self.in_flight is None:
                self.say_goodbye_locked()

    def say_goodbye_locked(self):
        try:
            self.send_locked({"type": "goodbye", "reason": "shutdown"})
        except OSError:
            pass
        self.close_locked()


# --- 6. the runtime ----------------------------------------------------------------------


class Runtime:
    def __init__(self, settings, handlers_module):
        self.settings = settings
        self.handlers = handlers_module.HANDLERS
        self.module_id = getattr(handlers_module, "MODULE_ID", "python-runtime")
        self.module_version = getattr(handlers_module, "MODULE_VERSION", "0.0.0")
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections = set()
        # (manifest_hash, endpoints) of the last registration applied, offered on reconnect
        # as `hello.cached_manifest_hash` so the daemon can answer `register_resume` (§7.3).
        self.cache = None
        self.exit_code = 0

    def cached_registration(self):
        with self.lock:
            return self.cache

    def remember_registration(self, manifest_hash, endpoints):
        with self.lock:
            self.cache = (manifest_hash, endpoints)

    def forget_registration(self):
        with self.lock:
            self.cache = None

    def run(self):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        slots = [threading.Thread(target=self.keep_connected, name=f"connection-{i}")
                 for i in range(self.settings.connections)]
        for slot in slots:
            slot.start()
        while any(slot.is_alive() for slot in slots):
            time.sleep(0.1)  # the main thread stays free to run the signal handler
        return self.exit_code

    def keep_connected(self):
        """Keeps one connection open: connects, serves, and reconnects after a close."""
        delays = iter(BACKOFF_S)
        delay = 0
        while not self.stopping.wait(delay):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.settings.socket_path)
            except OSError as error:
                sock.close()
                delay = next(delays, BACKOFF_S[-1])
                log.warning("cannot connect to %s: %s; retrying in %ss",
                            self.settings.socket_path, error, delay)
                continue
            connection = Connection(self, sock)
            with self.lock:
                self.connections.add(connection)
            if self.stopping.is_set():
                connection.drain()
            try:
                connection.run()
            except Fatal as error:
                log.error("%s; exiting", error)
                self.exit_code = 1
                self.stop()
            finally:
                with self.lock:
                    self.connections.discard(connection)
            if connection.registered:
                delays = iter(BACKOFF_S)  # a registered session restarts the backoff
            delay = next(delays, BACKOFF_S[-1])

    def stop(self, signum=None, frame=None):
        """SIGTERM: finish the requests in flight, say goodbye, and exit."""
        if signum is not None:
            log.info("signal %d: draining", signum)
        self.stopping.set()
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            connection.drain()


def main(argv):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings(argv, os.environ)
    except UsageError as error:
        print(f"runtime.py: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    handlers_module = importlib.import_module(settings.handlers_module)
    return Runtime(settings, handlers_module).run()


if __name__ == "__main__":
    # Run this file as the module `runtime`, the name handlers import it by, so that both
    # see the same `EndpointError` class (otherwise it would exist twice: here and there).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import runtime

    sys.exit(runtime.main(sys.argv[1:]))
