//! Logs: `log_format` and `log_level`, and the subscriber that writes them to stderr and,
//! with `[tracing]` on, exports spans (`telemetry.rs`).

use std::io::IsTerminal;

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::error::{invalid, ConfigError};
use crate::telemetry::{self, Exporter, TracingConfig};

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
/// for a person at a terminal and never under `NO_COLOR` (no-color.org); and, when
/// `tracing` names an endpoint, the span exporter, which the caller keeps until exit.
/// Call it before the async runtime starts.
pub fn init(format: LogFormat, level: &str, tracing: &TracingConfig) -> Option<Exporter> {
    // Spans are for the exporter, never log lines.
    let filter = || EnvFilter::new(format!("{level},{}=off", telemetry::TARGET));
    let registry = tracing_subscriber::registry();
    match telemetry::layer(tracing) {
        Ok(Some((spans, exporter))) => {
            registry
                .with(lines(format).with_filter(filter()))
                .with(spans)
                .init();
            Some(exporter)
        }
        Ok(None) => {
            registry.with(filter()).with(lines(format)).init();
            None
        }
        Err(error) => {
            registry.with(filter()).with(lines(format)).init();
            tracing::error!(%error, "the OTLP exporter could not start; serving without tracing");
            None
        }
    }
}

/// The layer that writes log lines in `format`.
fn lines<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    }
}
