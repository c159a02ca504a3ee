//! [`ConformanceArgs`]: the flags of `agtpd conformance`.

use std::path::PathBuf;
use std::time::Duration;

/// Flags of `agtpd conformance`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConformanceArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for each thing the runtime must do: connect, answer, close, exit.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Endpoint directory to register instead of the built-in booking endpoints. The checks
    /// call the booking endpoints, so it must declare them.
    #[arg(long, value_name = "DIR")]
    pub endpoints: Option<PathBuf>,

    /// Pool the runtime is asked to join (its AGTP_POOL).
    #[arg(long, value_name = "NAME", default_value = runtime_protocol::DEFAULT_POOL)]
    pub pool: String,

    /// The runtime to test, after `--`: a program and its arguments. Give the program itself
    /// (not a wrapper such as `go run`) so that SIGTERM reaches it.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl ConformanceArgs {
    /// Arguments for `command`, with every option at its default.
    pub fn new(command: Vec<String>) -> ConformanceArgs {
        ConformanceArgs {
            json: false,
            timeout: Duration::from_secs(5),
            endpoints: None,
            pool: runtime_protocol::DEFAULT_POOL.to_owned(),
            command,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(text).map_err(|e| e.to_string())
}
