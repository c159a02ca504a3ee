//! A frame decodes the same wherever its `type` entry sits: first (how this crate's
//! encoders write it, read in one pass) or anywhere else (as other libraries may write it).

use runtime_protocol::*;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::support::all_frames;

/// A map serialised in the order of its entries.
struct InOrder<'a>(Vec<(&'a String, &'a Value)>);

impl Serialize for InOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// The frame's JSON object with `type` moved to the end, as JSON text and as MessagePack.
fn with_type_last(frame: &Frame) -> [(Encoding, Vec<u8>); 2] {
    let Value::Object(mut map) = serde_json::to_value(frame).unwrap() else {
        panic!("a frame is an object");
    };
    let name = map.remove("type").unwrap();
    let mut text = serde_json::to_string(&Value::Object(map)).unwrap();
    text.pop();
    let sep = if text.len() > 1 { "," } else { "" };
    text.push_str(&format!("{sep}\"type\":{name}}}"));
    let value: Value = serde_json::from_str(&text).unwrap();
    // Written in the text's order: `type` last on the wire too.
    let mut entries: Vec<(&String, &Value)> = value.as_object().unwrap().iter().collect();
    entries.sort_by_key(|(key, _)| *key == "type");
    let msgpack = rmp_serde::to_vec_named(&InOrder(entries)).unwrap();
    [
        (Encoding::Json, text.into_bytes()),
        (Encoding::MessagePack, msgpack),
    ]
}

#[test]
fn every_frame_decodes_the_same_with_its_type_last_in_both_encodings() {
    for frame in all_frames() {
        for (encoding, payload) in with_type_last(&frame) {
            assert_eq!(
                encoding.decode(&payload).unwrap(),
                frame,
                "{encoding} {}",
                frame.type_name()
            );
        }
    }
}

#[test]
fn an_unknown_or_missing_type_is_classified_the_same_wherever_it_sits() {
    let unknown = Encoding::Json
        .decode(br#"{"nonce":"p","type":"outbound_request"}"#)
        .unwrap_err();
    assert!(
        matches!(&unknown, Error::UnknownFrameType(t) if t == "outbound_request"),
        "{unknown}"
    );
    for text in [
        r#"{"nonce":"p","type":7}"#,
        r#"{"nonce":"p","type":"ping","x":[}"#,
    ] {
        let err = Encoding::Json.decode(text.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{text}: {err}");
    }
    let missing = Encoding::Json.decode(br#"{}"#).unwrap_err();
    assert!(matches!(missing, Error::Malformed(_)), "{missing}");
}
