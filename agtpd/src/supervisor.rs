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

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::config::RuntimeConfig;
use self::state::{Generation, SlotState};
use crate::gateway::Gateway;

pub mod config;
mod notify;
mod output;
mod shim;
mod slot;
mod state;

pub(crate) use notify::notify;
pub use shim::runtime_shim;
pub use state::SlotSnapshot;

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
        let runtimes: Generation = runtimes.iter().cloned().map(Arc::new).collect();
        Supervisor {
            runtimes: runtimes.to_vec(),
            shim: OnceLock::new(),
            slots: Mutex::new(Vec::new()),
            generation: watch::Sender::new(runtimes),
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

    /// A reload: the processes of every pool whose `[[runtime]]` section differs in
    /// `runtimes` are replaced, each by a new one that registers first and runs with the
    /// new section; the other pools keep their processes. `runtimes` has the pools and
    /// process counts of the start (`config::pin` keeps them).
    pub(crate) fn reload(&self, runtimes: &[RuntimeConfig]) {
        let changed: Vec<&str> = runtimes
            .iter()
            .filter(|r| self.generation.borrow().iter().all(|old| **old != **r))
            .map(|r| r.pool.as_str())
            .collect();
        if changed.is_empty() {
            return;
        }
        tracing::info!(
            pools = changed.join(", "),
            "rolling restart of the supervised runtimes"
        );
        self.generation
            .send_replace(runtimes.iter().cloned().map(Arc::new).collect());
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
