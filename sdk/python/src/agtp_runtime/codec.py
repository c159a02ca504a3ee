"""Framing (PROTOCOL.md §2) and the two payload encodings (§3)."""

import datetime
import json
from typing import Any, Dict, List, Optional

from .errors import ConfigError, ProtocolError

MAX_FRAME_BYTES = 16 * 1024 * 1024


def _plain(value: Any) -> Any:
    """What a body value the encoders do not know becomes: dates as ISO 8601 strings,
    sets and tuples as arrays. Anything else is the handler's mistake."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"a {type(value).__name__} cannot be sent in a reply")


class Codec:
    """Turns frames (dicts) into payload bytes and back."""

    name: str
    first_bytes: bytes

    def encode(self, frame: Dict[str, Any]) -> bytes:
        raise NotImplementedError

    def decode(self, payload: bytes) -> Any:
        raise NotImplementedError

    def frame(self, frame: Dict[str, Any]) -> bytes:
        payload = self.encode(frame)
        return len(payload).to_bytes(4, "big") + payload


class JsonCodec(Codec):
    name = "json"
    first_bytes = b"{"

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_plain)

    def encode(self, frame: Dict[str, Any]) -> bytes:
        return self._encoder.encode(frame).encode("utf-8")

    def decode(self, payload: bytes) -> Any:
        if payload[:1] != self.first_bytes:
            raise ProtocolError("malformed_frame", "a JSON payload must start with `{`")
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise ProtocolError("malformed_frame", f"payload is not JSON: {error}") from None


class MsgpackCodec(Codec):
    name = "msgpack"
    first_bytes = bytes(range(0x80, 0x90)) + b"\xde\xdf"

    def __init__(self, msgpack: Any) -> None:
        self._msgpack = msgpack
        self._packer = msgpack.Packer(use_bin_type=True, default=_plain)

    def encode(self, frame: Dict[str, Any]) -> bytes:
        return self._packer.pack(frame)

    def decode(self, payload: bytes) -> Any:
        if payload[0] not in self.first_bytes:
            raise ProtocolError("malformed_frame", "a MessagePack payload must be a map")
        try:
            return self._msgpack.unpackb(payload, raw=False, max_bin_len=0, max_ext_len=0)
        except (ValueError, TypeError, RecursionError, self._msgpack.ExtraData) as error:
            raise ProtocolError("malformed_frame", f"payload is not MessagePack: {error}") from None


def load_msgpack() -> Optional[Any]:
    try:
        import msgpack  # type: ignore[import-not-found]
    except ImportError:
        return None
    return msgpack


def choose_codec(encoding: str) -> Codec:
    """`auto` is MessagePack when the `msgpack` package can be imported, JSON otherwise."""
    if encoding == "json":
        return JsonCodec()
    msgpack = load_msgpack()
    if msgpack is not None:
        return MsgpackCodec(msgpack)
    if encoding == "msgpack":
        raise ConfigError("AGTP_ENCODING=msgpack needs the `msgpack` package (pip install msgpack)")
    return JsonCodec()


def codec_for(first_byte: int) -> Optional[Codec]:
    """The codec a peer chose, from the first byte of its first payload (§3)."""
    if first_byte == 0x7B:
        return JsonCodec()
    if first_byte in MsgpackCodec.first_bytes:
        msgpack = load_msgpack()
        return None if msgpack is None else MsgpackCodec(msgpack)
    return None


class FrameBuffer:
    """Splits a byte stream into frames, whatever the reads look like: several frames in one
    read, one frame across several. The length is checked before the payload is buffered."""

    def __init__(self, codec: Optional[Codec], max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.codec = codec
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> List[Any]:
        """The frames completed by `data`, decoded. Raises ProtocolError."""
        buffer = self._buffer
        if not buffer and len(data) >= 4:
            # The common case: a read that holds whole frames; no copy into the buffer.
            length = int.from_bytes(data[:4], "big")
            if length + 4 == len(data) and 0 < length <= self.max_frame_bytes:
                return [self._decode(data[4:])]
        buffer += data
        frames = []
        while len(buffer) >= 4:
            length = int.from_bytes(buffer[:4], "big")
            if length == 0:
                raise ProtocolError("malformed_frame", "zero-length frame")
            if length > self.max_frame_bytes:
                raise ProtocolError(
                    "frame_too_large", f"a {length}-byte frame exceeds the limit of {self.max_frame_bytes}"
                )
            if len(buffer) < 4 + length:
                break
            payload = bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            frames.append(self._decode(payload))
        return frames

    def _decode(self, payload: bytes) -> Any:
        if self.codec is None:
            self.codec = codec_for(payload[0])
            if self.codec is None:
                raise ProtocolError("malformed_frame", "the first payload is neither JSON nor MessagePack")
        frame = self.codec.decode(payload)
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ProtocolError("malformed_frame", "the payload is not a map with a string `type`")
        return frame
