//! The `[modules.proxy]` table: strict serde (unknown keys refused), defaults, and the
//! checks that run before anything is built. Reading `ca_file` is the only I/O.

use std::path::PathBuf;
use std::time::Duration;

use agtp_core::client::{TlsOptions, Uri};
use serde::Deserialize;
use serde_json::Value;

/// The most upstreams one list (`catch_all`, or an endpoint's) may name.
pub const MAX_UPSTREAMS: usize = 64;
/// The largest `max_hops` accepted.
pub const MAX_HOPS_LIMIT: u32 = 64;
/// The longest timeout or cool-down accepted.
const MAX_DURATION: Duration = Duration::from_secs(60 * 60);

/// `[modules.proxy]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where requests that match no endpoint and no built-in go: one `agtp://host[:port]`
    /// or a list. Default: none (they get the daemon's 404 or 405).
    #[serde(default)]
    pub catch_all: Option<Upstreams>,
    /// Connecting to a catch-all upstream. Default 5 s.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A catch-all upstream's whole response. Default 30 s.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// A request that already passed this many proxies (`Via` entries) is refused with
    /// 508 `too-many-hops`. 1 to 64, default 8.
    #[serde(default = "default_max_hops")]
    pub max_hops: u32,
    /// Consecutive failures after which an upstream is ejected. At least 1, default 3.
    #[serde(default = "default_eject_after")]
    pub eject_after: u32,
    /// How long an ejected upstream is skipped. Default 10 s.
    #[serde(default = "default_eject_for", with = "humantime_serde")]
    pub eject_for: Duration,
    /// Idle keep-alive connections kept per upstream. Default 32; 0 closes each.
    #[serde(default = "default_max_idle")]
    pub max_idle_per_upstream: usize,
    /// Speak TLS to loopback upstreams too (others always get TLS). Default false.
    #[serde(default)]
    pub tls: bool,
    /// Also trust the certificates in this PEM file (implies `tls`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// One upstream or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "an upstream URI (\"agtp://host:port\") or a list of them"
)]
pub enum Upstreams {
    /// `catch_all = "agtp://..."`.
    One(String),
    /// `catch_all = ["agtp://...", ...]`.
    Many(Vec<String>),
}

impl Upstreams {
    /// The URIs, in order.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Upstreams::One(one) => vec![one.clone()],
            Upstreams::Many(many) => many.clone(),
        }
    }
}

impl ProxyConfig {
    /// Parses and checks the table; the message names the key.
    pub fn from_value(table: &Value) -> Result<ProxyConfig, String> {
        let config: ProxyConfig =
            serde_json::from_value(table.clone()).map_err(|e| e.to_string())?;
        if let Some(catch_all) = &config.catch_all {
            check_upstreams(&catch_all.to_vec()).map_err(|m| format!("`catch_all`: {m}"))?;
        }
        if config.max_hops == 0 || config.max_hops > MAX_HOPS_LIMIT {
            return Err(format!(
                "`max_hops` must be from 1 to {MAX_HOPS_LIMIT}, not {}",
                config.max_hops
            ));
        }
        if config.eject_after == 0 {
            return Err("`eject_after` must be at least 1".into());
        }
        check_duration("connect_timeout", config.connect_timeout)?;
        check_duration("timeout", config.timeout)?;
        check_duration("eject_for", config.eject_for)?;
        config.tls_options()?;
        Ok(config)
    }

    /// Whether loopback upstreams get TLS too.
    pub fn force_tls(&self) -> bool {
        self.tls || self.ca_file.is_some()
    }

    /// The trust settings for upstream TLS: the system roots plus `ca_file`.
    pub fn tls_options(&self) -> Result<TlsOptions, String> {
        let mut options = TlsOptions::default();
        if let Some(path) = &self.ca_file {
            options
                .add_pem_file(path)
                .map_err(|e| format!("`ca_file`: {e}"))?;
        }
        Ok(options)
    }
}

/// A list of upstreams: 1 to [`MAX_UPSTREAMS`] server URIs, none twice.
pub fn check_upstreams(upstreams: &[String]) -> Result<(), String> {
    if upstreams.is_empty() {
        return Err("name at least one upstream".into());
    }
    if upstreams.len() > MAX_UPSTREAMS {
        return Err(format!(
            "{} upstreams; at most {MAX_UPSTREAMS} are accepted",
            upstreams.len()
        ));
    }
    for (i, uri) in upstreams.iter().enumerate() {
        Uri::parse_server(uri).map_err(|e| e.to_string())?;
        if upstreams[..i].contains(uri) {
            return Err(format!("`{uri}` is listed twice"));
        }
    }
    Ok(())
}

/// A timeout or cool-down: more than 0, at most 1 h.
pub(crate) fn check_duration(key: &str, value: Duration) -> Result<(), String> {
    if value.is_zero() || value > MAX_DURATION {
        return Err(format!("`{key}` must be more than 0 and at most 1h"));
    }
    Ok(())
}

pub(crate) fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_hops() -> u32 {
    8
}

fn default_eject_after() -> u32 {
    3
}

fn default_eject_for() -> Duration {
    Duration::from_secs(10)
}

fn default_max_idle() -> usize {
    32
}

#[cfg(test)]
mod tests;
