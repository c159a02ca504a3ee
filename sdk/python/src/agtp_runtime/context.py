"""What a handler knows about a call besides its input."""

import asyncio
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Union

from .errors import SigningError

if TYPE_CHECKING:
    from .connection import Connection

# W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def _parse_traceparent(value: Optional[str]) -> Optional[Dict[str, str]]:
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    # Version 00 has exactly four fields; ff is never valid; later versions may add fields.
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return {"trace_id": trace_id, "flags": flags}


def _random_hex(size: int) -> str:
    while True:
        value = secrets.token_hex(size)
        if value.strip("0"):
            return value


@dataclass(frozen=True)
class Endpoint:
    """A registered endpoint, as the daemon described it."""

    method: str
    path: str
    handler_reference: str
    errors: Sequence[str]


@dataclass(frozen=True)
class Trust:
    """How the daemon established the agent's identity (PROTOCOL.md §8.1)."""

    verified: bool
    agent_id: str
    agent_cert_fingerprint: Optional[str]
    method: Optional[str]


@dataclass(frozen=True)
class Signature:
    kid: str
    alg: str
    signature: bytes  # 64 bytes of Ed25519


@dataclass(eq=False)
class Context:
    """One call: who makes it, on what, and until when. One per request."""

    gateway_request_id: str
    request_id: str
    method: str
    path: str
    params: Mapping[str, str]
    endpoint: Endpoint
    agent_id: str
    principal_id: str
    agent_scopes: List[str]
    authority_scopes: List[str]
    session_id: Optional[str]
    task_id: Optional[str]
    headers: Mapping[str, str]
    trust: Optional[Trust]
    agent_verified: bool
    agent_cert_fingerprint: Optional[str]
    agent_cert_extensions: Mapping[str, Any]
    deadline_ms: Optional[int]
    envelope: Mapping[str, Any] = field(repr=False)
    # Set when nobody waits for the answer any more: the deadline passed, the daemon gave
    # up on the call, or its connection closed. Async handlers are cancelled as well.
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    _deadline_at: float = field(default=float("inf"), repr=False)
    _connection: Optional["Connection"] = field(default=None, repr=False)
    _finished: bool = field(default=False, repr=False)
    _sign_lock: Optional[asyncio.Lock] = field(default=None, repr=False)

    def time_left(self) -> float:
        """Seconds until the daemon stops waiting for the answer; never negative, `inf`
        when the request carried no deadline."""
        return max(0.0, self._deadline_at - time.monotonic())

    @property
    def traceparent(self) -> Optional[str]:
        """The caller's `traceparent` header when it is valid W3C Trace Context."""
        value = self.headers.get("traceparent")
        return value.strip() if _parse_traceparent(value) is not None else None

    @property
    def tracestate(self) -> Optional[str]:
        return self.headers.get("tracestate") if self.traceparent is not None else None

    def child_traceparent(self) -> str:
        """A `traceparent` for a call this handler makes: the caller's trace with a new
        span, or a new sampled trace when the caller sent none."""
        parent = _parse_traceparent(self.traceparent)
        trace_id = parent["trace_id"] if parent else _random_hex(16)
        flags = parent["flags"] if parent else "01"
        return f"00-{trace_id}-{_random_hex(8)}-{flags}"

    async def sign(self, data: Union[str, bytes, bytearray, memoryview]) -> Signature:
        """Has the daemon sign `data` (bytes, or a string as UTF-8) with its Ed25519 key
        (PROTOCOL.md §9). Signatures of one call are made one after another."""
        if isinstance(data, str):
            payload = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
        else:
            raise TypeError("sign(data): `data` must be str or bytes")
        if self._sign_lock is None:
            self._sign_lock = asyncio.Lock()
        async with self._sign_lock:
            if self._finished or self.cancelled.is_set() or self._connection is None:
                raise SigningError("request_finished", "this call is no longer in flight")
            return await self._connection.sign(self.gateway_request_id, payload)

    def sign_sync(self, data: Union[str, bytes, bytearray, memoryview]) -> Signature:
        """`sign()` for a synchronous handler, which runs on a worker thread."""
        if self._connection is None:
            raise SigningError("request_finished", "this call is no longer in flight")
        future = asyncio.run_coroutine_threadsafe(self.sign(data), self._connection.loop)
        return future.result()
