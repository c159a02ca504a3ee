//! The process manager: agtpd starts, watches, restarts and stops the runtime processes of
//! the pools that have a `[[runtime]]` section. Pools without one are served by runtimes
//! started elsewhere (systemd, Docker, a shell) that simply connect to the gateway.
//!
//! Layout:
//! - this file: `[[runtime]]` ([`RuntimeConfig`]), its validation, and [`Supervisor`], which
//!   owns one task per process slot (`processes` per pool) and the readiness check;
//! - `slot.rs`: one slot's life: start, wait for registration, restart with backoff after
//!   an exit, recycle after `max_requests` or on SIGHUP (new process first), stop;
//! - `output.rs`: runtime stdout and stderr, line by line (bounded), into the log;
//! - `shim.rs`: `agtpd __runtime-shim`, which sets the parent-death signal and `exec`s the
//!   runtime, so a runtime never outlives agtpd, even after `kill -9`;
//! - `notify.rs`: `sd_notify` (READY=1, STOPPING=1) for systemd's `Type=notify`.
//!
//! The gateway tags each connection with its peer's pid (`SO_PEERCRED`): that is how a
//! slot learns that its process registered and how many requests it served.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{invalid, ConfigError};
use crate::gateway::Gateway;

mod notify;
mod output;
mod shim;
mod slot;

pub(crate) use notify::notify;
pub use shim::runtime_shim;

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

/// Whether a reload can apply `new` `[[runtime]]` sections by a rolling restart: the same
/// pools with the same process counts. Anything else needs a restart of agtpd.
pub(crate) fn runtimes_reloadable(current: &[RuntimeConfig], new: &[RuntimeConfig]) -> bool {
    let shape = |runtimes: &[RuntimeConfig]| {
        runtimes
            .iter()
            .map(|r| (r.pool.clone(), r.processes))
            .collect::<BTreeMap<_, _>>()
    };
    shape(current) == shape(new)
}

/// The `[[runtime]]` sections of the latest rolling restart; each change is one restart.
pub(crate) type Generation = Arc<[Arc<RuntimeConfig>]>;

/// One process slot at one moment, for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotSnapshot {
    /// The pool.
    pub pool: String,
    /// The slot's index in its pool, from 0.
    pub slot: usize,
    /// The process serving the slot now, if one runs.
    pub pid: Option<u32>,
    /// Whether that process has registered with the gateway.
    pub registered: bool,
    /// Processes that exited or failed to register, since agtpd started.
    pub n_restarts: u64,
    /// Processes replaced on purpose (`max_requests`, SIGHUP).
    pub n_recycled: u64,
}

/// A slot's state, shared by its task and [`Supervisor::snapshot`].
#[derive(Default)]
pub(crate) struct SlotState {
    pid: AtomicU32,
    registered: AtomicBool,
    n_restarts: AtomicU64,
    n_recycled: AtomicU64,
}

/// The supervised pools. Building one starts nothing.
pub struct Supervisor {
    runtimes: Vec<Arc<RuntimeConfig>>,
    shim: OnceLock<PathBuf>,
    slots: Mutex<Vec<(String, usize, Arc<SlotState>)>>,
    generation: watch::Sender<Generation>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Supervisor {
    pub(crate) fn new(runtimes: &[RuntimeConfig]) -> Supervisor {
        Supervisor {
            runtimes: runtimes.iter().cloned().map(Arc::new).collect(),
            shim: OnceLock::new(),
            slots: Mutex::new(Vec::new()),
            generation: watch::Sender::new(Generation::default()),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Whether no pool is supervised.
    pub fn is_empty(&self) -> bool {
        self.runtimes.is_empty()
    }

    /// The supervised pools' names, in configuration order.
    pub fn pools(&self) -> impl Iterator<Item = &str> {
        self.runtimes.iter().map(|r| r.pool.as_str())
    }

    /// Starts runtimes through `agtpd __runtime-shim` at `agtpd` (this executable), so they
    /// die with agtpd. Without it (tests running the daemon in-process) they are started
    /// directly and only stopped by agtpd's own stop or drop.
    pub fn use_shim(&self, agtpd: PathBuf) {
        let _ = self.shim.set(agtpd);
    }

    /// Starts every slot; `socket` is the gateway's Unix socket.
    pub(crate) fn start(&self, gateway: &Arc<Gateway>, socket: PathBuf, endpoint_pools: &[String]) {
        let socket = std::path::absolute(&socket).unwrap_or(socket);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for config in &self.runtimes {
            if !endpoint_pools.contains(&config.pool) {
                tracing::warn!(
                    pool = config.pool,
                    "a supervised pool serves no endpoint; its runtimes will receive no request"
                );
            }
            for index in 0..config.processes {
                let state = Arc::new(SlotState::default());
                slots.push((config.pool.clone(), index, state.clone()));
                let slot = slot::Slot {
                    config: config.clone(),
                    index,
                    state,
                    gateway: gateway.clone(),
                    socket: socket.clone(),
                    shim: self.shim.get().cloned(),
                    stop: self.stop.clone(),
                    generation: self.generation.subscribe(),
                    tasks: self.tasks.clone(),
                };
                self.tasks.spawn(slot.run());
            }
        }
    }

    /// SIGHUP: replaces every process, each by a new one that registers first. The new
    /// processes run with `runtimes`, the reloaded `[[runtime]]` sections (same pools and
    /// process counts as at start; [`runtimes_reloadable`] decides).
    pub fn restart_all(&self, runtimes: &[RuntimeConfig]) {
        if !self.is_empty() {
            tracing::info!("rolling restart of the supervised runtimes");
            self.generation
                .send_replace(runtimes.iter().cloned().map(Arc::new).collect());
        }
    }

    /// Whether every slot's process has registered.
    pub fn is_ready(&self) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let expected: usize = self.runtimes.iter().map(|r| r.processes).sum();
        slots.len() == expected && slots.iter().all(|(_, _, s)| s.registered.load(Relaxed))
    }

    /// Completes once [`Supervisor::is_ready`].
    pub async fn ready(&self) {
        while !self.is_ready() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every slot, by pool and index.
    pub fn snapshot(&self) -> Vec<SlotSnapshot> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .iter()
            .map(|(pool, slot, state)| SlotSnapshot {
                pool: pool.clone(),
                slot: *slot,
                pid: Some(state.pid.load(Relaxed)).filter(|pid| *pid != 0),
                registered: state.registered.load(Relaxed),
                n_restarts: state.n_restarts.load(Relaxed),
                n_recycled: state.n_recycled.load(Relaxed),
            })
            .collect()
    }

    /// SIGTERM to every runtime, SIGKILL after its `stop_grace`; returns when all are gone.
    pub(crate) async fn stop(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
