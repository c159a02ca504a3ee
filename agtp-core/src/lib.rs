//! `agtp-core`: the AGTP/1.0 message layer shared by the daemon, its modules and its client.
//!
//! Layout:
//! - [`status`]: status codes and their reason texts;
//! - [`headers`]: an ordered, case-insensitive header list;
//! - [`message`]: [`Request`] and [`Response`];
//! - [`limits`]: the bounds every parser checks before it buffers more;
//! - [`parse`]: a sans-IO, incremental parser (bytes in, messages out, no I/O);
//! - [`encode`]: the encoder (message in, bytes out);
//! - [`module`]: the operational-module API (phases, `Flow`, `Cx`, factories);
//! - [`error`]: the one error envelope every daemon-generated error uses, and the
//!   wire errors that map onto it;
//! - `client` (cargo feature `client`, off by default): an async client over tokio and
//!   rustls, the only part of the crate that does I/O.
//!
//! Dependency rule: this crate depends on no other workspace crate. Modules and the
//! daemon depend on it, never the other way round.
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod client;
pub mod encode;
pub mod error;
pub mod headers;
pub mod limits;
pub mod message;
pub mod module;
pub mod parse;
pub mod status;

pub use error::{AgtpError, WireError};
pub use headers::Headers;
pub use limits::Limits;
pub use message::{Request, Response};
pub use status::Status;

/// The protocol identifier that opens every request and response line.
pub const VERSION: &str = "AGTP/1.0";

/// The IANA-style default TCP port for AGTP.
pub const DEFAULT_PORT: u16 = 4480;
