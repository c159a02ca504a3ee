//! The canonical JSON encoding every log line is written in and hashed in, plus the small
//! digest and text helpers the rest of the crate shares.
//!
//! Canonical form: no whitespace, object keys sorted by their UTF-8 bytes, strings escaped
//! exactly as `serde_json` escapes them (non-ASCII written raw), integers in decimal.
//! The keys are sorted here, explicitly, so the encoding does not depend on whether some
//! other crate in the build turned on `serde_json/preserve_order`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Appends the canonical encoding of `value` to `out`.
pub(crate) fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => encode_object(map, None, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode_into(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => encode_str(s, out),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// The canonical encoding of `map`, leaving out the key `skip` (used for `sig`).
pub(crate) fn encode_object_without(map: &Map<String, Value>, skip: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    encode_object(map, Some(skip), &mut out);
    out
}

/// The canonical encoding of `value`.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    encode_into(value, &mut out);
    out
}

fn encode_object(map: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) {
    let mut keys: Vec<&String> = map.keys().filter(|k| Some(k.as_str()) != skip).collect();
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.push(b'{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encode_str(key, out);
        out.push(b':');
        if let Some(v) = map.get(key) {
            encode_into(v, out);
        }
    }
    out.push(b'}');
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    // Serialising a `str` cannot fail: it is valid UTF-8 and the writer is a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Exactly 32 bytes from 64 hex digits (either case); `None` otherwise.
pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Base64url without padding (JWS and the `sig` field).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub(crate) fn unb64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests;
