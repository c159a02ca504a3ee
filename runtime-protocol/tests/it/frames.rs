//! Frame shapes: round trips, the spec's examples, tolerance and rejection.

use std::collections::BTreeSet;

use runtime_protocol::*;
use serde_json::{json, Value};

use crate::support::all_frames;

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::MessagePack];

fn from_json_text(text: &str) -> Result<Frame> {
    Encoding::Json.decode(text.as_bytes())
}

/// The same frame as a MessagePack map, produced from the JSON text by a generic converter
/// (as another language's msgpack library would produce it).
fn msgpack_of_json_text(text: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(text).unwrap();
    rmp_serde::to_vec_named(&value).unwrap()
}

#[test]
fn every_frame_round_trips_in_both_encodings() {
    for frame in all_frames() {
        for enc in BOTH {
            let payload = enc.encode(&frame).unwrap();
            assert_eq!(
                Encoding::sniff(payload[0]),
                Some(enc),
                "{}",
                frame.type_name()
            );
            assert_eq!(
                enc.decode(&payload).unwrap(),
                frame,
                "{enc} {}",
                frame.type_name()
            );
        }
    }
}

#[test]
fn the_samples_cover_every_frame_type() {
    let seen: BTreeSet<&str> = all_frames().iter().map(Frame::type_name).collect();
    let known: BTreeSet<&str> = Frame::TYPE_NAMES.iter().copied().collect();
    assert_eq!(seen, known);
}

#[test]
fn json_payloads_put_the_type_first() {
    let payload = Encoding::Json
        .encode(&Frame::Goodbye(Goodbye { reason: None }))
        .unwrap();
    assert_eq!(payload, br##"{"type":"goodbye"}"##);
}

const SPEC_EXAMPLES: &[&str] = &[
    r##"{"type":"hello","gateway_versions":["1.0"],
        "module":{"id":"mod_php","version":"2.1.0","runtime":"PHP 8.3","pid":77},
        "capabilities":["registered_function"],"cached_manifest_hash":"sha256:00ff"}"##,
    r##"{"type":"hello","gateway_versions":["1.0"],"module":{"id":"m","version":"1"}}"##,
    r##"{"type":"welcome","gateway_version":"1.0",
        "daemon":{"version":"agtpd 0.1.0","server_id":"srv","catalog_version":"1.0.0"},
        "capabilities":["registered_function"]}"##,
    r##"{"type":"register","manifest_hash":"sha256:00ff",
        "endpoints":[{"method":"BOOK","path":"/room","handler_reference":"app.book",
          "input_schema_ref":"#/schemas/in","output_schema_ref":"#/schemas/out",
          "errors":["room_unavailable"],"required_scopes":["booking:write"]}],
        "schemas":{"in":{"type":"object"},"out":{"type":"object"}}}"##,
    r##"{"type":"register_resume","manifest_hash":"sha256:00ff"}"##,
    r##"{"type":"register_ack","ok":true,"resolved":["BOOK /room"]}"##,
    r##"{"type":"register_ack","ok":false,
        "errors":[{"endpoint":"BOOK /room","reason":"handler_not_found","detail":"nope"}]}"##,
    r##"{"type":"request","request_id":"r-1",
        "envelope":{"method":"BOOK","path":"/room","agent_id":"a1","principal_id":"p",
          "authority_scope":["booking:write"],"session_id":"s","task_id":"t","request_id":"r-1",
          "headers":{"agent-id":"a1"},"input":{"guest":"Ann","nights":2}},
        "trust":{"verified":true,"agent_id":"a1","agent_cert_fingerprint":null,
          "method":"agent_id_header"}}"##,
    r##"{"type":"response","request_id":"r-1",
        "envelope":{"status":200,"headers":{"Idempotency-Key":"k"},"body":{"id":"x"}}}"##,
    r##"{"type":"response","request_id":"r-1",
        "envelope":{"endpoint_error":{"code":"room_unavailable","message":"full",
          "details":{"room_type":"suite"}}}}"##,
    r##"{"type":"error","request_id":"r-1","code":"handler_exception","message":"boom",
        "details":{"exception_type":"TypeError"}}"##,
    r##"{"type":"error","code":"frame_too_large","message":"too big","details":{"size":1}}"##,
    r##"{"type":"ping","nonce":"p-1"}"##,
    r##"{"type":"pong","nonce":"p-1"}"##,
    r##"{"type":"goodbye","reason":"shutdown"}"##,
    r##"{"type":"sign_request","operation_id":"op","data_b64":"AQID"}"##,
    r##"{"type":"sign_response","operation_id":"op","kid":"k1","alg":"Ed25519",
        "signature_b64":"AA"}"##,
    r##"{"type":"sign_error","operation_id":"op","code":"sign_failure","message":"bad"}"##,
];

#[test]
fn the_spec_examples_parse_and_msgpack_maps_of_them_parse_identically() {
    for text in SPEC_EXAMPLES {
        let frame = from_json_text(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let again = Encoding::MessagePack
            .decode(&msgpack_of_json_text(text))
            .unwrap();
        assert_eq!(frame, again, "{text}");
    }
}

#[test]
fn a_request_example_reads_into_typed_fields() {
    let Frame::Request(req) = from_json_text(SPEC_EXAMPLES[7]).unwrap() else {
        panic!("not a request")
    };
    assert_eq!(req.envelope.input, json!({"guest": "Ann", "nights": 2}));
    assert_eq!(req.envelope.headers["agent-id"], "a1");
    assert_eq!(req.trust.unwrap().method, TrustMethod::AgentIdHeader);
    assert_eq!(req.deadline_ms, None);
}

#[test]
fn a_reply_without_status_or_headers_defaults_to_200_and_no_headers() {
    let text = r##"{"type":"response","request_id":"r","envelope":{"headers":null,"body":{}}}"##;
    let Frame::Response(resp) = from_json_text(text).unwrap() else {
        panic!()
    };
    assert_eq!(
        resp.envelope,
        ResponseEnvelope::Reply(Reply::new(json!({})))
    );
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let text = r##"{"type":"hello","future":1,"gateway_versions":["1.0"],
        "module":{"id":"m","version":"1","pool":"p","colour":"blue"}}"##;
    for payload in [text.as_bytes().to_vec(), msgpack_of_json_text(text)] {
        let Frame::Hello(h) = Encoding::sniff(payload[0])
            .unwrap()
            .decode(&payload)
            .unwrap()
        else {
            panic!("not a hello")
        };
        assert_eq!(h.module.pool_name(), "p");
    }
}

