//! The module's counters, exported through `Module::metrics` (the daemon prefixes each
//! name with `agtpd_`).

use std::sync::atomic::{AtomicU64, Ordering};

use agtp_core::module::{MetricKind, ModuleMetric};

/// What the cache counted since start-up.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) collapsed: AtomicU64,
    pub(crate) stores: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) invalidations: AtomicU64,
}

/// Adds `n` to `counter`.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// The samples, with the store's current `entries` and `bytes` as gauges and the
    /// shared backend's error count.
    pub(crate) fn samples(
        &self,
        entries: u64,
        bytes: u64,
        backend_errors: u64,
    ) -> Vec<ModuleMetric> {
        let counter = |name, help, value: &AtomicU64| ModuleMetric {
            name,
            help,
            kind: MetricKind::Counter,
            labels: Vec::new(),
            value: value.load(Ordering::Relaxed),
        };
        let gauge = |name, help, value| ModuleMetric {
            name,
            help,
            kind: MetricKind::Gauge,
            labels: Vec::new(),
            value,
        };
        vec![
            counter(
                "cache_hits_total",
                "Answers served from the cache.",
                &self.hits,
            ),
            counter(
                "cache_misses_total",
                "Cacheable requests that went to the handler.",
                &self.misses,
            ),
            counter(
                "cache_collapsed_total",
                "Misses answered with a concurrent identical miss's stored answer.",
                &self.collapsed,
            ),
            counter("cache_stores_total", "Answers stored.", &self.stores),
            counter(
                "cache_evictions_total",
                "Entries evicted to keep within max_entries and max_bytes.",
                &self.evictions,
            ),
            counter(
                "cache_invalidations_total",
                "Entries purged by a non-idempotent call on their path.",
                &self.invalidations,
            ),
            ModuleMetric {
                name: "cache_backend_errors_total",
                help: "Operations on the shared backend (Redis) that failed or timed out; each made the cache bypass.",
                kind: MetricKind::Counter,
                labels: Vec::new(),
                value: backend_errors,
            },
            gauge("cache_entries", "Entries held.", entries),
            gauge("cache_bytes", "Bytes held (keys, bodies, headers).", bytes),
        ]
    }
}
