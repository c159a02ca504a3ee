"""Serve AGTP endpoints from Python behind agtpd (runtime-protocol/PROTOCOL.md, 1.0)."""

from .context import Context, Endpoint, Signature, Trust
from .errors import ConfigError, EndpointError, SigningError
from .reply import Reply
from .runtime import Runtime, Server

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "Context",
    "Endpoint",
    "EndpointError",
    "Reply",
    "Runtime",
    "Server",
    "Signature",
    "SigningError",
    "Trust",
]
