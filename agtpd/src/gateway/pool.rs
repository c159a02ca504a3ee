//! One pool of runtime connections: the idle connections, the bounded FIFO of requests
//! waiting for one, the pool's manifest, and the counters `Gateway::snapshot` reports.
//!
//! The state sits behind a `std::sync::Mutex` that is only ever held for a few pointer
//! moves and never across an `.await`. A connection is lent out as a [`Lease`]; dropping a
//! lease that was not used (a caller that gave up, a waiter that timed out with the lease
//! in flight) puts the connection back, so a cancelled request never leaks a connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::metrics::histogram::Histogram;
use runtime_protocol::{ErrorFrame, Frame, Register, ResponseEnvelope};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How a pool reaches one idle connection: the connection's id and its job channel.
#[derive(Clone)]
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) jobs: mpsc::Sender<Job>,
    /// The runtime process behind the connection, when the socket tells (Unix peers).
    pub(super) pid: Option<u32>,
}

pub(crate) struct Pool {
    name: Arc<str>,
    manifest: watch::Sender<Arc<Register>>,
    state: Mutex<State>,
    pub(super) stats: Stats,
    pub(super) timings: PoolTimings,
}

/// A pool's time histograms, recorded by dispatch and read at scrape time.
#[derive(Clone, Debug)]
pub(crate) struct PoolTimings {
    /// From asking for a connection to getting one (0 when one was idle).
    pub(crate) queue_wait: Histogram,
    /// From handing the request to a connection to its answer.
    pub(crate) round_trip: Histogram,
}

#[derive(Default)]
struct State {
    idle: VecDeque<Slot>,
    waiters: VecDeque<Waiter>,
    n_connections: usize,
    next_waiter: u64,
}

struct Waiter {
    id: u64,
    lease: oneshot::Sender<Lease>,
}

/// Plain counters, readable without the lock.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) n_connections: AtomicUsize,
    pub(super) n_idle: AtomicUsize,
    pub(super) n_busy: AtomicUsize,
    pub(super) queue_depth: AtomicUsize,
    pub(super) n_served: AtomicU64,
    pub(super) n_rejected_busy: AtomicU64,
    pub(super) n_rejected_unavailable: AtomicU64,
    pub(super) n_timeouts: AtomicU64,
    pub(super) n_failed: AtomicU64,
}

/// One pool's counters at one moment, for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSnapshot {
    /// The pool's name.
    pub pool: String,
    /// `sha256:` hash of the endpoint set the pool's runtimes register.
    pub manifest_hash: String,
    /// How many endpoints the pool serves.
    pub n_endpoints: usize,
    /// Registered connections.
    pub n_connections: usize,
    /// Connections waiting for a request.
    pub n_idle: usize,
    /// Connections serving a request.
    pub n_busy: usize,
    /// Requests waiting for a connection.
    pub queue_depth: usize,
    /// Requests answered by a runtime (replies, declared errors and handler exceptions).
    pub n_served: u64,
    /// Requests refused with 503 `runtime-busy` (queue full or wait expired).
    pub n_rejected_busy: u64,
    /// Requests refused with 503 `runtime-unavailable` (no connection).
    pub n_rejected_unavailable: u64,
    /// Requests answered with 504 `handler-timeout`.
    pub n_timeouts: u64,
    /// Requests answered with 503 `runtime-failed`.
    pub n_failed: u64,
    /// The processes behind the connections (Unix socket peers only), by pid.
    pub processes: Vec<super::processes::ProcessSnapshot>,
}

/// What [`Pool::acquire`] found.
pub(super) enum Acquired {
    /// An idle connection, now lent to the caller.
    Ready(Lease),
    /// Every connection is busy; the caller waits on this ticket.
    Queued(Ticket),
    /// No connection is registered at all.
    Unavailable,
    /// Every connection is busy and the queue is full.
    Full,
}

