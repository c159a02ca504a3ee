//! What can go wrong between "send this request" and "here is the response", classified
//! so a caller can decide what to do without reading the message: retry elsewhere
//! (connect), give up on this peer (TLS, protocol), or report a slow one (timeout).

use std::io;
use std::time::Duration;

use crate::WireError;

/// Why a request produced no response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host name did not resolve to any address.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host as given.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The TCP connection could not be made: refused, unreachable, reset.
    #[error("cannot connect to {authority}: {}", describe_io(source))]
    Connect {
        /// `host:port` as given.
        authority: String,
        /// The operating system's answer.
        source: io::Error,
    },
    /// No TCP connection (or TLS handshake) completed within the connect timeout.
    #[error("cannot connect to {authority}: timed out after {}", human(*after))]
    ConnectTimeout {
        /// `host:port` as given.
        authority: String,
        /// The connect timeout.
        after: Duration,
    },
    /// The TLS configuration could not be built, or the handshake or a record failed
    /// (untrusted certificate, wrong name, no TLS 1.3, a peer that does not speak TLS).
    #[error("TLS with {authority}: {reason}")]
    Tls {
        /// `host:port` as given, or `-` when the configuration itself failed.
        authority: String,
        /// What rustls (or the configuration) said.
        reason: String,
    },
    /// The whole response did not arrive within the response timeout.
    #[error("no complete response within {}", human(*after))]
    Timeout {
        /// The response timeout.
        after: Duration,
    },
    /// The peer's bytes are not a valid AGTP/1.0 response, or break the response limits.
    #[error("invalid response: {0}")]
    Protocol(#[from] WireError),
    /// The peer closed the connection before the response was complete.
    #[error("{}", closed_message(*received))]
    Closed {
        /// Response bytes received before the close.
        received: usize,
    },
    /// Reading or writing failed after the connection was made (a reset, say).
    #[error("connection failed: {}", describe_io(source))]
    Io {
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// An earlier exchange on this connection failed or asked to close, so the
    /// connection cannot carry another request.
    #[error(
        "the connection cannot carry another request: an earlier exchange failed or closed it"
    )]
    Unusable,
}

/// The classes of [`ClientError`], for counting and for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// No connection: the name did not resolve, the peer refused or was unreachable, or
    /// connecting timed out.
    Connect,
    /// TLS failed: configuration, handshake, certificate or a bad record.
    Tls,
    /// The response did not arrive in time.
    Timeout,
    /// The peer spoke, but not valid AGTP/1.0 within the limits.
    Protocol,
    /// The connection closed or broke before the response was complete.
    Closed,
}

impl ErrorKind {
    /// A stable lower-case name: `connect`, `tls`, `timeout`, `protocol`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Closed => "closed",
        }
    }

    /// Every kind, in a fixed order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Closed,
    ];
}

impl ClientError {
    /// The class this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Resolve { .. }
            | ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. } => ErrorKind::Connect,
            ClientError::Tls { .. } => ErrorKind::Tls,
            ClientError::Timeout { .. } => ErrorKind::Timeout,
            ClientError::Protocol(_) => ErrorKind::Protocol,
            ClientError::Closed { .. } | ClientError::Io { .. } | ClientError::Unusable => {
                ErrorKind::Closed
            }
        }
    }

    /// Whether the request certainly never reached the peer's application: the
    /// connection was never made. Such a request is safe to send again elsewhere.
    pub fn before_sending(&self) -> bool {
        self.kind() == ErrorKind::Connect || matches!(self, ClientError::Unusable)
    }

    /// An I/O error on an established connection; TLS record errors become
    /// [`ClientError::Tls`].
    pub(crate) fn io(source: io::Error, authority: &str) -> ClientError {
        match rustls_error(&source) {
            Some(error) => ClientError::Tls {
                authority: authority.to_owned(),
                reason: error.to_string(),
            },
            None => ClientError::Io { source },
        }
    }
}

fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// io::Error's text without the "(os error N)" suffix, lower-cased for the common cases.
pub(crate) fn describe_io(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
        io::ErrorKind::BrokenPipe => "broken pipe (the peer closed the connection)".to_owned(),
        io::ErrorKind::TimedOut => "timed out".to_owned(),
        io::ErrorKind::AddrNotAvailable => "address not available".to_owned(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_lowercase(),
                None => text,
            }
        }
    }
}

fn closed_message(received: usize) -> String {
    if received == 0 {
        "the peer closed the connection without answering".to_owned()
    } else {
        format!("the peer closed the connection mid-response, after {received} bytes")
    }
}

/// `1.5s`, `30s`, `250ms`.
fn human(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}
