"""One connection to the daemon: handshake, registration, then serving (PROTOCOL.md §5)."""

import asyncio
import base64
import logging
import os
import platform
import sys
import traceback
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .codec import FrameBuffer
from .context import Context, Signature, Trust
from .errors import EndpointError, ProtocolError, SigningError
from .reply import Reply

if TYPE_CHECKING:
    from .runtime import Server

PROTOCOL_VERSION = "1.0"
# How long the daemon may take to welcome and register this connection.
HANDSHAKE_TIMEOUT = 30.0
# How long the daemon has to answer a ping (§10).
PONG_TIMEOUT = 30.0
NO_STRINGS: List[str] = []
NO_MAP: Dict[str, Any] = {}
if sys.version_info >= (3, 12):
    def _task(loop: asyncio.AbstractEventLoop, coro: Any) -> "asyncio.Task[None]":
        # Runs the first step at once, which saves a loop iteration for the many handlers
        # that finish without awaiting anything.
        return asyncio.Task(coro, loop=loop, eager_start=True)
else:
    def _task(loop: asyncio.AbstractEventLoop, coro: Any) -> "asyncio.Task[None]":
        return loop.create_task(coro)

log = logging.getLogger("agtp_runtime")


def _trust(value: Any) -> Optional[Trust]:
    if not isinstance(value, dict):
        return None
    fingerprint = value.get("agent_cert_fingerprint")
    method = value.get("method")
    agent_id = value.get("agent_id")
    return Trust(
        verified=value.get("verified") is True,
        agent_id=agent_id if isinstance(agent_id, str) else "",
        agent_cert_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
        method=method if isinstance(method, str) else None,
    )


