//! `[admin]`: where the admin listener binds, and the slow-request log.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};
use crate::restart::Pinned;

/// `[admin]`: a plain-HTTP listener answering `/healthz`, `/readyz`, `/metrics` and
/// `/status`, and the slow-request log.
///
/// ```toml
/// [admin]
/// listen = "127.0.0.1:4481"
/// slow_request = "1s"
/// ```
/// The admin listener has no authentication, so a non-loopback address needs
/// `allow_off_loopback = true`. `metrics_listen` is a second listener that answers
/// `/metrics` only (for Prometheus on the pod network); any address is allowed there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where the admin listener binds; absent or empty: no admin listener.
    #[serde(deserialize_with = "optional_address")]
    pub listen: Option<SocketAddr>,
    /// Admit a non-loopback `listen` address.
    pub allow_off_loopback: bool,
    /// A listener serving `GET /metrics` and nothing else; absent or empty: none.
    #[serde(deserialize_with = "optional_address")]
    pub metrics_listen: Option<SocketAddr>,
    /// Requests taking longer are logged at WARN with their timing breakdown; absent: off.
    #[serde(with = "humantime_serde")]
    pub slow_request: Option<Duration>,
}

/// An address, or nothing for an absent or empty value (`AGTPD_ADMIN__LISTEN=`).
fn optional_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("`{text}`: {e}"))),
        _ => Ok(None),
    }
}

impl AdminConfig {
    /// Checks `[admin]`: a non-loopback address needs `allow_off_loopback`.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.slow_request.is_some_and(|d| d.is_zero()) {
            return Err(invalid(
                "self.slow_request",
                "must be greater than zero; leave it out to turn the slow-request log off",
            ));
        }
        match self.listen {
            Some(addr) if !addr.ip().is_loopback() && !self.allow_off_loopback => Err(invalid(
                "admin.listen",
                format!(
                    "{addr} is not a loopback address and the admin listener has no \
                 authentication; bind it to 127.0.0.1 or ::1, or set \
                 admin.allow_off_loopback = true"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The listeners need a restart; the slow-request log reloads.
    pub(crate) fn pin(&mut self, running: &AdminConfig, pinned: &mut Pinned) {
        pinned.keep("admin.listen", &mut self.listen, &running.listen);
        pinned.keep(
            "admin.allow_off_loopback",
            &mut self.allow_off_loopback,
            &running.allow_off_loopback,
        );
        pinned.keep(
            "admin.metrics_listen",
            &mut self.metrics_listen,
            &running.metrics_listen,
        );
    }
}
