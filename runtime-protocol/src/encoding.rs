//! The two payload encodings and how a connection's encoding is recognised (PROTOCOL.md §3).

use std::fmt;
use std::io::Cursor;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::frames::Frame;

/// Deepest nesting accepted in a MessagePack payload; the same limit serde_json applies to JSON.
const MAX_DEPTH: usize = 128;

/// How a payload is encoded. Both ride the same length-prefixed framing; a connection uses one
/// for all its frames, fixed by its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// A UTF-8 JSON object, first byte `{`.
    Json,
    /// A MessagePack map with string keys (the same shape as the JSON object).
    MessagePack,
}

impl Encoding {
    /// Recognises the encoding from the first byte of a connection's first payload: `{` is
    /// JSON, a MessagePack map marker (fixmap `0x80..=0x8f`, map16 `0xde`, map32 `0xdf`) is
    /// MessagePack, anything else is neither.
    pub fn sniff(first_payload_byte: u8) -> Option<Encoding> {
        match first_payload_byte {
            b'{' => Some(Encoding::Json),
            0x80..=0x8f | 0xde | 0xdf => Some(Encoding::MessagePack),
            _ => None,
        }
    }

    /// Lower-case name, for logs and configuration (`json`, `msgpack`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::MessagePack => "msgpack",
        }
    }

    /// Encodes a frame as a payload (without the length prefix).
    pub fn encode(self, frame: &Frame) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        self.encode_into(frame, &mut payload)?;
        Ok(payload)
    }

    /// Encodes a frame as a payload (without the length prefix), appended to `out`.
    pub(crate) fn encode_into(self, frame: &Frame, out: impl std::io::Write) -> Result<()> {
        match self {
            Encoding::Json => {
                serde_json::to_writer(out, frame).map_err(|e| Error::Encode(e.to_string()))
            }
            // Named fields, so structs become maps keyed like the JSON object.
            Encoding::MessagePack => {
                let mut out = out;
                rmp_serde::encode::write_named(&mut out, frame)
                    .map_err(|e| Error::Encode(e.to_string()))
            }
        }
    }

    /// Decodes one payload (without the length prefix). Trailing bytes after the frame are
    /// malformed; an unknown `type` is [`Error::UnknownFrameType`].
    pub fn decode(self, payload: &[u8]) -> Result<Frame> {
        match self.decode_as::<Frame>(payload) {
            Ok(frame) => Ok(frame),
            Err(detail) => Err(self.classify(payload, detail)),
        }
    }

    fn decode_as<T: serde::de::DeserializeOwned>(self, payload: &[u8]) -> Result<T, String> {
        match self {
            Encoding::Json => serde_json::from_slice(payload).map_err(|e| format!("json: {e}")),
            Encoding::MessagePack => {
                let mut de = rmp_serde::Deserializer::new(Cursor::new(payload));
                de.set_max_depth(MAX_DEPTH);
                let value = T::deserialize(&mut de).map_err(|e| format!("msgpack: {e}"))?;
                let used = de.position();
                if used != payload.len() as u64 {
                    let extra = payload.len() as u64 - used.min(payload.len() as u64);
                    return Err(format!("msgpack: {extra} trailing bytes after the frame"));
                }
                Ok(value)
            }
        }
    }

    /// Tells an unknown frame type apart from a malformed payload, once decoding has failed.
    fn classify(self, payload: &[u8], detail: String) -> Error {
        let Ok(map) = self.decode_as::<Map<String, Value>>(payload) else {
            return Error::malformed(detail);
        };
        match map.get("type") {
            Some(Value::String(name)) if !Frame::TYPE_NAMES.contains(&name.as_str()) => {
                Error::unknown_type(name)
            }
            Some(_) => Error::malformed(detail),
            None => Error::malformed("missing `type` field"),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
