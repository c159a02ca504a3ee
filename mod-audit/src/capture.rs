//! What a record says about one exchange, taken from a [`Completion`]: the request line and
//! identifiers, the status actually written, the error code, the handler's
//! `attribution_extra` (as `extra`), the duration, and digests (or copies) of both bodies. Chain fields are added later by the writer.

use serde::Deserialize;
use serde_json::{Map, Value};

use agtp_core::module::Completion;

use crate::canonical::{b64url, hex, sha256};

/// Error bodies larger than this are not parsed for `error.code`.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The agent an exchange is attributed to: the resolved id, else the `Agent-ID` header.
pub(crate) fn agent_of(done: &Completion<'_>) -> Option<String> {
    done.cx.agent_id.clone().or_else(|| {
        done.request
            .and_then(|r| r.headers.get("agent-id"))
            .map(str::to_owned)
    })
}

/// The record body for `done` (without chain fields).
pub(crate) fn record_body(
    done: &Completion<'_>,
    agent: Option<&str>,
    ts: &str,
    include_bodies: bool,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            m.insert(key.to_owned(), v.into());
        }
    };
    put("kind", Some("record"));
    put("ts", Some(ts));
    put("agent", agent);
    put("principal", done.cx.principal_id.as_deref());
    let client = done.cx.client_address.map(|a| a.to_string());
    put("client", client.as_deref());
    put("route", done.cx.endpoint.as_ref().map(|e| e.path.as_str()));
    if let Some(request) = done.request {
        put("method", Some(&request.method));
        put("path", request.path.as_deref());
        put("session_id", request.headers.get("session-id"));
        put("task_id", request.headers.get("task-id"));
        put("request_id", request.headers.get("request-id"));
    }
    let response = done.response;
    put("response_id", response.headers.get("response-id"));
    let status = response.status;
    if status.class() != 2 {
        put("error_code", error_code(&response.body).as_deref());
    }
    m.insert("status".into(), status.code().into());
    if let Some(extra) = extra(done) {
        m.insert("extra".into(), extra.clone());
    }
    let micros = u64::try_from(done.elapsed.as_micros()).unwrap_or(u64::MAX);
    m.insert("duration_us".into(), micros.into());
    match done.request {
        Some(request) => {
            m.insert("input_sha256".into(), hex(&sha256(&request.body)).into());
            if include_bodies {
                insert_body(&mut m, "input_body", &request.body);
            }
        }
        None => {
            m.insert("unparsed".into(), true.into());
        }
    }
    m.insert("output_sha256".into(), hex(&sha256(&response.body)).into());
    if include_bodies {
        insert_body(&mut m, "output_body", &response.body);
    }
    m
}

/// The handler's `attribution_extra`, when it is a non-empty object.
pub(crate) fn extra<'a>(done: &Completion<'a>) -> Option<&'a Value> {
    done.cx
        .attribution_extra
        .as_ref()
        .filter(|extra| extra.as_object().is_some_and(|map| !map.is_empty()))
}

/// `key` as text when the body is UTF-8, else `key_b64` (base64url).
fn insert_body(m: &mut Map<String, Value>, key: &str, body: &[u8]) {
    match std::str::from_utf8(body) {
        Ok(text) => m.insert(key.to_owned(), text.into()),
        Err(_) => m.insert(format!("{key}_b64"), b64url(body).into()),
    };
}

/// `error.code` from a JSON error envelope.
fn error_code(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        error: Option<ErrorObject>,
    }
    #[derive(Deserialize)]
    struct ErrorObject {
        code: Option<Value>,
    }
    if body.len() > MAX_ERROR_BODY {
        return None;
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    match envelope.error?.code? {
        Value::String(code) => Some(code),
        Value::Number(code) => Some(code.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
