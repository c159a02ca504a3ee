//! Reconnect delays (PROTOCOL.md §10): 1, 2, 4, 8, 16 seconds, then every 30 seconds, back to
//! 1 second once a registration succeeds.

use std::time::Duration;

/// The first delay, and the one after a successful registration.
const FIRST: Duration = Duration::from_secs(1);
/// The longest delay.
const CAP: Duration = Duration::from_secs(30);

/// The delay before the next connection attempt of one connection slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// The delay to wait now; the one after it doubles, up to 30 seconds.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(CAP);
        delay
    }

    /// Back to the first delay: the daemon accepted a registration.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests;
