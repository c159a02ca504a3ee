//! Logs: `log_format` and `log_level`, and the subscriber that writes them to stderr.

use std::io::IsTerminal;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::error::{invalid, ConfigError};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per event.
    Json,
}

/// Checks that `level` is a `tracing` filter (`info`, `agtpd=debug,info`).
pub(crate) fn validate_level(level: &str) -> Result<(), ConfigError> {
    EnvFilter::try_new(level)
        .map(drop)
        .map_err(|e| invalid("log_level", e.to_string()))
}

/// Installs the process's subscriber: `format` lines at `level` to stderr, coloured only
/// for a person at a terminal and never under `NO_COLOR` (no-color.org).
pub fn init(format: LogFormat, level: &str) {
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}
