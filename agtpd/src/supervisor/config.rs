//! `[[runtime]]`: the pools whose runtime processes agtpd runs, their validation, and which
//! changes a reload applies (a rolling restart) or leaves to a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, ConfigError};
use crate::restart::Pinned;

/// `[[runtime]]`: a pool whose runtime processes agtpd runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The pool the processes join (`[endpoint.handler] runtime`).
    pub pool: String,
    /// The program, looked up in `PATH` when it has no slash.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its working directory; by default agtpd's.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Environment added to agtpd's own (which the runtime inherits).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Processes kept running.
    #[serde(default = "one")]
    pub processes: usize,
    /// Gateway connections per process, passed as `AGTP_CONNECTIONS`.
    #[serde(default = "two")]
    pub connections: usize,
    /// How long a new process may take to register before it is killed and retried.
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub start_timeout: Duration,
    /// How long a registered process may go without a single gateway connection before
    /// it is replaced (a new one first); 0: never.
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub disconnected_timeout: Duration,
    /// Requests after which a process is replaced (a new one first); 0: never.
    #[serde(default)]
    pub max_requests: u64,
    /// Between SIGTERM and SIGKILL when a process is stopped.
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub stop_grace: Duration,
}

fn one() -> usize {
    1
}

fn two() -> usize {
    2
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

/// Checks every `[[runtime]]` section; one per pool.
pub(crate) fn validate(runtimes: &[RuntimeConfig]) -> Result<(), ConfigError> {
    let mut pools = std::collections::BTreeSet::new();
    for runtime in runtimes {
        let pool = &runtime.pool;
        if pool.is_empty() {
            return Err(invalid("runtime.pool", "must not be empty"));
        }
        if !pools.insert(pool) {
            return Err(invalid(
                "runtime.pool",
                format!("pool `{pool}` has two [[runtime]] sections; keep one"),
            ));
        }
        let checks = [
            (
                "runtime.command",
                runtime.command.trim().is_empty(),
                "must not be empty",
            ),
            (
                "runtime.processes",
                runtime.processes == 0,
                "must be at least 1",
            ),
            (
                "runtime.connections",
                runtime.connections == 0,
                "must be at least 1",
            ),
            (
                "runtime.start_timeout",
                runtime.start_timeout.is_zero(),
                "must be greater than zero",
            ),
            (
                "runtime.stop_grace",
                runtime.stop_grace.is_zero(),
                "must be greater than zero",
            ),
        ];
        if let Some((key, _, message)) = checks.into_iter().find(|(_, bad, _)| *bad) {
            return Err(invalid(key, format!("pool `{pool}`: {message}")));
        }
    }
    Ok(())
}

/// A reload applies new `[[runtime]]` sections by a rolling restart when they have the
/// same pools with the same process counts; anything else needs a restart of agtpd, so
/// the running sections stay.
pub(crate) fn pin(new: &mut Vec<RuntimeConfig>, running: &[RuntimeConfig], pinned: &mut Pinned) {
    let shape = |runtimes: &[RuntimeConfig]| {
        runtimes
            .iter()
            .map(|r| (r.pool.clone(), r.processes))
            .collect::<BTreeMap<_, _>>()
    };
    if shape(new) != shape(running) {
        pinned.note("runtime (pools or process counts)");
        *new = running.to_vec();
    }
}
