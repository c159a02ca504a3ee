//! The SDK's two error types: [`Error`], why [`serve`](crate::serve) stopped, and
//! [`HandlerError`], how one handler call failed.

use std::fmt;

use runtime_protocol::{EndpointError, RegistrationFailure};
use serde_json::Value;

/// Why [`serve`](crate::serve) returned with an error. Each of these needs an operator or a
/// developer: the process should exit non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither `--gateway-socket PATH`, `AGTP_GATEWAY_SOCKET` nor
    /// [`Runtime::gateway_socket`](crate::Runtime::gateway_socket) named the daemon's socket.
    #[error("no gateway socket: pass `--gateway-socket PATH` or set `AGTP_GATEWAY_SOCKET`")]
    NoGatewaySocket,
    /// A setting from the command line, the environment or the builder is unusable.
    #[error("setting `{name}`: {reason}")]
    Setting {
        /// The flag, variable or builder method.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The daemon speaks none of the protocol versions this SDK offers; retrying cannot help.
    #[error("the daemon speaks no gateway protocol version this runtime offers: {message}")]
    VersionUnsupported {
        /// The daemon's `error.message`, or what it chose instead.
        message: String,
    },
    /// The daemon pushed endpoints this runtime has no handler for; the runtime refused the
    /// whole set (`register_ack` with `ok: false`).
    #[error("registration refused: {}", endpoint_list(.failures))]
    RegistrationRefused {
        /// One entry per endpoint without a handler, as sent in `register_ack.errors`.
        failures: Vec<RegistrationFailure>,
    },
    /// The SIGTERM / SIGINT handler could not be installed.
    #[error("cannot install the signal handler")]
    Signal(#[source] std::io::Error),
}

fn endpoint_list(failures: &[RegistrationFailure]) -> String {
    let names: Vec<&str> = failures.iter().map(|f| f.endpoint.as_str()).collect();
    format!("no handler for {}", names.join(", "))
}

/// How a handler call failed: a **declared** error, which the agent sees as the endpoint's
/// typed error (`endpoint_error`), or an **exception**, which the daemon logs and answers with
/// a 500 (`handler_exception`).
///
/// Any `std::error::Error` converts into an exception, so `?` works in handlers:
///
/// ```
/// use mod_rust::HandlerError;
///
/// fn parse(text: &str) -> Result<u32, HandlerError> {
///     if text.is_empty() {
///         return Err(HandlerError::declared("empty_input", "nothing to parse"));
///     }
///     Ok(text.parse::<u32>()?) // a `ParseIntError` becomes a `handler_exception`
/// }
/// assert!(parse("").unwrap_err().is_declared());
/// assert!(!parse("x").unwrap_err().is_declared());
/// ```
///
/// Like `anyhow::Error`, it does not implement `std::error::Error` itself; that is what lets
/// the blanket `From` exist.
pub struct HandlerError {
    kind: Kind,
}

enum Kind {
    Declared(EndpointError),
    Exception {
        message: String,
        details: Option<Value>,
    },
}

impl HandlerError {
    /// A declared error: `code` must be one of the endpoint's `errors`, or the daemon answers
    /// the agent with 500 `undeclared-error-code` instead of 422.
    pub fn declared(code: impl Into<String>, message: impl Into<String>) -> Self {
        HandlerError {
            kind: Kind::Declared(EndpointError {
                code: code.into(),
                message: message.into(),
                details: None,
            }),
        }
    }

    /// An undeclared failure. `message` goes to the daemon's log, never to the agent.
    pub fn exception(message: impl Into<String>) -> Self {
        HandlerError {
            kind: Kind::Exception {
                message: message.into(),
                details: None,
            },
        }
    }

    /// Attaches structured details: shown to the agent for a declared error, logged by the
    /// daemon for an exception.
    pub fn with_details(mut self, value: Value) -> Self {
        match &mut self.kind {
            Kind::Declared(e) => e.details = Some(value),
            Kind::Exception { details, .. } => *details = Some(value),
        }
        self
    }

    /// `true` for [`HandlerError::declared`], `false` for an exception.
    pub fn is_declared(&self) -> bool {
        matches!(self.kind, Kind::Declared(_))
    }

    /// The declared code, or `handler_exception`.
    pub fn code(&self) -> &str {
        match &self.kind {
            Kind::Declared(e) => &e.code,
            Kind::Exception { .. } => "handler_exception",
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match &self.kind {
            Kind::Declared(e) => &e.message,
            Kind::Exception { message, .. } => message,
        }
    }

    /// Splits into what goes on the wire: `Ok` is the `endpoint_error` of a response, `Err`
    /// the `(message, details)` of a `handler_exception` error frame.
    pub(crate) fn into_wire(self) -> Result<EndpointError, (String, Option<Value>)> {
        match self.kind {
            Kind::Declared(e) => Ok(e),
            Kind::Exception { message, details } => Err((message, details)),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(err: E) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        HandlerError::exception(message)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Declared(e) => f.debug_tuple("Declared").field(e).finish(),
            Kind::Exception { message, details } => f
                .debug_struct("Exception")
                .field("message", message)
                .field("details", details)
                .finish(),
        }
    }
}
