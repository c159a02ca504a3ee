//! The `Cache-Status` response header (RFC 9211): one member, `agtpd`, with the subset of
//! parameters this cache uses. It is appended, so a `Cache-Status` from a cache nearer
//! the origin (an upstream agtpd behind a proxy) stays first.
//!
//! | what happened | value |
//! |---|---|
//! | served from the cache | `agtpd; hit; ttl=42` |
//! | answered by a concurrent identical miss | `agtpd; fwd=miss; collapsed; ttl=42` |
//! | a miss, stored | `agtpd; fwd=miss; fwd-status=200; stored; ttl=300` |
//! | a miss, not stored (non-2xx) | `agtpd; fwd=miss; fwd-status=422` |
//! | a miss, not stored, for a reason | `...; fwd-status=200; detail=too-large` (`invalidated`, `uncollapsed`) |
//! | an endpoint the cache does not handle | `agtpd; fwd=bypass` |
//! | the cache is disabled (`max_entries = 0`) | `agtpd; fwd=bypass; detail=disabled` |
//! | the shared backend (Redis) failed or is paused | `agtpd; fwd=bypass; detail=backend-unavailable` |
//!
//! `ttl` is the whole seconds the entry has left (0 in its last second). `detail`:
//! `too-large` (body over `max_body`, or the entry over `max_bytes`), `invalidated` (a
//! non-idempotent call on the path ran meanwhile), `uncollapsed` (a follower whose leader
//! stored nothing, or that stopped waiting at `lock_timeout`, called the handler itself),
//! `backend-unavailable` (the answer could not be stored on the shared backend).

use std::fmt;

/// The header's name.
pub(crate) const HEADER: &str = "Cache-Status";

/// Why a miss was not stored, when its status does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    TooLarge,
    Invalidated,
    Uncollapsed,
    BackendUnavailable,
}

/// What the cache did for one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheStatus {
    Hit {
        ttl: u64,
    },
    Collapsed {
        ttl: u64,
    },
    Stored {
        fwd_status: u16,
        ttl: u64,
    },
    Forwarded {
        fwd_status: u16,
        why: Option<NotStored>,
    },
    Bypass,
    Disabled,
    Unavailable,
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("agtpd")?;
        match *self {
            CacheStatus::Hit { ttl } => write!(f, "; hit; ttl={ttl}"),
            CacheStatus::Collapsed { ttl } => write!(f, "; fwd=miss; collapsed; ttl={ttl}"),
            CacheStatus::Stored { fwd_status, ttl } => {
                write!(f, "; fwd=miss; fwd-status={fwd_status}; stored; ttl={ttl}")
            }
            CacheStatus::Forwarded { fwd_status, why } => {
                write!(f, "; fwd=miss; fwd-status={fwd_status}")?;
                match why {
                    None => Ok(()),
                    Some(NotStored::TooLarge) => f.write_str("; detail=too-large"),
                    Some(NotStored::Invalidated) => f.write_str("; detail=invalidated"),
                    Some(NotStored::Uncollapsed) => f.write_str("; detail=uncollapsed"),
                    Some(NotStored::BackendUnavailable) => {
                        f.write_str("; detail=backend-unavailable")
                    }
                }
            }
            CacheStatus::Bypass => f.write_str("; fwd=bypass"),
            CacheStatus::Disabled => f.write_str("; fwd=bypass; detail=disabled"),
            CacheStatus::Unavailable => f.write_str("; fwd=bypass; detail=backend-unavailable"),
        }
    }
}

#[cfg(test)]
mod tests;
