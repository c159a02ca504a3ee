import unittest

from helpers import SRC  # noqa: F401

from agtp_runtime.codec import FrameBuffer, JsonCodec, load_msgpack
from agtp_runtime.errors import ProtocolError

PING_JSON = bytes.fromhex(
    "0000001d7b2274797065223a2270696e67222c226e6f6e6365223a22702d31227d")
PING_MSGPACK = bytes.fromhex("0000001582a474797065a470696e67a56e6f6e6365a3702d31")


class FramingTest(unittest.TestCase):
    def test_encodes_the_spec_vector(self):
        self.assertEqual(JsonCodec().frame({"type": "ping", "nonce": "p-1"}), PING_JSON)

    def test_reads_frames_whatever_the_reads(self):
        stream = PING_JSON * 3
        for size in (1, 5, 33, 34, len(stream)):
            buffer = FrameBuffer(JsonCodec())
            frames = []
            for start in range(0, len(stream), size):
                frames += buffer.feed(stream[start:start + size])
            self.assertEqual(frames, [{"type": "ping", "nonce": "p-1"}] * 3, size)

    def test_detects_the_encoding_from_the_first_byte(self):
        buffer = FrameBuffer(None)
        self.assertEqual(buffer.feed(PING_JSON), [{"type": "ping", "nonce": "p-1"}])
        self.assertEqual(buffer.codec.name, "json")

    def test_refuses_malformed_frames(self):
        cases = {
            b"\x00\x00\x00\x00": "malformed_frame",
            b"\x00\x00\x00\x02[]": "malformed_frame",
            b"\x00\x00\x00\x02{}": "malformed_frame",
            b"\x00\x00\x00\x03{x}": "malformed_frame",
            b"\x01\x00\x00\x01": "frame_too_large",
        }
        for data, code in cases.items():
            with self.assertRaises(ProtocolError) as caught:
                FrameBuffer(JsonCodec(), max_frame_bytes=1024).feed(data)
            self.assertEqual(caught.exception.code, code, data)

    def test_checks_the_length_before_the_payload_arrives(self):
        with self.assertRaises(ProtocolError):
            FrameBuffer(JsonCodec(), max_frame_bytes=1024).feed(b"\x00\x10\x00\x00{")


@unittest.skipIf(load_msgpack() is None, "msgpack is not installed")
class MsgpackTest(unittest.TestCase):
    def test_encodes_and_reads_the_spec_vector(self):
        from agtp_runtime.codec import MsgpackCodec

        codec = MsgpackCodec(load_msgpack())
        self.assertEqual(codec.frame({"type": "ping", "nonce": "p-1"}), PING_MSGPACK)
        buffer = FrameBuffer(None)
        self.assertEqual(buffer.feed(PING_MSGPACK), [{"type": "ping", "nonce": "p-1"}])
        self.assertEqual(buffer.codec.name, "msgpack")

    def test_refuses_bin(self):
        with self.assertRaises(ProtocolError):
            FrameBuffer(None).feed(b"\x00\x00\x00\x0a\x81\xa4type\xc4\x02ab")
