//! Runtime processes as the gateway sees them: each connection accepted on the Unix socket
//! is tagged with its peer's pid (`SO_PEERCRED`, so a runtime cannot claim another's) and
//! that process's process group, the requests each process served are counted, and a
//! process group can be asked to retire: its connections say `goodbye` (`drain`) as soon
//! as they are idle, never under a request. The supervisor drives this for `max_requests`
//! recycling and rolling restarts.
//!
//! The supervisor starts each runtime in a process group of its own, whose id is the pid
//! it spawned, and asks about that group: so a launcher that does not `exec` (a shell
//! script, `npm start`) or a prefork master whose workers connect counts as one runtime,
//! whichever of its processes holds the connections.

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
    /// Its process group (a supervised runtime's is the pid agtpd started).
    pub group: u32,
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
    group: u32,
    n_connections: usize,
    n_served: Arc<AtomicU64>,
}

/// A registered connection's process: which one, its group, and its request counter.
pub(crate) struct Member {
    pub(super) pid: u32,
    pub(super) group: u32,
    pub(super) n_served: Arc<AtomicU64>,
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

    /// A connection of `pid` registered in `pool`.
    pub(super) fn join(&self, pid: u32, pool: &str) -> Member {
        let group = i32::try_from(pid)
            .ok()
            .and_then(|raw| nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(raw))).ok())
            .and_then(|group| u32::try_from(group.as_raw()).ok())
            .unwrap_or(pid);
        let mut state = self.lock();
        let entry = state.entry(pid).or_insert_with(|| Entry {
            pool: pool.to_owned(),
            group,
            n_connections: 0,
            n_served: Arc::new(AtomicU64::new(0)),
        });
        entry.n_connections += 1;
        Member {
            pid,
            group: entry.group,
            n_served: entry.n_served.clone(),
        }
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

    /// Asks the connections of process group `group`, present and future, to say goodbye
    /// once idle.
    pub(crate) fn retire(&self, group: u32) {
        self.retiring.send_modify(|set| {
            set.insert(group);
        });
    }

    /// Process group `group` is gone: its number may be reused by an unrelated process.
    pub(crate) fn forget(&self, group: u32) {
        self.retiring.send_if_modified(|set| set.remove(&group));
    }

    /// The registered connections of process group `group` and the requests its
    /// processes served, when it has connections.
    pub(crate) fn get(&self, group: u32) -> Option<(usize, u64)> {
        let state = self.lock();
        state
            .values()
            .filter(|entry| entry.group == group)
            .map(|entry| (entry.n_connections, entry.n_served.load(Relaxed)))
            .reduce(|(c, s), (n_c, n_s)| (c + n_c, s + n_s))
    }

    /// The processes with connections in `pool`, by pid.
    pub(super) fn snapshot(&self, pool: &str) -> Vec<ProcessSnapshot> {
        let mut processes: Vec<ProcessSnapshot> = self
            .lock()
            .iter()
            .filter(|(_, entry)| entry.pool == pool)
            .map(|(pid, entry)| ProcessSnapshot {
                pid: *pid,
                group: entry.group,
                n_connections: entry.n_connections,
                n_served: entry.n_served.load(Relaxed),
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        processes
    }
}
