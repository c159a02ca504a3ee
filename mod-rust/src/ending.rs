//! How a gateway connection ends: in good order ([`Ended`]), or not ([`Failure`], and why
//! it was [`Lost`]), with the two endings every phase shares: an `error` from the daemon,
//! and a frame the phase does not allow.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use runtime_protocol::{ErrorCode, ErrorFrame, Frame, GoodbyeReason};

use crate::connection::{FrameWriter, WireError};
use crate::error::Error;

/// How a connection ended in good order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The runtime is stopping and this connection is done.
    Stopped,
    /// The daemon said `goodbye`; in-flight work was finished and the connection closed.
    Goodbye(Option<GoodbyeReason>),
}

/// How a connection ended otherwise.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Retrying cannot help; `serve` returns this.
    Fatal(Error),
    /// The connection is gone; reconnect after the backoff delay.
    Lost(Lost),
}

/// Why a connection was lost. Logged once, by the connection loop.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Lost {
    /// The socket could not be connected.
    #[error("cannot connect to `{}`", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading or writing a frame failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The daemon closed the connection.
    #[error("the daemon closed the connection")]
    Closed,
    /// The daemon did not send the next handshake frame in time.
    #[error("no `{0}` from the daemon within {1:?}")]
    Timeout(&'static str, Duration),
    /// The daemon sent an `error` that ends the connection.
    #[error("the daemon sent error `{code}`: {message}")]
    Peer { code: ErrorCode, message: String },
    /// The daemon sent a frame its phase does not allow; we answered `phase_violation`.
    #[error("the daemon sent `{frame}` during {phase}")]
    PhaseViolation {
        frame: &'static str,
        phase: &'static str,
    },
    /// `register_resume` named a manifest this runtime does not hold; the cache was dropped.
    #[error("`register_resume` for `{0}`, which this runtime does not hold")]
    UnknownResume(String),
    /// The request in flight passed its deadline; its handler was aborted.
    #[error("the request `{0}` passed its deadline")]
    Deadline(String),
}

impl From<WireError> for Failure {
    fn from(err: WireError) -> Self {
        Failure::Lost(Lost::Wire(err))
    }
}

/// An `error` frame from the daemon that ends the connection.
pub(crate) fn peer_error(err: ErrorFrame) -> Failure {
    match err.code {
        ErrorCode::GatewayVersionUnsupported => Failure::Fatal(Error::VersionUnsupported {
            message: err.message,
        }),
        code => Failure::Lost(Lost::Peer {
            code,
            message: err.message,
        }),
    }
}

/// Answers a frame the phase does not allow with `phase_violation` (best effort: the
/// connection closes either way) and reports it.
pub(crate) async fn unexpected(
    writer: &mut FrameWriter,
    frame: Frame,
    phase: &'static str,
) -> Failure {
    let name = frame.type_name();
    let error = ErrorFrame {
        request_id: None,
        code: ErrorCode::PhaseViolation,
        message: format!("`{name}` is not allowed during {phase}"),
        details: None,
    };
    let _ = writer.write(&Frame::Error(error)).await;
    Failure::Lost(Lost::PhaseViolation { frame: name, phase })
}
