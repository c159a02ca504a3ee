//! Single-flight: the first miss for a key (the leader) calls the handler; identical
//! misses arriving meanwhile (followers) wait for its answer instead.
//!
//! The leader holds a [`Leader`] guard in the exchange's extensions. It is released in
//! `on_response`, after the answer was stored, and otherwise when the exchange is dropped
//! (a later module failed, the client went away, the drain cut the connection): dropping
//! the guard wakes every follower, so none can hang. A follower also waits at most
//! `lock_timeout`. What a follower gets is the leader's answer if the leader stored it;
//! otherwise (an error, too large, invalidated, the leader dropped) it calls the handler
//! itself, without storing what it gets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{Key, Stored};

/// The leaders in flight, by key. Holds one entry per distinct key being fetched.
#[derive(Default)]
pub(crate) struct Flights {
    leaders: Mutex<HashMap<Arc<Key>, Arc<Flight>>>,
}

struct Flight {
    /// `Some` once the leader stored its answer. Dropped with the last `Arc<Flight>`,
    /// which wakes the followers too.
    answer: watch::Sender<Option<Arc<Stored>>>,
    /// Set when a non-idempotent call on the key's path ran while this flight was in
    /// progress: what the leader gets may predate that call, so it is not stored.
    invalidated: AtomicBool,
}

/// What [`Flights::join`] made of a miss.
pub(crate) enum Role {
    /// The first miss for its key: call the handler, then [`Leader::finish`].
    Leader(Leader),
    /// A leader is in flight: [`Follower::wait`] for its answer.
    Follower(Follower),
}

/// The leader's guard. Dropping it ends the flight.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: Arc<Key>,
    flight: Arc<Flight>,
}

/// A follower's view of the leader's flight.
pub(crate) struct Follower(watch::Receiver<Option<Arc<Stored>>>);

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<Key>, Arc<Flight>>> {
        self.leaders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leads the flight for `key`, or follows the one in progress.
    pub(crate) fn join(self: &Arc<Self>, key: &Arc<Key>) -> Role {
        let mut leaders = self.lock();
        if let Some(flight) = leaders.get(&**key) {
            return Role::Follower(Follower(flight.answer.subscribe()));
        }
        let flight = Arc::new(Flight {
            answer: watch::Sender::new(None),
            invalidated: AtomicBool::new(false),
        });
        leaders.insert(key.clone(), flight.clone());
        Role::Leader(Leader {
            flights: self.clone(),
            key: key.clone(),
            flight,
        })
    }

    /// Marks every flight on `path` as invalidated.
    pub(crate) fn invalidate_path(&self, path: &str) {
        for (key, flight) in self.lock().iter() {
            if key.path == path {
                flight.invalidated.store(true, Ordering::SeqCst);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Leader {
    /// Whether a non-idempotent call on the path ran since this flight started.
    pub(crate) fn is_invalidated(&self) -> bool {
        self.flight.invalidated.load(Ordering::SeqCst)
    }

    /// Ends the flight; followers get `stored` (`None`: they call the handler).
    pub(crate) fn finish(self, stored: Option<Arc<Stored>>) {
        self.flight.answer.send_replace(stored);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut leaders = self.flights.lock();
        if leaders
            .get(&*self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            leaders.remove(&*self.key);
        }
    }
}

impl Follower {
    /// The leader's stored answer, or `None` when it stored none, ended without one, or
    /// did not finish within `limit`.
    pub(crate) async fn wait(mut self, limit: Duration) -> Option<Arc<Stored>> {
        // `changed` ends with Ok when the leader finished, Err when its flight was
        // dropped; either way the current value is what the leader left.
        let _ = tokio::time::timeout(limit, self.0.changed()).await;
        let answer = self.0.borrow().clone();
        answer
    }
}

#[cfg(test)]
mod tests;
