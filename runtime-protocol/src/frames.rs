//! The [`Frame`] enum and the small frames: error, keepalive, goodbye and signing
//! (PROTOCOL.md §4, §9–§11).

use serde::{Deserialize, Serialize};

use crate::codes::{ErrorCode, GoodbyeReason, SignErrorCode};
use crate::exchange::{Request, Response};
use crate::handshake::{Hello, Register, RegisterAck, RegisterResume, Welcome};

/// One gateway frame. On the wire it is a map whose `type` entry names the variant (in
/// snake_case) and whose other entries are the variant's fields. Entries a variant does not
/// know are ignored.
// `Request` is a few hundred bytes; a frame is built, moved once and dropped, so boxing it
// would only make every construction and match noisier for handler authors.
#[allow(clippy::large_enum_variant)]
// Deserialize is written out in `frame_de.rs`: one pass instead of serde's buffering.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// Runtime → daemon: opens the handshake.
    Hello(Hello),
    /// Daemon → runtime: accepts the handshake.
    Welcome(Welcome),
    /// Daemon → runtime: the full endpoint set of the runtime's pool.
    Register(Register),
    /// Daemon → runtime: "your cached endpoint set is still current".
    RegisterResume(RegisterResume),
    /// Runtime → daemon: accepts or rejects the endpoint set.
    RegisterAck(RegisterAck),
    /// Daemon → runtime: one call to serve.
    Request(Request),
    /// Runtime → daemon: the answer to the request in flight.
    Response(Response),
    /// Either way: a per-request failure or the reason for closing.
    Error(ErrorFrame),
    /// Either way: keepalive probe.
    Ping(Ping),
    /// Either way: keepalive answer.
    Pong(Pong),
    /// Either way: orderly close.
    Goodbye(Goodbye),
    /// Runtime → daemon, while serving a request: sign these bytes.
    SignRequest(SignRequest),
    /// Daemon → runtime: the signature.
    SignResponse(SignResponse),
    /// Daemon → runtime: no signature, and why.
    SignError(SignError),
}

impl Frame {
    /// Every `type` value this version knows, in the order of the enum.
    pub const TYPE_NAMES: &'static [&'static str] = &[
        "hello",
        "welcome",
        "register",
        "register_resume",
        "register_ack",
        "request",
        "response",
        "error",
        "ping",
        "pong",
        "goodbye",
        "sign_request",
        "sign_response",
        "sign_error",
    ];

    /// The frame's `type` value, for logs and `phase_violation` messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Welcome(_) => "welcome",
            Frame::Register(_) => "register",
            Frame::RegisterResume(_) => "register_resume",
            Frame::RegisterAck(_) => "register_ack",
            Frame::Request(_) => "request",
            Frame::Response(_) => "response",
            Frame::Error(_) => "error",
            Frame::Ping(_) => "ping",
            Frame::Pong(_) => "pong",
            Frame::Goodbye(_) => "goodbye",
            Frame::SignRequest(_) => "sign_request",
            Frame::SignResponse(_) => "sign_response",
            Frame::SignError(_) => "sign_error",
        }
    }
}

/// `error`: a failed request (with `request_id`) or a protocol failure that closes the
/// connection (without).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// The request this error answers; absent for connection-level errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What went wrong.
    pub code: ErrorCode,
    /// Human-readable detail, for logs. Never forwarded to the agent.
    pub message: String,
    /// Optional structured detail, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `ping`: the peer must answer with a `pong` carrying the same nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Opaque token echoed by the `pong`.
    pub nonce: String,
}

/// `pong`: the answer to a `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The nonce of the `ping` being answered.
    pub nonce: String,
}

/// `goodbye`: the sender starts no new work on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye {
    /// Why; optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<GoodbyeReason>,
}

/// `sign_request`: asks the daemon to sign bytes with its Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    /// Runtime-chosen id echoed by the answer.
    pub operation_id: String,
    /// The bytes to sign, base64url without padding.
    pub data_b64: String,
}

/// `sign_response`: the daemon's signature over `sign_request.data_b64`'s bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    /// The `operation_id` of the request being answered.
    pub operation_id: String,
    /// Identifier of the signing key.
    pub kid: String,
    /// Always [`SIGNATURE_ALG`](crate::SIGNATURE_ALG) (`Ed25519`).
    pub alg: String,
    /// The 64-byte signature, base64url without padding.
    pub signature_b64: String,
}

/// `sign_error`: the daemon did not sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignError {
    /// The `operation_id` of the request being answered.
    pub operation_id: String,
    /// Why.
    pub code: SignErrorCode,
    /// Human-readable detail.
    pub message: String,
}
