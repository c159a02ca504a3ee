from typing import Any, Mapping, Optional


class Reply:
    """A reply with more than a body: a 2xx `status`, response `headers`, and
    `attribution_extra` for the daemon's attribution record. A handler that returns
    anything else returns the body of a 200."""

    __slots__ = ("body", "status", "headers", "attribution_extra")

    def __init__(
        self,
        body: Any,
        status: int = 200,
        headers: Optional[Mapping[str, str]] = None,
        attribution_extra: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.body = body
        self.status = status
        self.headers = headers
        self.attribution_extra = attribution_extra

    def envelope(self) -> dict:
        envelope: dict = {"body": self.body, "status": self.status}
        if self.headers is not None:
            envelope["headers"] = dict(self.headers)
        if self.attribution_extra is not None:
            envelope["attribution_extra"] = dict(self.attribution_extra)
        return envelope

    def __repr__(self) -> str:
        return f"Reply({self.body!r}, status={self.status})"
