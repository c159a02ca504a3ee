"""A daemon in the test's process, to test handlers without agtpd.

`TestDaemon.start(app, endpoints=[...])` serves a Unix socket in a temporary directory and
has `app` connect to it, through the same framing, handshake and dispatch code as in
production; `await daemon.call(...)` then returns what the agent would get.
"""

import asyncio
import base64
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Union
from urllib.parse import parse_qsl

from .codec import Codec, FrameBuffer
from .errors import ProtocolError
from .routes import Router, Template
from .runtime import Runtime, Server

__all__ = ["RegistrationRefused", "Response", "TestDaemon"]


@dataclass
class Response:
    """What the agent gets for a call, and what agtpd would only log."""

    status: int
    body: Any = None
    headers: Optional[Dict[str, str]] = None
    # The declared error (`code`, `message`, `details`), or agtpd's problem, such as
    # `{"code": "handler-exception"}`.
    error: Optional[Dict[str, Any]] = None
    attribution_extra: Optional[Dict[str, Any]] = None
    # For a `handler_exception`: the runtime's `message` and `details`.
    exception: Optional[Dict[str, Any]] = None


def _manifest_hash(endpoints: List[Dict[str, Any]], schemas: Dict[str, Any]) -> str:
    canonical = json.dumps({"endpoints": endpoints, "schemas": schemas}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _spec(endpoint: Mapping[str, Any]) -> Dict[str, Any]:
    method, path = endpoint["method"].upper(), endpoint["path"]
    label = f"{method} {path}"
    return {
        "method": method,
        "path": path,
        "handler_reference": endpoint.get("handler_reference", ""),
        "input_schema_ref": f"#/schemas/{label} input",
        "output_schema_ref": f"#/schemas/{label} output",
        "errors": list(endpoint.get("errors", ())),
    }


class _Peer:
    """The daemon's side of one connection from the runtime."""

    def __init__(self, daemon: "TestDaemon", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.daemon = daemon
        self.reader = reader
        self.writer = writer
        self.frames = FrameBuffer(None)
        self.codec: Optional[Codec] = None
        self.limit = 1
        self.registered = False
        self.draining = False
        self.calls: Dict[str, "asyncio.Future[Dict[str, Any]]"] = {}
        self._ready: List[Dict[str, Any]] = []

    def send(self, frame: Dict[str, Any]) -> None:
        assert self.codec is not None
        if not self.writer.is_closing():
            self.writer.write(self.codec.frame(frame))

    async def next_frame(self) -> Optional[Dict[str, Any]]:
        while True:
            if self._ready:
                return self._ready.pop(0)
            data = await self.reader.read(65536)
            if not data:
                return None
            self._ready = self.frames.feed(data)
            self.codec = self.frames.codec

    async def run(self) -> None:
        try:
            if not await self._handshake():
                return
            while True:
                frame = await self.next_frame()
                if frame is None:
                    return
                self._on_frame(frame)
        except (ProtocolError, ConnectionError) as error:
            self.daemon.errors.append(str(error))
        finally:
            self.registered = False
            self.daemon._peers.discard(self)
            for call in self.calls.values():
                if not call.done():
                    call.set_result({"type": "closed"})
            self.writer.close()
            self.daemon._changed()

    async def _handshake(self) -> bool:
        hello = await self.next_frame()
        if hello is None or hello["type"] != "hello":
            raise ProtocolError("phase_violation", "the runtime did not start with hello")
        self.daemon.hellos.append(hello)
        options = self.daemon._options
        claimed = hello.get("capabilities") or []
        granted = ["registered_function"]
        if options["signing"]:
            granted.append("sign_request")
        welcome: Dict[str, Any] = {"type": "welcome", "gateway_version": "1.0",
                                   "daemon": {"version": "test", "server_id": "test-daemon"}}
        if options["multiplex"] and "multiplex" in claimed:
            granted.append("multiplex")
            self.limit = min(options["multiplex"], hello.get("max_in_flight") or 1)
            welcome["max_in_flight"] = self.limit
        welcome["capabilities"] = granted
        self.send(welcome)
        registration = self.daemon._registration
        if hello.get("cached_manifest_hash") == registration["manifest_hash"]:
            self.send({"type": "register_resume", "manifest_hash": registration["manifest_hash"]})
        else:
            self.send(registration)
        ack = await self.next_frame()
        if ack is None or ack["type"] != "register_ack":
            raise ConnectionError("the runtime closed without acknowledging the registration")
        if ack.get("ok") is not True:
            self.daemon.refusal = ack.get("errors") or []
            return False
        self.registered = True
        self.daemon._changed()
        return True

    def _on_frame(self, frame: Dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in ("response", "error"):
            request_id = frame.get("request_id")
            call = self.calls.pop(request_id, None) if request_id is not None else None
            if call is not None and not call.done():
                call.set_result(frame)
            elif request_id is None:
                self.writer.close()
            self.daemon._changed()
        elif kind == "sign_request":
            self.send(self.daemon._sign(frame))
        elif kind == "ping":
            self.send({"type": "pong", "nonce": frame.get("nonce")})
        elif kind == "pong":
            waiter = self.daemon._pings.pop(frame.get("nonce"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == "goodbye":
            self.draining = True
            if not self.calls:
                self.writer.close()


class TestDaemon:
    """Plays agtpd for one `Runtime`, in the current event loop."""

    __test__ = False  # not a test case, whatever its name says

    def __init__(self, runtime: Runtime, endpoints: Sequence[Mapping[str, Any]], *,
                 multiplex: Union[bool, int] = False, signing: bool = False, deadline_ms: int = 30_000,
                 connections: int = 1, pool: str = "default", encoding: str = "auto") -> None:
        specs = [_spec(endpoint) for endpoint in endpoints]
        schemas: Dict[str, Any] = {}
        for spec in specs:
            schemas[spec["input_schema_ref"][len("#/schemas/"):]] = {"type": "object"}
            schemas[spec["output_schema_ref"][len("#/schemas/"):]] = {}
        self.runtime = runtime
        self.manifest_hash = _manifest_hash(specs, schemas)
        self._registration = {"type": "register", "manifest_hash": self.manifest_hash,
                              "endpoints": specs, "schemas": schemas}
        self._router: Router[Dict[str, Any]] = Router([(s["method"], Template(s["path"]), s) for s in specs])
        self._options = {"multiplex": 64 if multiplex is True else int(multiplex), "signing": signing,
                         "deadline_ms": deadline_ms, "connections": connections, "pool": pool,
                         "encoding": encoding}
        self._key: Any = None
        self.public_key: Any = None
        if signing:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            self._key = Ed25519PrivateKey.generate()
            self.public_key = self._key.public_key()
        # Every `hello` the runtime sent, in order.
        self.hellos: List[Dict[str, Any]] = []
        self.refusal: Optional[List[Dict[str, Any]]] = None
        self.errors: List[str] = []
        self.server: Optional[Server] = None
        self._peers: Set[_Peer] = set()
        self._change = asyncio.Event()
        self._ids = itertools.count(1)
        self._pings: Dict[str, "asyncio.Future[None]"] = {}
        self._dir = tempfile.mkdtemp(prefix="agtp-test-")
        self.socket_path = os.path.join(self._dir, "gateway.sock")
        self._listener: Optional[asyncio.AbstractServer] = None

    @classmethod
    async def start(cls, runtime: Runtime, endpoints: Sequence[Mapping[str, Any]], **options: Any) -> "TestDaemon":
        """Starts a daemon, has `runtime` connect, and returns once every connection of the
        runtime is registered. Raises `RegistrationRefused` when the runtime refuses it."""
        daemon = cls(runtime, endpoints, **options)
        try:
            await daemon._start()
        except BaseException:
            await daemon.close()
            raise
        return daemon

    async def __aenter__(self) -> "TestDaemon":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _start(self) -> None:
        self._listener = await asyncio.start_unix_server(self._accept, self.socket_path)
        options = self._options
        self.server = await self.runtime.start(
            socket=self.socket_path, connections=options["connections"], pool=options["pool"],
            encoding=options["encoding"], argv=[], env={})
        await self._until(lambda: self.refusal is not None or self.server._done.done()  # type: ignore[union-attr]
                          or self._registered() >= options["connections"])
        if self.refusal is not None:
            raise RegistrationRefused(self.refusal)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _Peer(self, reader, writer)
        self._peers.add(peer)
        asyncio.ensure_future(peer.run())

    def _registered(self) -> int:
        return sum(1 for peer in self._peers if peer.registered)

    def _changed(self) -> None:
        self._change.set()

    async def _until(self, condition: Any) -> None:
        while not condition():
            self._change.clear()
            await self._change.wait()

    def _free_peer(self) -> Optional[_Peer]:
        room = [p for p in self._peers if p.registered and not p.draining and len(p.calls) < p.limit]
        return min(room, key=lambda p: len(p.calls), default=None)

    async def call(self, method: str, path: str, input: Optional[Mapping[str, Any]] = None, *,
                   headers: Optional[Mapping[str, str]] = None, agent_id: str = "", principal_id: str = "",
                   agent_scopes: Sequence[str] = (), authority_scopes: Sequence[str] = (),
                   session_id: Optional[str] = None, task_id: Optional[str] = None,
                   request_id: Optional[str] = None, agent_verified: bool = False,
                   agent_cert_fingerprint: Optional[str] = None,
                   agent_cert_extensions: Optional[Mapping[str, Any]] = None,
                   deadline_ms: Optional[int] = None) -> Response:
        """Calls the runtime as an agent would, and returns what the agent would get."""
        method = method.upper()
        found = self._router.route(method, path)
        if found is None:
            return Response(404, error={"code": "endpoint-not-found"})
        spec, params = found
        body = dict(input or {})
        if "?" in path:
            body.update(parse_qsl(path.split("?", 1)[1]))
        body.update(params)
        number = next(self._ids)
        gateway_id = f"gw-{number}"
        deadline_ms = self._options["deadline_ms"] if deadline_ms is None else deadline_ms
        envelope = {
            "method": method, "path": path.split("?", 1)[0], "input": body,
            "agent_id": agent_id, "principal_id": principal_id,
            "agent_scopes": list(agent_scopes), "authority_scope": list(authority_scopes),
            "session_id": session_id, "task_id": task_id, "request_id": request_id or f"req-{number}",
            "headers": {k.lower(): v for k, v in (headers or {}).items()},
            "agent_verified": agent_verified, "agent_cert_fingerprint": agent_cert_fingerprint,
            "agent_cert_extensions": dict(agent_cert_extensions or {}),
        }
        trust = {"verified": agent_verified, "agent_id": agent_id, "agent_cert_fingerprint": agent_cert_fingerprint,
                 "method": "agent_cert_mtls" if agent_verified else "agent_id_header"}
        loop = asyncio.get_running_loop()
        started = loop.time()
        peer = self._free_peer()
        while peer is None:
            # Every connection is busy, or the runtime is reconnecting: wait, as agtpd's
            # queue does, until the deadline.
            self._change.clear()
            try:
                await asyncio.wait_for(self._change.wait(), max(0.0, deadline_ms / 1000 - (loop.time() - started)))
            except asyncio.TimeoutError:
                return Response(503, error={"code": "runtime-busy"})
            peer = self._free_peer()
        answer: "asyncio.Future[Dict[str, Any]]" = loop.create_future()
        peer.calls[gateway_id] = answer
        peer.send({"type": "request", "request_id": gateway_id, "envelope": envelope, "trust": trust,
                   "deadline_ms": deadline_ms})
        left = max(0.0, deadline_ms / 1000 - (loop.time() - started))
        try:
            frame = await asyncio.wait_for(asyncio.shield(answer), left)
        except asyncio.TimeoutError:
            peer.send({"type": "error", "request_id": gateway_id, "code": "handler_timeout",
                       "message": "the handler did not answer in time"})
            if peer.limit == 1:
                # As agtpd does: the runtime may still be busy, so the connection is replaced.
                peer.calls.pop(gateway_id, None)
                peer.registered = False
                peer.writer.close()
            return Response(504, error={"code": "handler-timeout"})
        return self._outcome(spec, frame)

    @staticmethod
    def _outcome(spec: Dict[str, Any], frame: Dict[str, Any]) -> Response:
        if frame["type"] == "closed":
            return Response(503, error={"code": "runtime-failed"})
        if frame["type"] == "error":
            code = frame.get("code")
            problem = "handler-exception" if code == "handler_exception" else str(code).replace("_", "-")
            return Response(500, error={"code": problem},
                            exception={"message": frame.get("message"), "details": frame.get("details")})
        envelope = frame["envelope"]
        declared = envelope.get("endpoint_error")
        if declared is not None:
            if declared.get("code") not in spec["errors"]:
                return Response(500, error={"code": "undeclared-error-code", "declared": declared})
            return Response(422, error=declared)
        return Response(envelope.get("status", 200), body=envelope.get("body"), headers=envelope.get("headers"),
                        attribution_extra=envelope.get("attribution_extra"))

    def _sign(self, frame: Dict[str, Any]) -> Dict[str, Any]:
        operation = frame.get("operation_id")
        if self._key is None:
            return {"type": "sign_error", "operation_id": operation, "code": "signing_unavailable",
                    "message": "this daemon has no signing key"}
        encoded = frame["data_b64"]
        data = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        signature = base64.urlsafe_b64encode(self._key.sign(data)).rstrip(b"=").decode("ascii")
        return {"type": "sign_response", "operation_id": operation, "kid": "test-key", "alg": "Ed25519",
                "signature_b64": signature}

    async def ping(self) -> None:
        """Pings every registered connection and returns once all answered."""
        waiters = []
        for peer in [p for p in self._peers if p.registered]:
            nonce = f"ping-{next(self._ids)}"
            waiter: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
            self._pings[nonce] = waiter
            waiters.append(waiter)
            peer.send({"type": "ping", "nonce": nonce})
        await asyncio.gather(*waiters)

    async def close(self) -> int:
        """Stops the runtime (as SIGTERM would) and returns its exit status."""
        status = await self.server.close() if self.server is not None else 0
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
        for peer in list(self._peers):
            peer.writer.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        return status


class RegistrationRefused(Exception):
    """The runtime refused the registration; `errors` are its `register_ack` errors."""

    def __init__(self, errors: List[Dict[str, Any]]) -> None:
        super().__init__("the runtime refused the registration: " + "; ".join(
            f"{e.get('endpoint')}: {e.get('reason')}" for e in errors))
        self.errors = errors