impl Pool {
    pub(super) fn new(name: &str, manifest: Register) -> Pool {
        Pool {
            name: Arc::from(name),
            manifest: watch::Sender::new(Arc::new(manifest)),
            state: Mutex::new(State::default()),
            stats: Stats::default(),
            timings: PoolTimings {
                queue_wait: crate::metrics::seconds_histogram(),
                round_trip: crate::metrics::seconds_histogram(),
            },
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The name, shared (for per-call timing reports).
    pub(super) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The current manifest and a receiver that learns of the next one.
    pub(super) fn subscribe(&self) -> watch::Receiver<Arc<Register>> {
        self.manifest.subscribe()
    }

    /// Replaces the manifest when its hash changed; connections registered under the old
    /// one then say goodbye once idle. Returns whether it changed.
    pub(super) fn set_manifest(&self, manifest: Register) -> bool {
        self.manifest.send_if_modified(|current| {
            let changed = current.manifest_hash != manifest.manifest_hash;
            if changed {
                *current = Arc::new(manifest);
            }
            changed
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lends an idle connection (the fast path: the queue is not looked at), or queues.
    pub(super) fn acquire(self: &Arc<Self>, queue_length: usize) -> Acquired {
        let mut state = self.lock();
        if let Some(slot) = state.idle.pop_front() {
            self.stats.n_idle.store(state.idle.len(), Relaxed);
            return Acquired::Ready(Lease::new(self.clone(), slot));
        }
        if state.n_connections == 0 {
            return Acquired::Unavailable;
        }
        if state.waiters.len() >= queue_length {
            return Acquired::Full;
        }
        let (tx, rx) = oneshot::channel();
        let id = state.next_waiter;
        state.next_waiter += 1;
        state.waiters.push_back(Waiter { id, lease: tx });
        self.stats.queue_depth.store(state.waiters.len(), Relaxed);
        Acquired::Queued(Ticket {
            pool: self.clone(),
            id,
            lease: rx,
        })
    }

    /// A connection is idle again: it goes to the oldest live waiter, else to the idle list.
    pub(super) fn release(self: &Arc<Self>, slot: Slot) {
        if slot.jobs.is_closed() {
            return;
        }
        let mut state = self.lock();
        let mut slot = slot;
        while let Some(waiter) = state.waiters.pop_front() {
            match waiter.lease.send(Lease::new(self.clone(), slot)) {
                Ok(()) => {
                    self.stats.queue_depth.store(state.waiters.len(), Relaxed);
                    return;
                }
                // The waiter gave up; its lease comes back unused.
                Err(mut lease) => match lease.slot.take() {
                    Some(back) => slot = back,
                    None => return,
                },
            }
        }
        self.stats.queue_depth.store(0, Relaxed);
        state.idle.push_back(slot);
        self.stats.n_idle.store(state.idle.len(), Relaxed);
    }

    /// A connection finished registering and is idle.
    pub(super) fn join(self: &Arc<Self>, slot: Slot) {
        {
            let mut state = self.lock();
            state.n_connections += 1;
            self.stats.n_connections.store(state.n_connections, Relaxed);
        }
        self.release(slot);
    }

    /// A registered connection is gone. When it was the last one, queued requests learn
    /// at once that nothing will serve them.
    pub(super) fn leave(&self, id: u64) {
        let mut state = self.lock();
        state.idle.retain(|slot| slot.id != id);
        state.n_connections = state.n_connections.saturating_sub(1);
        if state.n_connections == 0 {
            state.waiters.clear();
        }
        self.stats.n_idle.store(state.idle.len(), Relaxed);
        self.stats.n_connections.store(state.n_connections, Relaxed);
        self.stats.queue_depth.store(state.waiters.len(), Relaxed);
    }

    fn cancel(&self, id: u64) {
        let mut state = self.lock();
        state.waiters.retain(|waiter| waiter.id != id);
        self.stats.queue_depth.store(state.waiters.len(), Relaxed);
    }

    pub(super) fn snapshot(&self) -> PoolSnapshot {
        let manifest = self.manifest.borrow();
        let s = &self.stats;
        PoolSnapshot {
            pool: self.name.to_string(),
            manifest_hash: manifest.manifest_hash.clone(),
            n_endpoints: manifest.endpoints.len(),
            n_connections: s.n_connections.load(Relaxed),
            n_idle: s.n_idle.load(Relaxed),
            n_busy: s.n_busy.load(Relaxed),
            queue_depth: s.queue_depth.load(Relaxed),
            n_served: s.n_served.load(Relaxed),
            n_rejected_busy: s.n_rejected_busy.load(Relaxed),
            n_rejected_unavailable: s.n_rejected_unavailable.load(Relaxed),
            n_timeouts: s.n_timeouts.load(Relaxed),
            n_failed: s.n_failed.load(Relaxed),
            processes: Vec::new(),
        }
    }
}

/// A connection lent to one request. Dropped unused, it returns to the pool.
pub(super) struct Lease {
    pool: Arc<Pool>,
    slot: Option<Slot>,
}

impl Lease {
    fn new(pool: Arc<Pool>, slot: Slot) -> Lease {
        Lease {
            pool,
            slot: Some(slot),
        }
    }

    /// The runtime process behind the lent connection, when known.
    pub(super) fn pid(&self) -> Option<u32> {
        self.slot.as_ref().and_then(|slot| slot.pid)
    }

    /// Hands `job` to the connection. On success the connection owns the request and puts
    /// itself back when done; on failure (the connection has closed) the job comes back,
    /// never written.
    // The job comes back by value so a retry reuses it; see `Outcome` on boxing.
    #[allow(clippy::result_large_err)]
    pub(super) fn send(mut self, job: Job) -> Result<(), Job> {
        let Some(slot) = self.slot.take() else {
            return Err(job);
        };
        slot.jobs.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => job,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.pool.release(slot);
        }
    }
}

/// A place in a pool's queue.
pub(super) struct Ticket {
    pool: Arc<Pool>,
    id: u64,
    lease: oneshot::Receiver<Lease>,
}

/// Why a queued call got no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoLease {
    /// The wait expired with every connection still busy.
    Expired,
    /// The pool lost its last connection.
    PoolGone,
}

impl Ticket {
    /// Waits for a connection until `wait` passes.
    pub(super) async fn wait(mut self, wait: std::time::Duration) -> Result<Lease, NoLease> {
        match tokio::time::timeout(wait, &mut self.lease).await {
            Ok(Ok(lease)) => Ok(lease),
            Ok(Err(_)) => Err(NoLease::PoolGone),
            // A connection may have been handed over just as the wait expired: take it.
            Err(_) => {
                self.pool.cancel(self.id);
                self.lease.try_recv().map_err(|_| NoLease::Expired)
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pool.cancel(self.id);
    }
}

/// One request for a connection to serve.
pub(crate) struct Job {
    /// A `Frame::Request`; its `deadline_ms` is filled in just before writing.
    pub(super) frame: Frame,
    pub(super) deadline: Instant,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// How a job ended, as the dispatcher needs to know it.
// `Broken` carries the request frame back for a retry. It is moved once per request;
// boxing it would cost an allocation on every call to save a memcpy on the rare failure.
#[allow(clippy::large_enum_variant)]
pub(super) enum Outcome {
    /// The runtime answered with a `response`.
    Answered(ResponseEnvelope),
    /// The runtime answered with an `error` for this request (`handler_exception`).
    Failed(ErrorFrame),
    /// No answer before the deadline; the connection is closed.
    TimedOut,
    /// The frame could not be encoded (larger than the frame limit); nothing was written.
    Unsendable(String),
    /// The connection ended without an answer. `written` is false only when no byte of
    /// the request can have reached the runtime; the frame comes back for a retry.
    Broken { written: bool, frame: Frame },
}