def _failure(request_id: str, error: BaseException) -> Dict[str, Any]:
    return {
        "type": "error",
        "request_id": request_id,
        "code": "handler_exception",
        "message": f"{type(error).__name__}: {error}",
        "details": {
            "exception": type(error).__name__,
            "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        },
    }


class Connection(asyncio.Protocol):
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.loop = server.loop
        settings = server.settings
        self.codec = server.codec
        self.frames = FrameBuffer(server.codec, settings.max_frame_bytes)
        self.transport: Optional[asyncio.Transport] = None
        self.phase = "connecting"  # handshake, registration, serving, closed
        self.registered = False
        self.draining = False
        self._said_goodbye = False
        self.fatal: Optional[str] = None  # why the runtime must stop instead of reconnecting
        self.closed: "asyncio.Future[None]" = self.loop.create_future()
        self.multiplex = False
        self.limit = 1
        self.signing = False
        self.router: Any = None
        self.in_flight: Dict[str, Context] = {}
        self._work: Dict[str, List[Any]] = {}  # request_id -> [its task, its deadline timer]
        self._signs: Dict[str, "asyncio.Future[Signature]"] = {}
        self._next_operation = 0
        self._pending: List[bytes] = []  # answers written together at the end of this loop turn
        self._last_read = self.loop.time()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._ping: Optional[str] = None
        self._next_ping = 0

    # --- transport events ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.phase = "handshake"
        settings = self.server.settings
        capabilities = ["registered_function", "sign_request"]
        hello: Dict[str, Any] = {
            "type": "hello",
            "gateway_versions": [PROTOCOL_VERSION],
            "module": {
                "id": self.server.module_id,
                "version": self.server.module_version,
                "runtime": f"{platform.python_implementation()} {platform.python_version()}",
                "pid": os.getpid(),
                "pool": settings.pool,
            },
            "capabilities": capabilities,
        }
        if settings.max_in_flight > 1:
            capabilities.append("multiplex")
            hello["max_in_flight"] = settings.max_in_flight
        cached = self.server.cache
        if cached is not None:
            hello["cached_manifest_hash"] = cached[0]
        self._write(hello)
        self._timer = self.loop.call_later(HANDSHAKE_TIMEOUT, self._handshake_timeout)

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        try:
            for frame in self.frames.feed(data):
                self._on_frame(frame)
        except ProtocolError as error:
            log.warning("protocol error: %s (%s)", error, error.code)
            self._write({"type": "error", "code": error.code, "message": str(error)})
            self.close()
        except (KeyError, TypeError, AttributeError) as error:
            log.warning("malformed frame from the daemon: %r", error)
            self._write({"type": "error", "code": "malformed_frame", "message": f"missing or ill-typed field: {error}"})
            self.close()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.phase = "closed"
        if self._timer is not None:
            self._timer.cancel()
        for request_id in list(self.in_flight):
            self._abandon(request_id)
        for operation in self._signs.values():
            if not operation.done():
                operation.set_exception(SigningError("connection_closed", "the connection to the daemon closed"))
        self._signs.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    # --- frames --------------------------------------------------------------------------

    def _on_frame(self, frame: Dict[str, Any]) -> None:
        kind = frame["type"]
        phase = self.phase
        if phase == "serving":
            if kind == "request":
                self._start(frame)
            elif kind == "ping":
                self._write({"type": "pong", "nonce": frame.get("nonce", "")})
            elif kind == "pong":
                if frame.get("nonce") == self._ping:
                    self._ping = None
            elif kind in ("sign_response", "sign_error"):
                self._signed(frame)
            elif kind == "goodbye":
                log.info("the daemon said goodbye (%s)", frame.get("reason") or "no reason")
                self.drain()
            elif kind == "error":
                self._on_error(frame)
            else:
                raise ProtocolError("phase_violation", f"`{kind}` while serving")
        elif kind == "error":
            if frame.get("code") == "gateway_version_unsupported":
                self.fatal = f"the daemon does not speak protocol {PROTOCOL_VERSION}: {frame.get('message')}"
            else:
                log.warning("the daemon refused the connection: %s: %s", frame.get("code"), frame.get("message"))
            self.close()
        elif phase == "handshake" and kind == "welcome":
            self._welcome(frame)
        elif phase == "registration" and kind in ("register", "register_resume"):
            self._register(frame)
        elif phase != "closed":
            raise ProtocolError("phase_violation", f"`{kind}` during the {phase}")

    def _welcome(self, frame: Dict[str, Any]) -> None:
        if frame["gateway_version"] != PROTOCOL_VERSION:
            self.fatal = f"the daemon chose protocol {frame['gateway_version']!r}, not {PROTOCOL_VERSION}"
            self._write({"type": "goodbye"})
            self.close()
            return
        granted = frame.get("capabilities") or NO_STRINGS
        self.signing = "sign_request" in granted
        limit = frame.get("max_in_flight")
        if "multiplex" in granted and self.server.settings.max_in_flight > 1 and isinstance(limit, int) and limit > 1:
            self.multiplex = True
            self.limit = min(limit, self.server.settings.max_in_flight)
        self.phase = "registration"

    def _register(self, frame: Dict[str, Any]) -> None:
        manifest_hash = frame["manifest_hash"]
        resumed = frame["type"] == "register_resume"
        if resumed:
            cached = self.server.cache
            if cached is None or cached[0] != manifest_hash:
                # A hash this runtime did not offer: refuse without exiting; the next hello
                # offers none, so the daemon sends the whole registration.
                self.server.cache = None
                self._write({"type": "register_ack", "ok": False, "errors": [{
                    "endpoint": "*", "reason": "unknown_manifest",
                    "detail": "register_resume for a manifest this runtime has not cached"}]})
                self.close()
                return
            specs = cached[1]
        else:
            specs = frame["endpoints"]
            self.server.cache = None
        router, resolved, failures = self.server.runtime.bind(specs)
        if failures:
            for failure in failures:
                log.error("cannot serve %s: %s", failure["endpoint"], failure["detail"])
            self._write({"type": "register_ack", "ok": False, "errors": failures})
            self.fatal = "the daemon registered endpoints this runtime has no handler for"
            self.close()
            return
        self.server.cache = (manifest_hash, specs)
        self.router = router
        self._write({"type": "register_ack", "ok": True, "resolved": resolved})
        self.phase = "serving"
        self.registered = True
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self.server.settings.keepalive, self._keepalive)
        log.info(
            "serving %d endpoints (%s, pool %s%s)", len(resolved), "resumed" if resumed else "registered",
            self.server.settings.pool, f", {self.limit} in flight" if self.multiplex else "",
        )
        self.server.connection_registered(self)
        if self.draining:  # a SIGTERM came during the handshake
            self._goodbye()

    def _on_error(self, frame: Dict[str, Any]) -> None:
        request_id = frame.get("request_id")
        if request_id is None:
            log.warning("the daemon closes the connection: %s: %s", frame.get("code"), frame.get("message"))
            self.close()
            return
        log.warning("request %s: %s: %s", request_id, frame.get("code"), frame.get("message"))
        if request_id in self.in_flight:
            # The daemon gave up on the call (handler_timeout): stop the handler, and with
            # multiplex answer at once so that the request's slot frees up (§8.6).
            self._abandon(request_id)
            if self.multiplex:
                self._finish(request_id, {"type": "error", "request_id": request_id, "code": "handler_timeout",
                                          "message": "the daemon gave up on this request"}, abandoned=True)

    # --- requests ------------------------------------------------------------------------

    def _start(self, frame: Dict[str, Any]) -> None:
        request_id = frame["request_id"]
        envelope = frame["envelope"]
        if not isinstance(request_id, str) or not isinstance(envelope, dict):
            raise ProtocolError("malformed_frame", "a request needs a string `request_id` and a map `envelope`")
        # A request may cross this runtime's goodbye on the wire; it is served all the same.
        if request_id in self.in_flight or len(self.in_flight) >= self.limit:
            raise ProtocolError("phase_violation", "a request this connection has no room for")
        method = envelope["method"]
        path = envelope["path"]
        found = self.router.route(method, path)
        if found is None:
            self._write(_failure(request_id, LookupError(f"no endpoint bound for {method} {path}")))
            return
        (fn, is_async, endpoint), params = found
        deadline_ms = frame.get("deadline_ms")
        get = envelope.get
        ctx = Context(
            gateway_request_id=request_id,
            request_id=get("request_id") or "",
            method=method,
            path=path,
            params=params,
            endpoint=endpoint,
            agent_id=get("agent_id") or "",
            principal_id=get("principal_id") or "",
            agent_scopes=get("agent_scopes") or NO_STRINGS,
            authority_scopes=get("authority_scope") or NO_STRINGS,
            session_id=get("session_id"),
            task_id=get("task_id"),
            headers=get("headers") or NO_MAP,
            trust=_trust(frame.get("trust")),
            agent_verified=get("agent_verified") is True,
            agent_cert_fingerprint=get("agent_cert_fingerprint"),
            agent_cert_extensions=get("agent_cert_extensions") or NO_MAP,
            deadline_ms=deadline_ms,
            envelope=envelope,
            _connection=self,
        )
        data = get("input")
        if data is None:
            data = {}
        self.in_flight[request_id] = ctx
        timer = None
        if isinstance(deadline_ms, (int, float)):
            ctx._deadline_at = self.loop.time() + deadline_ms / 1000
            timer = self.loop.call_at(ctx._deadline_at, self._expire, request_id)
        # [task, deadline timer]; stored first, since an eager task may finish at once.
        work: List[Any] = [None, timer]
        self._work[request_id] = work
        if is_async:
            work[0] = _task(self.loop, self._run(request_id, fn, data, ctx))
        else:
            self.server.run_sync(fn, data, ctx).add_done_callback(
                lambda future: self._sync_done(request_id, future))

    async def _run(self, request_id: str, fn: Any, data: Any, ctx: Context) -> None:
        try:
            result = await fn(data, ctx)
        except asyncio.CancelledError:
            log.info("request %s was cancelled: nobody waits for its answer", request_id)
            return
        except EndpointError as error:
            self._finish(request_id, self._declared(request_id, error))
        except Exception as error:  # noqa: BLE001 - any failure is reported, never fatal
            log.exception("handler for %s %s failed", ctx.method, ctx.path)
            self._finish(request_id, _failure(request_id, error))
        else:
            self._finish(request_id, result, reply=True)

    def _sync_done(self, request_id: str, future: "asyncio.Future[Any]") -> None:
        error = future.exception()
        if error is None:
            self._finish(request_id, future.result(), reply=True)
        elif isinstance(error, EndpointError):
            self._finish(request_id, self._declared(request_id, error))
        else:
            ctx = self.in_flight.get(request_id)
            if ctx is not None and not ctx.cancelled.is_set():
                log.error("handler for %s %s failed", ctx.method, ctx.path, exc_info=error)
            self._finish(request_id, _failure(request_id, error))

    @staticmethod
    def _declared(request_id: str, error: EndpointError) -> Dict[str, Any]:
        declared: Dict[str, Any] = {"code": error.code, "message": error.message}
        if error.details is not None:
            declared["details"] = dict(error.details)
        return {"type": "response", "request_id": request_id, "envelope": {"endpoint_error": declared}}

    def _finish(self, request_id: str, answer: Any, reply: bool = False, abandoned: bool = False) -> None:
        """Sends the answer to a request in flight. The answer of a cancelled call is
        dropped, unless it is the one that tells the daemon the call was `abandoned`."""
        ctx = self.in_flight.get(request_id)
        if ctx is None or (ctx.cancelled.is_set() and not abandoned):
            return
        del self.in_flight[request_id]
        ctx._finished = True
        work = self._work.pop(request_id, None)
        if work is not None and work[1] is not None:
            work[1].cancel()
        if reply:
            envelope = answer.envelope() if type(answer) is Reply else {"body": answer}
            answer = {"type": "response", "request_id": request_id, "envelope": envelope}
        try:
            data = self.codec.frame(answer)
        except (TypeError, ValueError, OverflowError) as error:
            log.error("the answer to %s %s cannot be encoded: %s", ctx.method, ctx.path, error)
            data = self.codec.frame(_failure(request_id, error))
        if self.multiplex:
            if not self._pending:
                self.loop.call_soon(self._flush)
            self._pending.append(data)
        elif self.transport is not None:
            self.transport.write(data)
        if self.draining and not self.in_flight:
            self._goodbye()

    def _flush(self) -> None:
        if self._pending and self.transport is not None:
            self.transport.write(b"".join(self._pending))
        self._pending.clear()

    def _expire(self, request_id: str) -> None:
        ctx = self.in_flight.get(request_id)
        if ctx is not None:
            log.warning("request %s passed its deadline", request_id)
            self._abandon(request_id)

    def _abandon(self, request_id: str) -> None:
        """Tells the handler nobody waits for its answer any more."""
        ctx = self.in_flight.get(request_id)
        if ctx is None:
            return
        ctx.cancelled.set()
        work = self._work.get(request_id)
        if work is not None:
            task, timer = work
            if timer is not None:
                timer.cancel()
            if task is not None:
                task.cancel()
        if self.phase == "closed":
            self.in_flight.pop(request_id, None)
            self._work.pop(request_id, None)

    # --- signing -------------------------------------------------------------------------

    async def sign(self, request_id: str, data: bytes) -> Signature:
        if not self.signing:
            raise SigningError("not_granted", "the daemon did not grant sign_request: it has no signing key")
        if self.phase != "serving":
            raise SigningError("connection_closed", "the connection to the daemon closed")
        self._next_operation += 1
        operation = f"sign-{self._next_operation}"
        future: "asyncio.Future[Signature]" = self.loop.create_future()
        self._signs[operation] = future
        self._write({
            "type": "sign_request",
            "operation_id": operation,
            "data_b64": base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii"),
            "request_id": request_id,
        })
        return await future

    def _signed(self, frame: Dict[str, Any]) -> None:
        future = self._signs.pop(frame.get("operation_id"), None)
        if future is None or future.done():
            return
        if frame["type"] == "sign_error":
            future.set_exception(SigningError(frame.get("code") or "sign_failure", frame.get("message") or ""))
        else:
            encoded = frame["signature_b64"]
            signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            future.set_result(Signature(kid=frame.get("kid", ""), alg=frame.get("alg", "Ed25519"), signature=signature))

    # --- lifecycle -----------------------------------------------------------------------

    def drain(self) -> None:
        """Says goodbye, so that the daemon sends nothing new, and closes once the requests
        in flight are answered."""
        self.draining = True
        if self.phase in ("connecting", "handshake", "registration"):
            self.close()
        elif self.phase == "serving":
            self._goodbye()

    def _goodbye(self) -> None:
        if not self._said_goodbye:
            self._said_goodbye = True
            self._flush()
            self._write({"type": "goodbye", "reason": "shutdown"})
        if not self.in_flight:
            self.close()

    def close(self) -> None:
        if self.transport is not None and self.phase != "closed":
            self._flush()
            self.phase = "closing"
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _write(self, frame: Dict[str, Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.codec.frame(frame))

    def _handshake_timeout(self) -> None:
        if self.phase in ("handshake", "registration"):
            log.warning("the daemon did not register this connection within %.0f s", HANDSHAKE_TIMEOUT)
            self.close()

    def _keepalive(self) -> None:
        """Pings after a quiet keepalive interval; a daemon that does not answer is dead."""
        if self.phase != "serving":
            return
        now = self.loop.time()
        interval = self.server.settings.keepalive
        if self._ping is not None:
            log.warning("the daemon did not answer a ping; reconnecting")
            self.abort()
            return
        quiet = now - self._last_read
        if quiet >= interval and not self.in_flight:
            self._next_ping += 1
            self._ping = f"rt-{self._next_ping}"
            self._write({"type": "ping", "nonce": self._ping})
            self._timer = self.loop.call_later(PONG_TIMEOUT, self._keepalive)
        else:
            self._timer = self.loop.call_later(max(interval - quiet, 1.0), self._keepalive)
