//! `agtp` exit codes: the status class of the response, or what kept it from arriving.
//! The table is also in `agtp --help`.

use std::process::ExitCode;

use agtp_core::client::ErrorKind;
use agtp_core::Status;

/// Why `agtp` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// A 2xx response (or `bench` completed).
    Success = 0,
    /// A 1xx response.
    Informational = 1,
    /// A 3xx response.
    Redirection = 3,
    /// A 4xx response.
    ClientError = 4,
    /// A 5xx response.
    ServerError = 5,
    /// A status of 600 or above.
    OtherStatus = 6,
    /// No connection: refused, unreachable, unresolvable, or connecting timed out.
    Connect = 7,
    /// TLS failed.
    Tls = 8,
    /// No complete response within --timeout.
    Timeout = 9,
    /// The response was not valid AGTP/1.0.
    Protocol = 10,
    /// The connection closed before the response was complete.
    Closed = 11,
    /// Bad flags or arguments (sysexits EX_USAGE).
    Usage = 64,
    /// A file to read could not be read (EX_NOINPUT).
    NoInput = 66,
    /// An output file could not be created (EX_CANTCREAT).
    CantCreate = 73,
    /// Something inside agtp failed (EX_SOFTWARE).
    Software = 70,
}

impl Exit {
    /// The exit for a response with `status`.
    pub(crate) fn for_status(status: Status) -> Exit {
        match status.class() {
            1 => Exit::Informational,
            2 => Exit::Success,
            3 => Exit::Redirection,
            4 => Exit::ClientError,
            5 => Exit::ServerError,
            _ => Exit::OtherStatus,
        }
    }

    /// The exit for a request that got no response.
    pub(crate) fn for_error(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Connect => Exit::Connect,
            ErrorKind::Tls => Exit::Tls,
            ErrorKind::Timeout => Exit::Timeout,
            ErrorKind::Protocol => Exit::Protocol,
            ErrorKind::Closed => Exit::Closed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A message for stderr and the exit that goes with it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    pub(crate) fn no_input(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::NoInput,
            message: message.into(),
        }
    }

    /// Prints `agtp: message` to stderr and returns the exit.
    pub(crate) fn report(self) -> Exit {
        eprintln!("agtp: {}", self.message);
        self.exit
    }
}
