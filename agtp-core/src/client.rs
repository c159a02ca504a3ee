//! An async AGTP/1.0 client (cargo feature `client`): what the `agtp` command line, its
//! load generator and reverse proxies use to talk to an AGTP server.
//!
//! Layout:
//! - [`Uri`] and [`Origin`] (`uri.rs`): `agtp://` URIs and where they connect;
//! - [`Connection`] (`connection.rs`): one keep-alive connection over any byte stream;
//! - [`Client`] (`pool.rs`): connects to `host:port`, plaintext or TLS, and keeps idle
//!   connections per origin;
//! - [`Stream`] (`stream.rs`): the plaintext-or-TLS stream a [`Client`] opens;
//! - [`TlsOptions`] (`tls.rs`): TLS 1.3 trust settings, and [`ClientIdentity`], a client
//!   certificate for mTLS;
//! - [`ClientError`] and [`ErrorKind`] (`error.rs`): every failure, classified.
//!
//! The parsing and encoding are the crate's own sans-IO [`crate::parse`] and
//! [`crate::encode`]; this module only moves bytes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), agtp_core::client::ClientError> {
//! use agtp_core::client::{Client, ClientConfig, Uri};
//!
//! let uri: Uri = "agtp://127.0.0.1:4480".parse().expect("a valid URI");
//! let client = Client::new(ClientConfig::default());
//! // Plaintext here because the server is on loopback; TLS everywhere else.
//! let response = client.send(&uri.origin(false), &uri.request("DISCOVER")).await?;
//! println!("{}", response.status);
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::Limits;

mod connection;
mod error;
mod pool;
mod stream;
mod tls;
mod uri;

#[cfg(test)]
mod tests;

pub use connection::Connection;
pub use error::{ClientError, ErrorKind};
pub use pool::{Client, Deadlines};
pub use stream::Stream;
pub use tls::{ClientIdentity, TlsOptions};
pub use uri::{is_agent_id, Origin, Uri, UriError};

/// How a [`Client`] connects, waits and trusts.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Resolving, connecting and the TLS handshake together (default 10 s).
    pub connect_timeout: Duration,
    /// From the first byte of a request written to the last byte of its response
    /// (default 30 s).
    pub response_timeout: Duration,
    /// Idle connections kept per origin (default 8); 0 closes each after its response.
    pub max_idle_per_host: usize,
    /// An idle connection older than this is closed rather than reused (default 50 s,
    /// under the 60 s a default agtpd keeps an idle connection).
    pub idle_timeout: Duration,
    /// Bounds on a response: status line (`max_request_line`), header block, header
    /// count and body (default: the parser's limits with a 16 MiB body).
    pub response_limits: Limits,
    /// Which servers to trust over TLS.
    pub tls: TlsOptions,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            max_idle_per_host: 8,
            idle_timeout: Duration::from_secs(50),
            response_limits: Limits {
                max_body: 16 << 20,
                ..Limits::default()
            },
            tls: TlsOptions::default(),
        }
    }
}
