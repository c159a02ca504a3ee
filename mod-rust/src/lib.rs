//! `mod-rust` is the Rust handler SDK for agtpd runtime processes, not a pipeline module: it
//! turns a set of async functions into a process that serves AGTP endpoints for `agtpd` over
//! the gateway protocol (`runtime-protocol/PROTOCOL.md`).
//!
//! ```no_run
//! use mod_rust::{Context, HandlerError, Json, Runtime};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct BookInput { room_id: String }
//!
//! #[derive(Serialize)]
//! struct Booking { booking_id: String }
//!
//! async fn book(ctx: Context, input: BookInput) -> Result<Json<Booking>, HandlerError> {
//!     if input.room_id == "13" {
//!         return Err(HandlerError::declared("room_unavailable", "room 13 is never free"));
//!     }
//!     let booking_id = format!("{}-{}", input.room_id, ctx.request_id());
//!     Ok(Json(Booking { booking_id }))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), mod_rust::Error> {
//!     let app = Runtime::new("booking")
//!         .version(env!("CARGO_PKG_VERSION"))
//!         .handler("BOOK", "/rooms/{room_id}", book);
//!     mod_rust::serve(app).await
//! }
//! ```
//!
//! # What `serve` does
//!
//! - Connects to the daemon's socket and opens several connections (4 unless set), each
//!   carrying one request at a time; speaks MessagePack unless told
//!   [`Runtime::encoding`]`(Encoding::Json)`.
//! - Binds every endpoint the daemon pushes to the handler registered for the same method and
//!   declared path; if one has no handler it refuses the whole set and returns
//!   [`Error::RegistrationRefused`], so the process exits non-zero.
//! - Runs each call on its connection's task (handlers await; one that blocks its thread
//!   holds its connection until it yields). `Ok` becomes a `response`; a
//!   [`HandlerError::declared`] error an `endpoint_error`; any other error, a panic or an
//!   input that does not deserialise becomes `handler_exception`, and the connection carries
//!   on. A handler still running at its deadline is aborted.
//! - Answers `ping` while serving, busy or idle. After the daemon's `goodbye` it finishes the
//!   request in flight, then registers again at once (`manifest_reload`), returns `Ok(())`
//!   (`shutdown`), or reconnects after a backoff step (`drain`). After a failure it
//!   reconnects with backoff: 1 s doubling to 30 s, back to 1 s after a registration.
//! - Remembers the last registration (the manifest cache) and offers its hash in `hello`, so
//!   an unchanged endpoint set is resumed (`register_resume`) instead of sent again.
//! - Offers [`Context::sign`] when the daemon grants signing.
//! - On SIGTERM or SIGINT (or when the future given to [`serve_with_shutdown`] completes):
//!   says `goodbye`, finishes in-flight requests, waits for the daemon to close, returns
//!   `Ok(())`.
//!
//! # Settings
//!
//! The builder's values are defaults; the environment overrides them, the command line
//! overrides both.
//!
//! | setting | command line / environment | default |
//! |---|---|---|
//! | daemon socket | `--gateway-socket PATH`, `AGTP_GATEWAY_SOCKET` | [`Runtime::gateway_socket`], else an error |
//! | pool | `AGTP_POOL` | [`Runtime::pool`], else `default` |
//! | connections | `AGTP_CONNECTIONS` (1–1024) | [`Runtime::connections`], else 4 |
//! | manifest cache file | `AGTP_MANIFEST_CACHE` (empty: none) | [`Runtime::manifest_cache`], else `$XDG_CACHE_HOME/mod-rust/<module>-<pool>.manifest.json`, else `$HOME/.cache/mod-rust/…`, else memory only |
//!
//! Other command-line arguments are left to the program.
//!
//! # Layout
//!
//! - `runtime.rs`: [`Runtime`], the builder; `settings.rs`: its resolution against the
//!   command line and the environment;
//! - `handler.rs`: [`Handler`], [`IntoResponse`], [`Json`], [`Reply`];
//! - `context.rs`: [`Context`]; `sign.rs`: [`Signature`], [`SigningError`];
//! - `error.rs`: [`Error`], [`HandlerError`];
//! - `serve.rs`: [`serve`], [`serve_with_shutdown`] (and the `Runtime` methods of those
//!   names), one task per connection slot; `shared.rs`: what those tasks share;
//! - `session.rs`: one connection's handshake and registration; `serving.rs`: its serving
//!   loop; `ending.rs`: how a connection ends; `answer.rs`: the frame a finished handler is
//!   answered with;
//! - `connection.rs`: frames on the socket; `router.rs`: concrete path → endpoint;
//!   `cache.rs`: the manifest cache; `backoff.rs`: reconnect delays.
//!
//! Dependency rule: among the workspace crates this one links `runtime-protocol` only, never
//! `agtp-core` or `agtpd`; a handler program builds without the daemon.
#![warn(missing_docs)]

mod answer;
mod backoff;
mod cache;
mod connection;
mod context;
mod ending;
mod error;
mod handler;
mod router;
mod runtime;
mod serve;
mod serving;
mod session;
mod settings;
mod shared;
mod sign;

pub use context::Context;
pub use error::{Error, HandlerError};
pub use handler::{Handler, HandlerFuture, IntoResponse, Json, Reply};
pub use runtime::{Runtime, DEFAULT_CONNECTIONS};
pub use runtime_protocol::{Encoding, Trust, TrustMethod};
pub use serve::{serve, serve_with_shutdown};
pub use sign::{Signature, SigningError};

/// The protocol crate this SDK speaks, for the types [`IntoResponse`] and [`Context`] expose.
pub use runtime_protocol as protocol;
