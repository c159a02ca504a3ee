//! Upstreams and their passive health, and the round-robin order a request tries them in.
//!
//! Health is per upstream URI and shared by every binding that names it. After
//! `eject_after` consecutive failures an upstream is ejected for `eject_for`; once the
//! cool-down is over it is tried again, and a success clears its count while one more
//! failure ejects it again at once. When every upstream of a list is ejected, the list is
//! tried anyway, soonest-back first: ejection orders the attempts, it never refuses a
//! request on its own (a lone upstream that blipped would otherwise fail every request
//! for the whole cool-down).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agtp_core::client::{Deadlines, Origin};
use tokio::time::Instant;

/// Why an attempt failed, for the failure counter's `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No connection: refused, unreachable, name not resolved.
    Connect,
    /// Connecting took longer than the connect timeout.
    ConnectTimeout,
    /// The TLS handshake or a record failed.
    Tls,
    /// The response did not arrive in time.
    Timeout,
    /// The connection closed or broke before the response was complete.
    Closed,
    /// The upstream's bytes were not a valid AGTP response within the limits.
    BadResponse,
}

impl Failure {
    pub(crate) const ALL: [Failure; 6] = [
        Failure::Connect,
        Failure::ConnectTimeout,
        Failure::Tls,
        Failure::Timeout,
        Failure::Closed,
        Failure::BadResponse,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::ConnectTimeout => "connect-timeout",
            Failure::Tls => "tls",
            Failure::Timeout => "timeout",
            Failure::Closed => "closed",
            Failure::BadResponse => "bad-response",
        }
    }

    fn index(self) -> usize {
        match self {
            Failure::Connect => 0,
            Failure::ConnectTimeout => 1,
            Failure::Tls => 2,
            Failure::Timeout => 3,
            Failure::Closed => 4,
            Failure::BadResponse => 5,
        }
    }
}

/// One upstream server: where it is, its health and its counters.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// The URI as configured; the metrics' `upstream` label.
    pub(crate) uri: String,
    pub(crate) origin: Origin,
    consecutive_failures: AtomicU32,
    ejected_until: Mutex<Option<Instant>>,
    pub(crate) n_requests: AtomicU64,
    n_failures: [AtomicU64; 6],
}

impl Upstream {
    pub(crate) fn new(uri: String, origin: Origin) -> Upstream {
        Upstream {
            uri,
            origin,
            consecutive_failures: AtomicU32::new(0),
            ejected_until: Mutex::new(None),
            n_requests: AtomicU64::new(0),
            n_failures: Default::default(),
        }
    }

    /// When the ejection ends, if the upstream is ejected at `now`.
    pub(crate) fn ejected_at(&self, now: Instant) -> Option<Instant> {
        let until = *self
            .ejected_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|until| *until > now)
    }

    pub(crate) fn succeeded(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// Counts a failure; ejects the upstream once `eject_after` happened in a row.
    pub(crate) fn failed(&self, failure: Failure, eject_after: u32, eject_for: Duration) {
        self.n_failures[failure.index()].fetch_add(1, Ordering::Relaxed);
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < eject_after {
            return;
        }
        let now = Instant::now();
        let mut until = self
            .ejected_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if until.map_or(true, |until| until <= now) {
            *until = Some(now + eject_for);
            tracing::warn!(
                upstream = %self.uri,
                failures = n,
                cool_down = ?eject_for,
                "proxy: upstream ejected after consecutive failures"
            );
        }
    }

    pub(crate) fn n_failures(&self, failure: Failure) -> u64 {
        self.n_failures[failure.index()].load(Ordering::Relaxed)
    }
}

/// The upstreams of one binding (an endpoint's, or the catch-all) and its deadlines.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) upstreams: Vec<Arc<Upstream>>,
    pub(crate) deadlines: Deadlines,
    next: AtomicUsize,
}

impl Group {
    pub(crate) fn new(upstreams: Vec<Arc<Upstream>>, deadlines: Deadlines) -> Group {
        Group {
            upstreams,
            deadlines,
            next: AtomicUsize::new(0),
        }
    }

    /// The order to try the upstreams in: the healthy ones round-robin; when none is
    /// healthy, all of them, the one coming back soonest first.
    pub(crate) fn order(&self) -> Vec<Arc<Upstream>> {
        let now = Instant::now();
        let healthy: Vec<&Arc<Upstream>> = self
            .upstreams
            .iter()
            .filter(|u| u.ejected_at(now).is_none())
            .collect();
        if healthy.is_empty() {
            let mut all = self.upstreams.clone();
            all.sort_by_key(|u| u.ejected_at(now));
            return all;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % healthy.len();
        healthy[start..]
            .iter()
            .chain(&healthy[..start])
            .map(|u| Arc::clone(u))
            .collect()
    }
}

#[cfg(test)]
mod tests;
