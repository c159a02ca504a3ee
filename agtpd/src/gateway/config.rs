//! `[gateway]`: how runtime processes reach the daemon and how their calls are queued.
//! The socket path itself is the top-level `gateway_socket` key (and `--gateway-socket`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};
use crate::restart::Pinned;

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Group owning the Unix socket (name or numeric id); the socket's mode is 0660.
    /// Restart-only.
    pub socket_group: Option<String>,
    /// Also accept runtimes on this TCP address; loopback addresses only. Restart-only.
    pub tcp_listen: Option<SocketAddr>,
    /// Time allowed for `hello` after connecting, and for `register_ack` after `register`.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Requests that may wait per pool when every connection is busy (503 beyond it).
    pub queue_length: usize,
    /// How long a queued request waits for a connection (503 `runtime-busy` after it).
    #[serde(with = "humantime_serde")]
    pub queue_wait: Duration,
    /// An idle runtime connection is pinged after this long without traffic.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// A pinged connection that sends nothing for this long is dropped.
    #[serde(with = "humantime_serde")]
    pub pong_timeout: Duration,
    /// Largest frame payload accepted from a runtime, in bytes.
    pub max_frame_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            socket_group: None,
            tcp_listen: None,
            handshake_timeout: runtime_protocol::DEFAULT_HANDSHAKE_TIMEOUT,
            queue_length: 128,
            queue_wait: Duration::from_secs(5),
            keepalive_interval: runtime_protocol::DEFAULT_KEEPALIVE_INTERVAL,
            pong_timeout: runtime_protocol::PONG_TIMEOUT,
            max_frame_bytes: runtime_protocol::DEFAULT_MAX_FRAME_LEN,
        }
    }
}

impl GatewayConfig {
    /// Checks `[gateway]` and the `gateway_socket` path `socket`.
    pub(crate) fn validate(&self, socket: &Path) -> Result<(), ConfigError> {
        if socket.as_os_str().is_empty() {
            return Err(invalid("gateway_socket", "must not be empty"));
        }
        if let Some(addr) = self.tcp_listen.filter(|a| !a.ip().is_loopback()) {
            return Err(invalid(
                "gateway.tcp_listen",
                format!(
                    "{addr} is not a loopback address; the gateway carries authenticated \
                     calls and is never exposed beyond this host"
                ),
            ));
        }
        if let Some(group) = &self.socket_group {
            resolve_group(group).map_err(|m| invalid("gateway.socket_group", m))?;
        }
        let durations = [
            ("gateway.handshake_timeout", self.handshake_timeout),
            ("gateway.queue_wait", self.queue_wait),
            ("gateway.keepalive_interval", self.keepalive_interval),
            ("gateway.pong_timeout", self.pong_timeout),
        ];
        if let Some((key, _)) = durations.into_iter().find(|(_, d)| d.is_zero()) {
            return Err(invalid(key, "must be greater than zero"));
        }
        if !(1024..=u32::MAX as usize).contains(&self.max_frame_bytes) {
            return Err(invalid(
                "gateway.max_frame_bytes",
                "must be between 1024 and 4294967295",
            ));
        }
        Ok(())
    }

    /// The listener's shape needs a restart; queues, timeouts and limits reload.
    pub(crate) fn pin(&mut self, running: &GatewayConfig, pinned: &mut Pinned) {
        pinned.keep(
            "gateway.socket_group",
            &mut self.socket_group,
            &running.socket_group,
        );
        pinned.keep(
            "gateway.tcp_listen",
            &mut self.tcp_listen,
            &running.tcp_listen,
        );
    }
}

/// A group name or numeric id, as a gid.
pub(super) fn resolve_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(found)) => Ok(found.gid.as_raw()),
        Ok(None) => Err(format!("no group named `{group}`")),
        Err(error) => Err(format!("cannot look up group `{group}`: {error}")),
    }
}
