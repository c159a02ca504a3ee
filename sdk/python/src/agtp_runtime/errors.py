"""The exceptions a handler raises, and those this package raises at it."""

from typing import Any, Mapping, Optional


class EndpointError(Exception):
    """A declared error: the agent gets 422 with `code`, which must be one of the endpoint's
    `errors`. Any other exception a handler raises becomes `handler_exception` (a 500)."""

    def __init__(self, code: str, message: str, details: Optional[Mapping[str, Any]] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class SigningError(Exception):
    """`ctx.sign()` failed. `code` is `not_granted` (the daemon has no signing key),
    `signing_unavailable` or `sign_failure` (from the daemon), `request_finished` (the call
    was already answered) or `connection_closed`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class ConfigError(ValueError):
    """A bad setting: an unknown argument, a malformed `AGTP_*` value, no socket."""


class ProtocolError(Exception):
    """The peer broke the protocol; `code` is the `error` frame's code (PROTOCOL.md §11)
    to answer with before closing."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
