//! `agtpd conformance`: plays the daemon's side of the gateway against any runtime command
//! and reports, check by check, whether the runtime speaks the protocol of
//! `runtime-protocol/PROTOCOL.md`.
//!
//! ```text
//! agtpd conformance [--json] [--timeout 5s] [--endpoints DIR] [--pool NAME] -- COMMAND [ARGS]...
//! ```
//!
//! The harness creates a private directory with a Unix socket, starts `COMMAND` with
//! `AGTP_GATEWAY_SOCKET` (the socket), `AGTP_POOL` (`--pool`, default `default`) and
//! `AGTP_CONNECTIONS=1` (so that a reconnection is not mistaken for a second connection),
//! and registers every connection with the endpoint set: the booking sample's endpoints,
//! compiled in (the files of `samples/booking/endpoints`), or `--endpoints DIR`.
//!
//! # The booking convention
//!
//! The checks call the booking service, so the runtime under test serves it (the samples in
//! `samples/booking/{python,node,go}` do). Two conventions make the checks deterministic;
//! `samples/booking/README.md` states them for handler authors:
//! - `FETCH /bookings/__raise__` (input `booking_id = "__raise__"`) makes the handler fail
//!   with an exception it did not declare, so the runtime must answer `handler_exception`;
//! - `booking.occupancy_outlook` takes 5 seconds (more than its 2 s timeout).
//!
//! # The checks, in report order
//!
//! The spec's conformance vectors:
//! - `handshake`: a `hello` offering `1.0`, claiming `registered_function`, in the pool asked;
//! - `registration`: `register_ack` `ok: true` for the whole endpoint set;
//! - `request`: availability, book, fetch, cancel; each reply valid against its output schema;
//! - `declared_error`: a booking with check-out before check-in is `endpoint_error`
//!   `invalid_dates`;
//! - `exception`: `__raise__` is `error` `handler_exception` with the request's id, and the
//!   connection serves the next request;
//! - `ping`: `pong` with the same nonce within `--timeout`;
//! - `reconnect`: after the harness closes the connection, a new one registers and serves;
//! - `unresolvable_registration`: a second start of the command, registered with one more
//!   endpoint (`QUERY /conformance/unresolvable`, handler `conformance.no_such_handler`),
//!   answers `register_ack` `ok: false` naming exactly that endpoint, and exits non-zero.
//!
//! agtpd's extras:
//! - `messagepack`: on connections whose `hello` was MessagePack, every frame decoded (the
//!   checks above ran on them); skipped for JSON-only runtimes;
//! - `resume`: on reconnecting, `hello.cached_manifest_hash` is the registered hash and the
//!   runtime serves after `register_resume`; skipped if it offers no hash;
//! - `deadline`: the slow endpoint gets a 1 s deadline; no answer may come before it; the
//!   harness sends `handler_timeout` and closes, as the daemon does; the runtime must
//!   reconnect, serve, and still answer pings once the abandoned handler has finished;
//! - `sigterm`: SIGTERM while the slow endpoint runs (30 s deadline): the answer still comes,
//!   then the close (a `goodbye` first is optional), then exit status 0 within `--timeout`.
//!
//! Each check passes, fails (with what was expected and what came), is skipped (an optional
//! feature), or is not run (an earlier failure left no connection). The exit code is 0 when
//! nothing failed, 1 otherwise; 78 when `--endpoints` does not load; 70 when the harness
//! cannot set itself up.
//!
//! Layout: `args.rs` (the flags); `run.rs` (the order and shared helpers); `vectors.rs`, `refusal.rs` and
//! `extras.rs` (the checks); `gateway.rs` (the daemon's side of the socket); `process.rs`
//! (the child process); `service.rs` (the endpoint set); `report.rs` and `text.rs` (the
//! report).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

mod args;
mod extras;
mod gateway;
mod process;
mod refusal;
mod report;
mod run;
mod service;
mod text;
mod vectors;

pub use args::ConformanceArgs;
pub use report::{CheckResult, Problem, Report, Status};

/// Why a run could not start: nothing about the runtime is known yet.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No runtime command was given.
    #[error("no runtime command: give it after `--`")]
    NoCommand,
    /// `--endpoints` did not load.
    #[error("{0}")]
    Endpoints(String),
    /// The private directory or the socket could not be created.
    #[error("cannot set up the harness: {0}")]
    Harness(#[from] std::io::Error),
}

impl SetupError {
    /// The exit code: 64 usage, 78 configuration, 70 internal.
    pub fn exit_code(&self) -> i32 {
        match self {
            SetupError::NoCommand => 64,
            SetupError::Endpoints(_) => 78,
            SetupError::Harness(_) => 70,
        }
    }
}

/// Runs every check against `args.command`, prints the report (text, or JSON with
/// `--json`) and returns the exit code: 0 only when no check failed.
pub async fn run(args: ConformanceArgs) -> i32 {
    match evaluate(&args).await {
        Ok(report) => {
            if args.json {
                let json = report.to_json();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string())
                );
            } else {
                print!("{}", report.to_text());
            }
            report.exit_code()
        }
        Err(error) => {
            eprintln!("agtpd conformance: {error}");
            error.exit_code()
        }
    }
}

/// Runs every check against `args.command` and returns the report, printing nothing.
pub async fn evaluate(args: &ConformanceArgs) -> Result<Report, SetupError> {
    if args.command.is_empty() {
        return Err(SetupError::NoCommand);
    }
    let scratch = Scratch::create()?;
    let service = service::ServiceSet::load(args.endpoints.as_deref(), scratch.path())
        .map_err(SetupError::Endpoints)?;
    Ok(run::run(args, &service, scratch.path()).await?)
}

/// A private directory for the sockets (and the built-in endpoint files), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        static N_CREATED: AtomicUsize = AtomicUsize::new(0);
        let n = N_CREATED.fetch_add(1, Ordering::Relaxed);
        // The clock too: a process id can repeat (containers), and a crashed run leaves its
        // directory behind.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "agtpd-conformance-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
