//! Decoding a [`Frame`] in one pass when `type` is the payload's first entry, which is
//! where every encoder of this crate puts it. The variant's struct then reads the rest of
//! the map straight from the decoder. A payload with `type` elsewhere is buffered as a
//! JSON map first, then decoded the same way; both paths accept the same frames.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::frames::Frame;

impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Frame, D::Error> {
        deserializer.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Frame;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a frame: a map with a `type` entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field("type"));
        };
        if first == "type" {
            let name = map.next_value::<String>()?;
            return variant(&name, MapAccessDeserializer::new(map));
        }
        // `type` is not first: buffer the entries, then read the variant from the buffer.
        let mut rest = Map::new();
        let value = map.next_value::<Value>()?;
        rest.insert(first, value);
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            rest.insert(key, value);
        }
        let name = match rest.remove("type") {
            Some(Value::String(name)) => name,
            Some(other) => {
                return Err(de::Error::invalid_type(
                    unexpected(&other),
                    &"a frame type name",
                ))
            }
            None => return Err(de::Error::missing_field("type")),
        };
        variant(&name, Value::Object(rest)).map_err(de::Error::custom)
    }
}

/// Decodes the variant `name` from `rest`, the frame's other entries.
fn variant<'de, D: Deserializer<'de>>(name: &str, rest: D) -> Result<Frame, D::Error> {
    fn read<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        rest: D,
        wrap: fn(T) -> Frame,
    ) -> Result<Frame, D::Error> {
        T::deserialize(rest).map(wrap)
    }
    match name {
        "hello" => read(rest, Frame::Hello),
        "welcome" => read(rest, Frame::Welcome),
        "register" => read(rest, Frame::Register),
        "register_resume" => read(rest, Frame::RegisterResume),
        "register_ack" => read(rest, Frame::RegisterAck),
        "request" => read(rest, Frame::Request),
        "response" => read(rest, Frame::Response),
        "error" => read(rest, Frame::Error),
        "ping" => read(rest, Frame::Ping),
        "pong" => read(rest, Frame::Pong),
        "goodbye" => read(rest, Frame::Goodbye),
        "sign_request" => read(rest, Frame::SignRequest),
        "sign_response" => read(rest, Frame::SignResponse),
        "sign_error" => read(rest, Frame::SignError),
        other => Err(de::Error::unknown_variant(other, Frame::TYPE_NAMES)),
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}
