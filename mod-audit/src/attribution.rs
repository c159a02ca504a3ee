//! The `Attribution-Record` and `Audit-ID` response headers: a JWS compact serialization
//! (RFC 7515 §3.1) signed with EdDSA through the daemon's [`Signer`], and the hex SHA-256
//! of that string. Each agent's records form a chain through `previous_audit_id`.
//!
//! JWS header: `{"alg":"EdDSA","kid":KID,"typ":"JWT"}`. Payload fields (empty ones left
//! out): `server_id`, `issued_at`, `status`, `agent_id`, `principal_id`, `session_id`,
//! `task_id`, `request_id`, `response_id`, `previous_audit_id`, and `extra` (the
//! handler's `attribution_extra`). Both JSON objects are in
//! this crate's canonical form. An agent's chain head is kept in memory (rebuilt from the
//! current log file at start-up) for at most [`MAX_AGENT_HEADS`] agents; agents past that
//! bound get records without `previous_audit_id`.

use std::sync::{Arc, Mutex, PoisonError};

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Map, Value};

use agtp_core::module::{Completion, Signer};

use crate::canonical::{self, b64url, hex, sha256, unb64url};
use crate::entry::ALG;
use crate::recover::Heads;

/// How many agents' chain heads are remembered.
pub const MAX_AGENT_HEADS: usize = 65_536;

/// Issues attribution records.
pub(crate) struct Attribution {
    signer: Arc<dyn Signer>,
    server_id: String,
    heads: Mutex<Heads>,
}

/// One issued record.
pub(crate) struct Issued {
    /// The JWS compact serialization.
    pub(crate) jws: String,
    /// `hex(SHA-256(jws))`.
    pub(crate) audit_id: String,
}

impl Attribution {
    pub(crate) fn new(signer: Arc<dyn Signer>, server_id: &str, heads: Heads) -> Self {
        Attribution {
            signer,
            server_id: server_id.to_owned(),
            heads: Mutex::new(heads),
        }
    }

    /// Signs the record for `done` and advances `agent`'s chain.
    pub(crate) fn issue(&self, done: &Completion<'_>, agent: Option<&str>, ts: &str) -> Issued {
        let request = done.request;
        let header = |name: &str| request.and_then(|r| r.headers.get(name));
        let mut payload = Map::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                payload.insert(key.to_owned(), v.into());
            }
        };
        put("server_id", Some(&self.server_id));
        put("issued_at", Some(ts));
        put("agent_id", agent);
        put("principal_id", done.cx.principal_id.as_deref());
        put("session_id", header("session-id"));
        put("task_id", header("task-id"));
        put("request_id", header("request-id"));
        put("response_id", done.response.headers.get("response-id"));
        payload.insert("status".into(), done.response.status.code().into());
        if let Some(extra) = crate::capture::extra(done) {
            payload.insert("extra".into(), extra.clone());
        }
        let head = json!({"alg": ALG, "kid": self.signer.key_id(), "typ": "JWT"});
        // The lock spans reading the head, signing and storing the new head, so two
        // exchanges of one agent never claim the same predecessor.
        let mut heads = self.heads.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = agent.and_then(|a| heads.get(a)) {
            payload.insert("previous_audit_id".into(), previous.clone().into());
        }
        let signing_input = format!(
            "{}.{}",
            b64url(&canonical::encode(&head)),
            b64url(&canonical::encode(&Value::Object(payload)))
        );
        let sig = self.signer.sign(signing_input.as_bytes());
        let jws = format!("{signing_input}.{}", b64url(&sig));
        let audit_id = hex(&sha256(jws.as_bytes()));
        if let Some(agent) = agent {
            if heads.len() < MAX_AGENT_HEADS || heads.contains_key(agent) {
                heads.insert(agent.to_owned(), audit_id.clone());
            }
        }
        Issued { jws, audit_id }
    }
}

/// Why an `Attribution-Record` does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributionError {
    /// Not three base64url segments of JSON.
    #[error("attribution record is not a jws compact serialization")]
    Malformed,
    /// `alg` is not `EdDSA` (an unsecured `none` record is never accepted).
    #[error("attribution record is not signed with EdDSA (alg {0:?})")]
    Unsigned(String),
    /// The signature does not verify with the key.
    #[error("attribution record signature does not verify")]
    BadSignature,
}

/// Verifies an `Attribution-Record` with `public_key` and returns its payload.
pub fn verify_attribution_record(
    jws: &str,
    public_key: &[u8; 32],
) -> Result<Value, AttributionError> {
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AttributionError::Malformed);
    };
    let json = |seg: &str| -> Result<Value, AttributionError> {
        let bytes = unb64url(seg).ok_or(AttributionError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| AttributionError::Malformed)
    };
    let header = json(h)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != ALG {
        return Err(AttributionError::Unsigned(alg.to_owned()));
    }
    let sig: [u8; 64] = unb64url(s)
        .and_then(|b| b.try_into().ok())
        .ok_or(AttributionError::Unsigned(alg.to_owned()))?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| AttributionError::BadSignature)?;
    let input = &jws[..h.len() + 1 + p.len()];
    key.verify_strict(input.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| AttributionError::BadSignature)?;
    json(p)
}

/// The `Audit-ID` of an `Attribution-Record`: `hex(SHA-256(jws))`.
pub fn audit_id(jws: &str) -> String {
    hex(&sha256(jws.as_bytes()))
}
