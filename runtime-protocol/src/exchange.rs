//! The serving exchange: `request` and `response` frames (PROTOCOL.md §8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes::TrustMethod;

/// `request`: one call for the runtime to serve. At most one is in flight per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Daemon-chosen id; the `response` (or `error`) must carry it back.
    pub request_id: String,
    /// The validated call.
    pub envelope: RequestEnvelope,
    /// How the caller's identity was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    /// Milliseconds the runtime has to answer, counted from when it reads this frame. After
    /// that the daemon has already answered the agent with a timeout and closes the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

/// `request.envelope`: the call as the daemon validated it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// AGTP method (upper case).
    pub method: String,
    /// The path the agent called.
    pub path: String,
    /// The calling agent (empty for anonymous calls).
    #[serde(default)]
    pub agent_id: String,
    /// Whom the agent acts for (empty when not declared).
    #[serde(default)]
    pub principal_id: String,
    /// Scopes the agent has declared.
    #[serde(default)]
    pub agent_scopes: Vec<String>,
    /// Scopes claimed for this call (`Authority-Scope`).
    #[serde(default)]
    pub authority_scope: Vec<String>,
    /// `Session-ID`, passed through.
    #[serde(default)]
    pub session_id: Option<String>,
    /// `Task-ID`, passed through.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The agent-visible request id (usually equal to the frame's `request_id`).
    #[serde(default)]
    pub request_id: String,
    /// Request headers, names in lower case.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body, already validated against the endpoint's input schema.
    #[serde(default)]
    pub input: Value,
    /// Whether a verified client certificate matches `agent_id`.
    #[serde(default)]
    pub agent_verified: bool,
    /// Hex SHA-256 of the verified client certificate, if any.
    #[serde(default)]
    pub agent_cert_fingerprint: Option<String>,
    /// AGTP extensions parsed from the verified client certificate (empty without one).
    #[serde(default)]
    pub agent_cert_extensions: Map<String, Value>,
    /// The client's `IP:port` (a trusted load balancer's PROXY header's, else the TCP
    /// peer's); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
}

/// `request.trust`: the identity decision the runtime must take as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trust {
    /// Whether the daemon authenticated the agent.
    pub verified: bool,
    /// The authenticated agent id.
    pub agent_id: String,
    /// Fingerprint of the verified certificate, when identity came from mutual TLS.
    #[serde(default)]
    pub agent_cert_fingerprint: Option<String>,
    /// How identity was established.
    pub method: TrustMethod,
}

/// `response`: the handler's answer to the request in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Must equal the `request_id` of the request in flight.
    pub request_id: String,
    /// A normal reply or a declared endpoint error.
    pub envelope: ResponseEnvelope,
}

impl Response {
    /// A 200 reply with `body` and no extra headers.
    pub fn ok(request_id: impl Into<String>, body: Value) -> Self {
        Response {
            request_id: request_id.into(),
            envelope: ResponseEnvelope::Reply(Reply::new(body)),
        }
    }
}

/// `response.envelope`: on the wire either the reply fields or a single `endpoint_error` entry.
/// When both appear, `endpoint_error` wins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawEnvelope")]
pub enum ResponseEnvelope {
    /// The handler returned normally.
    Reply(Reply),
    /// The handler returned one of the endpoint's declared errors.
    EndpointError(EndpointError),
}

/// A normal handler reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Status for the agent; `200` when the wire omits it.
    pub status: u16,
    /// Headers to add to the agent's response (`null` on the wire reads as empty).
    pub headers: BTreeMap<String, String>,
    /// Response body, validated against the output schema by the daemon.
    pub body: Value,
    /// Extra governance metadata for the attribution record; `null` reads as absent.
    pub attribution_extra: Option<Value>,
}

impl Reply {
    /// A 200 reply with `body` and no headers.
    pub fn new(body: Value) -> Self {
        Reply {
            status: 200,
            headers: BTreeMap::new(),
            body,
            attribution_extra: None,
        }
    }
}

/// `response.envelope.endpoint_error`: a declared failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointError {
    /// One of the endpoint's declared `errors`.
    pub code: String,
    /// Human-readable message for the agent.
    pub message: String,
    /// Optional structured detail for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// The wire shape of [`ResponseEnvelope`]: every field optional.
#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    attribution_extra: Option<Value>,
    #[serde(default)]
    endpoint_error: Option<EndpointError>,
}

impl From<RawEnvelope> for ResponseEnvelope {
    fn from(raw: RawEnvelope) -> Self {
        if let Some(e) = raw.endpoint_error {
            return ResponseEnvelope::EndpointError(e);
        }
        ResponseEnvelope::Reply(Reply {
            status: raw.status.unwrap_or(200),
            headers: raw.headers.unwrap_or_default(),
            body: raw.body.unwrap_or(Value::Null),
            attribution_extra: raw.attribution_extra.filter(|v| !v.is_null()),
        })
    }
}

/// [`RawEnvelope`] borrowed, so that serialising an envelope copies nothing.
#[derive(Serialize)]
struct RawEnvelopeRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribution_extra: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_error: Option<&'a EndpointError>,
}

impl Serialize for ResponseEnvelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = match self {
            ResponseEnvelope::Reply(r) => RawEnvelopeRef {
                status: Some(r.status),
                headers: Some(&r.headers),
                body: Some(&r.body),
                attribution_extra: r.attribution_extra.as_ref().filter(|v| !v.is_null()),
                endpoint_error: None,
            },
            ResponseEnvelope::EndpointError(e) => RawEnvelopeRef {
                status: None,
                headers: None,
                body: None,
                attribution_extra: None,
                endpoint_error: Some(e),
            },
        };
        raw.serialize(serializer)
    }
}
