//! What a supervised slot shows outside its task: its state, and the generation of
//! `[[runtime]]` sections a rolling restart hands it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::Arc;

use serde::Serialize;

use super::config::RuntimeConfig;

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
    pub(super) pid: AtomicU32,
    pub(super) registered: AtomicBool,
    pub(super) n_restarts: AtomicU64,
    pub(super) n_recycled: AtomicU64,
}
