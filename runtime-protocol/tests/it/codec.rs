//! `FrameCodec`: length checks before allocation, partial input, sniffing.

use bytes::{BufMut, BytesMut};
use runtime_protocol::*;
use tokio_util::codec::{Decoder, Encoder};

use crate::support::all_frames;

fn ping(n: &str) -> Frame {
    Frame::Ping(Ping { nonce: n.into() })
}

fn encoded(frame: &Frame, encoding: Encoding) -> BytesMut {
    let mut buf = BytesMut::new();
    FrameCodec::new(encoding).encode(frame, &mut buf).unwrap();
    buf
}

#[test]
fn a_header_announcing_4_gib_is_rejected_at_once_without_growing_the_buffer() {
    let mut src = BytesMut::with_capacity(8);
    src.put_slice(&[0xff, 0xff, 0xff, 0xff, b'{', b'"', b't', b'y']);
    let err = FrameCodec::sniffing().decode(&mut src).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FrameTooLarge {
                len: 0xffff_ffff,
                max: DEFAULT_MAX_FRAME_LEN
            }
        ),
        "{err}"
    );
    assert!(src.capacity() < 1024, "buffer grew to {}", src.capacity());
    assert_eq!(err.wire_code(), Some(ErrorCode::FrameTooLarge));
}

#[test]
fn a_zero_length_frame_is_malformed() {
    let mut src = BytesMut::from(&[0u8, 0, 0, 0, b'{'][..]);
    let err = FrameCodec::sniffing().decode(&mut src).unwrap_err();
    assert!(matches!(err, Error::EmptyFrame), "{err}");
    assert_eq!(err.wire_code(), Some(ErrorCode::MalformedFrame));
}

#[test]
fn a_frame_of_exactly_the_limit_passes_and_one_byte_more_does_not() {
    let frame = ping("n");
    let buf = encoded(&frame, Encoding::Json);
    let len = buf.len() - LENGTH_PREFIX_LEN;

    let mut exact = FrameCodec::new(Encoding::Json).with_max_frame_len(len);
    assert_eq!(exact.decode(&mut buf.clone()).unwrap(), Some(frame.clone()));

    let mut small = FrameCodec::new(Encoding::Json).with_max_frame_len(len - 1);
    let err = small.decode(&mut buf.clone()).unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { len: l, max } if l == len as u64 && max == len - 1)
    );
    // The encoder enforces the same limit on what it sends.
    // A frame it refuses leaves what the buffer already held untouched.
    let mut dst = encoded(&ping("before"), Encoding::Json);
    let held = dst.clone();
    let err = small.encode(&frame, &mut dst).unwrap_err();
    assert!(matches!(err, Error::FrameTooLarge { .. }), "{err}");
    assert_eq!(dst, held);
}

#[test]
fn a_frame_arriving_byte_by_byte_decodes_once_complete() {
    let whole = encoded(&ping("slow"), Encoding::MessagePack);
    let mut codec = FrameCodec::new(Encoding::MessagePack);
    let mut src = BytesMut::new();
    for (i, byte) in whole.iter().enumerate() {
        src.put_u8(*byte);
        let got = codec.decode(&mut src).unwrap();
        if i + 1 < whole.len() {
            assert_eq!(got, None, "decoded early at byte {i}");
        } else {
            assert_eq!(got, Some(ping("slow")));
        }
    }
    assert!(src.is_empty());
}

#[test]
fn back_to_back_frames_decode_in_order_and_leave_the_rest_buffered() {
    let mut src = BytesMut::new();
    for frame in all_frames() {
        src.extend_from_slice(&encoded(&frame, Encoding::Json));
    }
    src.put_slice(&[0, 0]);
    let mut codec = FrameCodec::new(Encoding::Json);
    for frame in all_frames() {
        assert_eq!(codec.decode(&mut src).unwrap(), Some(frame));
    }
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert_eq!(&src[..], &[0, 0]);
}

#[test]
fn a_sniffing_codec_learns_msgpack_from_the_first_frame_and_keeps_it() {
    let mut codec = FrameCodec::sniffing();
    assert_eq!(codec.encoding(), None);
    let mut src = encoded(&ping("a"), Encoding::MessagePack);
    src.extend_from_slice(&encoded(&ping("b"), Encoding::Json));
    assert_eq!(codec.decode(&mut src).unwrap(), Some(ping("a")));
    assert_eq!(codec.encoding(), Some(Encoding::MessagePack));
    // A JSON frame on a MessagePack connection is malformed: the encoding does not change.
    assert!(matches!(codec.decode(&mut src), Err(Error::Malformed(_))));
    assert_eq!(codec.encoding(), Some(Encoding::MessagePack));
    // Replies now go out as MessagePack.
    let mut out = BytesMut::new();
    codec.encode(ping("c"), &mut out).unwrap();
    assert_eq!(out, encoded(&ping("c"), Encoding::MessagePack));
}

#[test]
fn a_sniffing_codec_learns_json_and_writes_json_before_it_knows() {
    let mut codec = FrameCodec::sniffing();
    let mut out = BytesMut::new();
    codec.encode(ping("early"), &mut out).unwrap();
    assert_eq!(out, encoded(&ping("early"), Encoding::Json));
    let mut src = encoded(&ping("a"), Encoding::Json);
    assert_eq!(codec.decode(&mut src).unwrap(), Some(ping("a")));
    assert_eq!(codec.encoding(), Some(Encoding::Json));
}

#[test]
fn a_first_payload_that_is_neither_encoding_is_rejected() {
    let mut src = BytesMut::from(&[0u8, 0, 0, 2, b'[', b']'][..]);
    let err = FrameCodec::sniffing().decode(&mut src).unwrap_err();
    assert!(matches!(err, Error::UnknownEncoding(b'[')), "{err}");
}

#[test]
fn sniffing_recognises_exactly_the_json_brace_and_msgpack_map_markers() {
    for byte in 0u8..=255 {
        let want = match byte {
            b'{' => Some(Encoding::Json),
            0x80..=0x8f | 0xde | 0xdf => Some(Encoding::MessagePack),
            _ => None,
        };
        assert_eq!(Encoding::sniff(byte), want, "byte 0x{byte:02x}");
    }
}

#[test]
fn a_msgpack_map16_header_from_another_library_is_accepted() {
    // Some encoders always write map16 (0xde) even for small maps.
    let mut payload = vec![0xde, 0x00, 0x02, 0xa4];
    payload.extend_from_slice(b"type");
    payload.push(0xa4);
    payload.extend_from_slice(b"pong");
    payload.push(0xa5);
    payload.extend_from_slice(b"nonce");
    payload.push(0xa1);
    payload.push(b'x');
    let mut src = BytesMut::new();
    src.put_u32(payload.len() as u32);
    src.extend_from_slice(&payload);
    let mut codec = FrameCodec::sniffing();
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        Some(Frame::Pong(Pong { nonce: "x".into() }))
    );
    assert_eq!(codec.encoding(), Some(Encoding::MessagePack));
}
