"""The settings of a runtime: options given in code, else the command line, else the
environment (`AGTP_*`), else the defaults."""

import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

from .codec import MAX_FRAME_BYTES
from .errors import ConfigError

# §6.1: `hello.max_in_flight` is 1 to 4096.
MAX_IN_FLIGHT_LIMIT = 4096
MAX_CONNECTIONS = 1024
ENCODINGS = ("auto", "json", "msgpack")


@dataclass(frozen=True)
class Settings:
    socket: str
    pool: str = "default"
    connections: int = 2
    max_in_flight: int = 64
    encoding: str = "auto"
    max_frame_bytes: int = MAX_FRAME_BYTES
    keepalive: float = 60.0


def parse_args(argv: Sequence[str], extra: Sequence[str] = ()) -> Dict[str, str]:
    """`--gateway-socket PATH` (or `--gateway-socket=PATH`) and the flags in `extra`; anything
    else is a usage error."""
    flags = {"--gateway-socket", *extra}
    found: Dict[str, str] = {}
    args: List[str] = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name not in flags:
            raise ConfigError(f"unknown argument `{arg}`")
        if not eq:
            if not args:
                raise ConfigError(f"`{name}` needs a value")
            value = args.pop(0)
        if not value:
            raise ConfigError(f"`{name}` needs a value")
        found[name] = value
    return found


def _integer(name: str, text: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, not `{text}`")
    return int(text)


def _checked(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"`{name}` must be an integer from {low} to {high}, not {value!r}")
    return value


def resolve(
    socket: Optional[str] = None,
    pool: Optional[str] = None,
    connections: Optional[int] = None,
    max_in_flight: Optional[int] = None,
    encoding: Optional[str] = None,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    keepalive: float = 60.0,
    argv: Optional[Sequence[str]] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Settings:
    args = parse_args([] if argv is None else argv)
    env = os.environ if env is None else env

    def variable(name: str) -> Optional[str]:
        text = env.get(name)
        return text if text else None

    socket = socket or args.get("--gateway-socket") or variable("AGTP_GATEWAY_SOCKET")
    if not socket:
        raise ConfigError("no gateway socket: set AGTP_GATEWAY_SOCKET or pass --gateway-socket PATH")
    if pool is None:
        pool = variable("AGTP_POOL") or "default"
    if connections is None:
        text = variable("AGTP_CONNECTIONS")
        connections = 2 if text is None else _integer("AGTP_CONNECTIONS", text, 1, MAX_CONNECTIONS)
    if max_in_flight is None:
        text = variable("AGTP_MAX_IN_FLIGHT")
        max_in_flight = 64 if text is None else _integer("AGTP_MAX_IN_FLIGHT", text, 0, MAX_IN_FLIGHT_LIMIT)
    if encoding is None:
        encoding = variable("AGTP_ENCODING") or "auto"
    if not isinstance(pool, str) or not pool:
        raise ConfigError("the pool must be a non-empty string")
    _checked("connections", connections, 1, MAX_CONNECTIONS)
    _checked("max_in_flight", max_in_flight, 0, MAX_IN_FLIGHT_LIMIT)
    _checked("max_frame_bytes", max_frame_bytes, 1024, 2**32 - 1)
    if encoding not in ENCODINGS:
        raise ConfigError(f"the encoding must be auto, json or msgpack, not `{encoding}`")
    if not keepalive > 0:
        raise ConfigError("`keepalive` must be a positive number of seconds")
    return Settings(socket, pool, connections, max_in_flight, encoding, max_frame_bytes, float(keepalive))