#[test]
fn the_pool_falls_back_to_default() {
    let Frame::Hello(h) = from_json_text(SPEC_EXAMPLES[1]).unwrap() else {
        panic!()
    };
    assert_eq!(h.module.pool_name(), DEFAULT_POOL);
    assert_eq!(DEFAULT_POOL, "default");
}

#[test]
fn an_unknown_frame_type_is_a_typed_error_in_both_encodings() {
    let text = r##"{"type":"outbound_request","operation_id":"o","uri":"agtp://x","method":"Q"}"##;
    for (enc, payload) in [
        (Encoding::Json, text.as_bytes().to_vec()),
        (Encoding::MessagePack, msgpack_of_json_text(text)),
    ] {
        let err = enc.decode(&payload).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownFrameType(t) if t == "outbound_request"),
            "{err}"
        );
        assert_eq!(err.wire_code(), Some(ErrorCode::MalformedFrame));
    }
}

#[test]
fn wrong_shapes_are_malformed_not_unknown() {
    let cases: &[&str] = &[
        r##"{"nonce":"p"}"##,
        r##"{"type":"ping"}"##,
        r##"{"type":7}"##,
        r##"["ping"]"##,
        r##""ping""##,
        r##"{"type":"ping","nonce":"p"} trailing"##,
    ];
    for text in cases {
        let err = from_json_text(text).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{text}: {err}");
    }
}

#[test]
fn trailing_bytes_after_a_msgpack_frame_are_malformed() {
    let mut payload = Encoding::MessagePack
        .encode(&Frame::Ping(Ping { nonce: "n".into() }))
        .unwrap();
    payload.push(0xc0);
    assert!(matches!(
        Encoding::MessagePack.decode(&payload),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn unknown_code_values_are_kept_verbatim() {
    let text = r##"{"type":"error","code":"quota_exceeded","message":"m"}"##;
    let frame = from_json_text(text).unwrap();
    let Frame::Error(e) = &frame else { panic!() };
    assert_eq!(e.code, ErrorCode::Other("quota_exceeded".into()));
    assert_eq!(e.request_id, None);
    assert_eq!(Encoding::Json.encode(&frame).unwrap(), text.as_bytes());
}

#[test]
fn a_protocol_error_becomes_an_error_frame_without_request_id() {
    let err = Error::FrameTooLarge { len: 20, max: 10 };
    let frame = err.to_error_frame().unwrap();
    assert_eq!(frame.code, ErrorCode::FrameTooLarge);
    assert_eq!(frame.request_id, None);
    assert_eq!(frame.details, Some(json!({"size": 20, "max": 10})));
    assert!(Error::Io(std::io::ErrorKind::BrokenPipe.into())
        .to_error_frame()
        .is_none());
}

#[test]
fn error_messages_are_lowercase_without_a_trailing_period() {
    let errors = [
        Error::FrameTooLarge { len: 20, max: 10 },
        Error::EmptyFrame,
        Error::Malformed("json: x".into()),
        Error::UnknownFrameType("x".into()),
        Error::UnknownEncoding(0x01),
        Error::Encode("x".into()),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
    }
}

#[test]
fn version_negotiation_takes_the_runtimes_first_supported_choice() {
    assert_eq!(
        negotiate_version(&["2.0".into(), "1.0".into()]),
        Some(PROTOCOL_VERSION)
    );
    assert_eq!(negotiate_version(&["0.9".into()]), None);
    assert_eq!(negotiate_version(&[]), None);
}

#[test]
fn register_new_hashes_endpoints_and_schemas_together() {
    let Frame::Register(reg) = &all_frames()[2] else {
        panic!()
    };
    assert_eq!(
        reg.manifest_hash,
        Register::hash_of(&reg.endpoints, &reg.schemas)
    );
    let mut changed = reg.schemas.clone();
    changed.insert("book.output".into(), json!({"type": "array"}));
    assert_ne!(
        reg.manifest_hash,
        Register::hash_of(&reg.endpoints, &changed)
    );
    assert!(reg.manifest_hash.starts_with("sha256:") && reg.manifest_hash.len() == 71);
}

#[test]
fn deeply_nested_payloads_are_malformed_not_a_stack_overflow() {
    let depth = 100_000;
    let json = format!(
        r#"{{"type":"ping","nonce":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(matches!(from_json_text(&json), Err(Error::Malformed(_))));

    let mut msgpack = vec![0x82, 0xa4];
    msgpack.extend_from_slice(b"type");
    msgpack.push(0xa4);
    msgpack.extend_from_slice(b"ping");
    msgpack.push(0xa5);
    msgpack.extend_from_slice(b"nonce");
    msgpack.extend(std::iter::repeat(0x91).take(depth)); // one-element arrays
    msgpack.push(0xc0);
    assert!(matches!(
        Encoding::MessagePack.decode(&msgpack),
        Err(Error::Malformed(_))
    ));
}
