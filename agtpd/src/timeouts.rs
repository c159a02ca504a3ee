//! `[timeouts]`: how long a client connection may take for each thing, and the drain.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};

/// Connection timeouts, written as durations (`"60s"`, `"500ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// A keep-alive connection with no request in progress is closed after this.
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
    /// From a request's first byte to the end of its head (408 past it).
    #[serde(with = "humantime_serde")]
    pub header: Duration,
    /// From the end of the head to the end of the body (408 past it).
    #[serde(with = "humantime_serde")]
    pub body: Duration,
    /// Writing one response; a client that does not read is dropped after this.
    #[serde(with = "humantime_serde")]
    pub write: Duration,
    /// The TLS handshake.
    #[serde(with = "humantime_serde")]
    pub tls_handshake: Duration,
    /// On SIGTERM, how long in-flight requests may take before connections are cut.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
    /// On SIGTERM, how long agtpd keeps serving as before, with `/readyz` answering 503,
    /// before the drain begins: time for a load balancer or Kubernetes to stop sending
    /// new connections. 0 (the default) drains at once.
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(60),
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            write: Duration::from_secs(30),
            tls_handshake: Duration::from_secs(10),
            drain: Duration::from_secs(30),
            drain_delay: Duration::ZERO,
        }
    }
}

impl Timeouts {
    /// Every timeout but the drain and its delay must be more than zero.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let all = [
            ("timeouts.idle", self.idle),
            ("timeouts.header", self.header),
            ("timeouts.body", self.body),
            ("timeouts.write", self.write),
            ("timeouts.tls_handshake", self.tls_handshake),
        ];
        match all.into_iter().find(|(_, d)| d.is_zero()) {
            Some((key, _)) => Err(invalid(key, "must be greater than zero")),
            None => Ok(()),
        }
    }
}
