//! Property tests: no input panics a decoder, and generated frames survive both encodings.

use std::collections::BTreeMap;
use std::io::Cursor;

use bytes::BytesMut;
use proptest::prelude::*;
use runtime_protocol::*;
use serde_json::{Map, Value};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::sample_request;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Dyadic fractions print and parse back exactly in both encodings.
        (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        prop_oneof![Just(0.1), Just(1e21), Just(1e-7), Just(-2.5e300)].prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(any::<String>(), json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

fn headers() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(any::<String>(), any::<String>(), 0..4)
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            json_value(),
            headers(),
            any::<Option<u64>>(),
            any::<String>()
        )
            .prop_map(|(input, headers, deadline_ms, id)| {
                let mut req = sample_request();
                req.request_id = id;
                req.envelope.input = input;
                req.envelope.headers = headers;
                req.deadline_ms = deadline_ms;
                Frame::Request(req)
            }),
        (
            any::<u16>(),
            headers(),
            json_value(),
            prop::option::of(object())
        )
            .prop_map(|(status, headers, body, extra)| Frame::Response(Response {
                request_id: "r".into(),
                envelope: ResponseEnvelope::Reply(Reply {
                    status,
                    headers,
                    body,
                    attribution_extra: extra.map(Value::Object),
                }),
            })),
        (
            any::<String>(),
            any::<String>(),
            prop::option::of(json_value())
        )
            .prop_map(|(code, message, details)| Frame::Response(Response {
                request_id: "r".into(),
                envelope: ResponseEnvelope::EndpointError(EndpointError {
                    code,
                    message,
                    // `null` details read back as absent.
                    details: details.filter(|d| !d.is_null()),
                }),
            })),
        (
            any::<Option<String>>(),
            any::<String>(),
            any::<String>(),
            prop::option::of(object())
        )
            .prop_map(
                |(request_id, code, message, details)| Frame::Error(ErrorFrame {
                    request_id,
                    code: ErrorCode::from(code.as_str()),
                    message,
                    details: details.map(Value::Object),
                })
            ),
        (
            any::<Vec<String>>(),
            any::<Option<String>>(),
            any::<Option<u64>>()
        )
            .prop_map(|(versions, pool, pid)| Frame::Hello(Hello {
                gateway_versions: versions,
                module: ModuleInfo {
                    id: "m".into(),
                    version: "1".into(),
                    runtime: None,
                    pid,
                    pool,
                },
                capabilities: vec![],
                cached_manifest_hash: None,
            })),
        object().prop_map(|schemas| Frame::Register(Register::new(vec![], schemas))),
        any::<String>().prop_map(|nonce| Frame::Ping(Ping { nonce })),
        any::<Option<String>>().prop_map(|r| Frame::Goodbye(Goodbye {
            reason: r.map(|r| GoodbyeReason::from(r.as_str())),
        })),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_codec(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut codec = FrameCodec::sniffing().with_max_frame_len(256);
        let mut src = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = codec.decode(&mut src) {}
    }

    #[test]
    fn arbitrary_payloads_never_panic_either_decoder(
        payload in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = Encoding::Json.decode(&payload);
        let _ = Encoding::MessagePack.decode(&payload);
    }

    #[test]
    fn arbitrary_msgpack_map_payloads_never_panic(
        marker in 0x80u8..=0x8f,
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut payload = vec![marker];
        payload.extend(rest);
        let _ = Encoding::MessagePack.decode(&payload);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_blocking_reader(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut r = Cursor::new(bytes);
        while let Ok(Some(_)) = read_frame(&mut r, 256) {}
    }

    #[test]
    fn generated_frames_survive_both_encodings(frame in frame()) {
        for enc in [Encoding::Json, Encoding::MessagePack] {
            let mut buf = BytesMut::new();
            FrameCodec::new(enc).encode(&frame, &mut buf).unwrap();
            let mut codec = FrameCodec::sniffing();
            prop_assert_eq!(codec.decode(&mut buf).unwrap(), Some(frame.clone()));
            prop_assert_eq!(codec.encoding(), Some(enc));
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn canonical_json_is_valid_json_for_the_same_value(value in json_value()) {
        let text = canonical_json(&value);
        let back: Value = serde_json::from_str(&text).unwrap();
        // Canonicalising twice changes nothing.
        prop_assert_eq!(canonical_json(&back), text);
    }
}
