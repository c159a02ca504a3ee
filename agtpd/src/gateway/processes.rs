//! Runtime processes as the gateway sees them: each connection accepted on the Unix socket
//! is tagged with its peer's pid (`SO_PEERCRED`, so a runtime cannot claim another's), the
//! requests each process served are counted, and a process can be asked to retire: its
//! connections say `goodbye` (`drain`) as soon as they are idle, never under a request.
//! The supervisor drives this for `max_requests` recycling and rolling restarts.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::sync::watch;

/// One runtime process's connections and requests, for metrics and the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessSnapshot {
    /// The process id, from the socket's peer credentials.
    pub pid: u32,
    /// Its registered connections.
    pub n_connections: usize,
    /// Requests it answered while it had at least one connection.
    pub n_served: u64,
}

pub(crate) struct Processes {
    state: Mutex<HashMap<u32, Entry>>,
    retiring: watch::Sender<BTreeSet<u32>>,
}

struct Entry {
    pool: String,
    n_connections: usize,
    n_served: Arc<AtomicU64>,
}

impl Processes {
    pub(super) fn new() -> Processes {
        Processes {
            state: Mutex::new(HashMap::new()),
            retiring: watch::Sender::new(BTreeSet::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Entry>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection of `pid` registered in `pool`; returns the process's request counter.
    pub(super) fn join(&self, pid: u32, pool: &str) -> Arc<AtomicU64> {
        let mut state = self.lock();
        let entry = state.entry(pid).or_insert_with(|| Entry {
            pool: pool.to_owned(),
            n_connections: 0,
            n_served: Arc::new(AtomicU64::new(0)),
        });
        entry.n_connections += 1;
        entry.n_served.clone()
    }

    /// A connection of `pid` is gone; the process is forgotten with its last connection.
    pub(super) fn leave(&self, pid: u32) {
        let mut state = self.lock();
        if let Some(entry) = state.get_mut(&pid) {
            entry.n_connections = entry.n_connections.saturating_sub(1);
            if entry.n_connections == 0 {
                state.remove(&pid);
            }
        }
    }

    /// Learns when the set of retiring processes changes.
    pub(super) fn subscribe(&self) -> watch::Receiver<BTreeSet<u32>> {
        self.retiring.subscribe()
    }

    /// Asks `pid`'s connections, present and future, to say goodbye once idle.
    pub(crate) fn retire(&self, pid: u32) {
        self.retiring.send_modify(|set| {
            set.insert(pid);
        });
    }

    /// `pid` has exited: its number may be reused by an unrelated process.
    pub(crate) fn forget(&self, pid: u32) {
        self.retiring.send_if_modified(|set| set.remove(&pid));
    }

    /// `pid`'s registered connections and the requests it served, when it has connections.
    pub(crate) fn get(&self, pid: u32) -> Option<(usize, u64)> {
        let state = self.lock();
        let entry = state.get(&pid)?;
        Some((entry.n_connections, entry.n_served.load(Relaxed)))
    }

    /// The processes with connections in `pool`, by pid.
    pub(super) fn snapshot(&self, pool: &str) -> Vec<ProcessSnapshot> {
        let mut processes: Vec<ProcessSnapshot> = self
            .lock()
            .iter()
            .filter(|(_, entry)| entry.pool == pool)
            .map(|(pid, entry)| ProcessSnapshot {
                pid: *pid,
                n_connections: entry.n_connections,
                n_served: entry.n_served.load(Relaxed),
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        processes
    }
}
