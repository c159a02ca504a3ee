//! One log line: the fields every entry carries, how the writer seals an entry (hash and
//! signature), and how both start-up recovery and verification read one back.
//!
//! Both sides use [`parse_line`], so "a line the daemon can continue from" and "a line the
//! verifier treats as an entry" are the same thing.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};

use agtp_core::module::Signer;

use crate::canonical::{self, b64url, hex, sha256, unb64url, unhex32};
use crate::verify::Problem;

/// The entry format version written in every line's `v`.
pub const FORMAT_VERSION: u64 = 1;
/// The only accepted `alg`.
pub(crate) const ALG: &str = "EdDSA";
/// `prev` of the first entry of a chain: 32 zero bytes.
pub(crate) const GENESIS_PREV: [u8; 32] = [0; 32];

/// The two kinds of line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One exchange.
    Record,
    /// A signed Merkle tree head.
    Checkpoint,
}

/// A line that has the shape of an entry (signature not yet checked).
#[derive(Debug, Clone)]
pub(crate) struct ParsedEntry {
    pub(crate) map: Map<String, Value>,
    pub(crate) kind: Kind,
    pub(crate) seq: u64,
    pub(crate) prev: [u8; 32],
    /// The canonical bytes without `sig`: what is hashed and signed.
    pub(crate) signed_bytes: Vec<u8>,
    /// `SHA-256(signed_bytes)`: the chain link and the Merkle leaf.
    pub(crate) hash: [u8; 32],
}

impl ParsedEntry {
    /// A string field.
    pub(crate) fn str_field(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(Value::as_str)
    }

    /// A checkpoint's `reason`.
    pub(crate) fn reason(&self) -> Option<&str> {
        match self.kind {
            Kind::Checkpoint => self.str_field("reason"),
            Kind::Record => None,
        }
    }
}

/// Reads one line (without its `\n`) as an entry: a JSON object in canonical form, of a
/// known version, with `kind`, `seq` and `prev`.
pub(crate) fn parse_line(line: &[u8]) -> Result<ParsedEntry, Problem> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| Problem::NotAnEntry(format!("invalid json ({e})")))?;
    let Value::Object(map) = value else {
        return Err(Problem::NotAnEntry("not a json object".into()));
    };
    let mut full = Vec::with_capacity(line.len());
    canonical::encode_into(&Value::Object(map.clone()), &mut full);
    if full != line {
        return Err(Problem::NotAnEntry("not in canonical form".into()));
    }
    match map.get("v").and_then(Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        Some(other) => return Err(Problem::UnsupportedVersion(other)),
        None => return Err(Problem::NotAnEntry("no version".into())),
    }
    let kind = match map.get("kind").and_then(Value::as_str) {
        Some("record") => Kind::Record,
        Some("checkpoint") => Kind::Checkpoint,
        _ => return Err(Problem::NotAnEntry("no known kind".into())),
    };
    let seq = map
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| Problem::NotAnEntry("no seq".into()))?;
    let prev = map
        .get("prev")
        .and_then(Value::as_str)
        .and_then(unhex32)
        .ok_or_else(|| Problem::NotAnEntry("no prev".into()))?;
    let signed_bytes = canonical::encode_object_without(&map, "sig");
    let hash = sha256(&signed_bytes);
    Ok(ParsedEntry {
        map,
        kind,
        seq,
        prev,
        signed_bytes,
        hash,
    })
}

/// Checks `alg`, the presence of a signature, and the signature itself.
pub(crate) fn check_signature(entry: &ParsedEntry, key: &VerifyingKey) -> Result<(), Problem> {
    let alg = entry.str_field("alg").unwrap_or("");
    let unsigned = || Problem::Unsigned {
        alg: alg.to_owned(),
    };
    if alg != ALG {
        return Err(unsigned());
    }
    let sig = entry
        .str_field("sig")
        .filter(|s| !s.is_empty())
        .and_then(unb64url)
        .ok_or_else(unsigned)?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| unsigned())?;
    key.verify_strict(&entry.signed_bytes, &Signature::from_bytes(&sig))
        .map_err(|_| Problem::BadSignature {
            kid: entry.str_field("kid").unwrap_or("").to_owned(),
        })
}

/// A sealed entry, ready to append.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    /// The canonical line, with its trailing `\n`.
    pub(crate) line: Vec<u8>,
    /// The entry hash.
    pub(crate) hash: [u8; 32],
}

/// Completes `body` with the chain fields, hashes and signs it.
pub(crate) fn seal(
    mut body: Map<String, Value>,
    seq: u64,
    prev: &[u8; 32],
    signer: &dyn Signer,
) -> Sealed {
    body.insert("v".into(), FORMAT_VERSION.into());
    body.insert("seq".into(), seq.into());
    body.insert("prev".into(), hex(prev).into());
    body.insert("alg".into(), ALG.into());
    body.insert("kid".into(), signer.key_id().into());
    body.remove("sig");
    let signed_bytes = canonical::encode_object_without(&body, "sig");
    let hash = sha256(&signed_bytes);
    let sig = signer.sign(&signed_bytes);
    body.insert("sig".into(), b64url(&sig).into());
    let mut line = canonical::encode(&Value::Object(body));
    line.push(b'\n');
    Sealed { line, hash }
}

/// A JSON array of hex hashes.
pub(crate) fn hex_list(hashes: &[[u8; 32]]) -> Value {
    Value::Array(hashes.iter().map(|h| Value::String(hex(h))).collect())
}

/// Reads a JSON array of hex hashes.
pub(crate) fn parse_hex_list(value: Option<&Value>) -> Option<Vec<[u8; 32]>> {
    value?
        .as_array()?
        .iter()
        .map(|v| v.as_str().and_then(unhex32))
        .collect()
}
