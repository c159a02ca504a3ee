//! The gateway protocol spoken between `agtpd` and runtime processes: frame types, the
//! length-prefixed framing, and its two payload encodings (JSON and MessagePack).
//!
//! `PROTOCOL.md` beside this crate is the normative description; the code follows it and its
//! section numbers are cited where a rule is enforced.
//!
//! Layout:
//! - [`PROTOCOL_VERSION`], capability tags, default limits and timeouts — `constants.rs`;
//! - [`Frame`] and its payload structs — `frames.rs` (the enum and the small frames,
//!   decoded in one pass by `frame_de.rs`),
//!   `handshake.rs` (hello, welcome, register*, register_ack) and `exchange.rs` (request,
//!   response);
//! - string-valued codes that tolerate values this version does not know — `codes.rs`;
//! - [`Encoding`] — JSON / MessagePack payloads and first-byte sniffing (`encoding.rs`);
//! - [`FrameCodec`] — the tokio codec with sans-IO length checks (`codec.rs`);
//! - [`read_frame`] / [`write_frame`] — the blocking API for simple runtimes (`blocking.rs`);
//! - [`canonical_json`] / [`manifest_hash`] — RFC 8785 canonical JSON and the manifest hash
//!   (`canonical.rs`);
//! - [`Error`] — the one error type (`error.rs`).
//!
//! Dependency rule: this crate depends on no other workspace crate, so that runtimes (and
//! `mod-rust`) can link it without pulling in the daemon.
#![warn(missing_docs)]

mod blocking;
mod canonical;
mod codec;
mod codes;
mod constants;
mod encoding;
mod error;
mod exchange;
mod frame_de;
mod frames;
mod handshake;

pub use blocking::{read_frame, write_frame};
pub use canonical::{canonical_json, manifest_hash};
pub use codec::FrameCodec;
pub use codes::{ErrorCode, GoodbyeReason, SignErrorCode, TrustMethod};
pub use constants::{
    negotiate_version, CAP_REGISTERED_FUNCTION, CAP_SIGN_REQUEST, DEFAULT_HANDLER_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_MAX_FRAME_LEN, DEFAULT_POOL,
    LENGTH_PREFIX_LEN, PONG_TIMEOUT, PROTOCOL_VERSION, SIGNATURE_ALG, SUPPORTED_VERSIONS,
};
pub use encoding::Encoding;
pub use error::{Error, Result};
pub use exchange::{
    EndpointError, Reply, Request, RequestEnvelope, Response, ResponseEnvelope, Trust,
};
pub use frames::{ErrorFrame, Frame, Goodbye, Ping, Pong, SignError, SignRequest, SignResponse};
pub use handshake::{
    DaemonInfo, EndpointSpec, Hello, ModuleInfo, Register, RegisterAck, RegisterResume,
    RegistrationFailure, Welcome,
};
