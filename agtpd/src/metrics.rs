//! The daemon's metrics, served as OpenMetrics text on the admin listener's `/metrics`
//! (prometheus-client), every name prefixed `agtpd_`. Two kinds:
//!
//! - recorded as things happen ([`Metrics`]): requests by method, status class and
//!   endpoint, request durations, accepted and refused connections, TLS handshake
//!   failures, configuration reloads. Counters are atomics; a histogram takes a short
//!   uncontended lock. Label values are interned `Arc<str>`s, so counting a request
//!   allocates nothing once its labels have been seen, and there are at most
//!   [`MAX_LABEL_VALUES`] of them (beyond: `other`);
//! - read at scrape time (`scrape.rs`): the gateway's per-pool counters and histograms,
//!   the supervisor's restarts, open connections, and every module's `Module::metrics()`.
//!   Nothing there is counted twice.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

mod scrape;

pub(crate) use scrape::Scrape;

/// Distinct values one label may take (methods, endpoints); further ones count as `other`.
pub(crate) const MAX_LABEL_VALUES: usize = 512;

/// Buckets from 0.5 ms to about 12 s, for every `_seconds` histogram.
pub(crate) fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.5, 12))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: Arc<str>,
    status_class: &'static str,
    endpoint: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// What the request path and the accept loops record.
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    accepted: Counter,
    refused: Counter,
    tls_failures: Counter,
    proxy_refused: Counter,
    reloads: Family<ResultLabels, Counter>,
    last_reload: Gauge<f64, std::sync::atomic::AtomicU64>,
    methods: Interner,
    endpoints: Interner,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(seconds_histogram),
            accepted: Counter::default(),
            refused: Counter::default(),
            tls_failures: Counter::default(),
            proxy_refused: Counter::default(),
            reloads: Family::default(),
            last_reload: Gauge::default(),
            methods: Interner::default(),
            endpoints: Interner::default(),
        };
        // The configuration loaded at start counts as the first successful load.
        metrics.last_reload.set(now());
        metrics
    }
}

/// The label of a request that could not be parsed, or was not routed to an endpoint.
const UNPARSED: &str = "unparsed";
const UNROUTED: &str = "unrouted";

impl Metrics {
    /// Counts one answered request. `method` is `None` when the request could not be
    /// parsed; the caller passes only verbs the catalog knows. `endpoint` is the routed
    /// endpoint's path template. `last` is the connection's own: when the request has
    /// the labels of the connection's previous one (the common case on a keep-alive
    /// connection), its handles are reused and no shared lock is taken.
    pub(crate) fn request(
        &self,
        last: &mut LastLabels,
        method: Option<&str>,
        status: u16,
        endpoint: Option<&str>,
        elapsed: Duration,
    ) {
        let (method, endpoint) = (method.unwrap_or(UNPARSED), endpoint.unwrap_or(UNROUTED));
        let class = status_class(status);
        let handles = match &last.0 {
            Some(seen) if seen.matches(method, class, endpoint) => seen,
            _ => {
                let labels = RequestLabels {
                    method: self.methods.get(method),
                    status_class: class,
                    endpoint: self.endpoints.get(endpoint),
                };
                let counter = self.requests.get_or_create(&labels).clone();
                let duration = EndpointLabels {
                    endpoint: labels.endpoint.clone(),
                };
                let histogram = self.durations.get_or_create(&duration).clone();
                last.0.insert(Seen {
                    labels,
                    counter,
                    histogram,
                })
            }
        };
        handles.counter.inc();
        handles.histogram.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn accepted(&self) {
        self.accepted.inc();
    }

    pub(crate) fn refused(&self) {
        self.refused.inc();
    }

    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_failures.inc();
    }

    /// A trusted balancer's connection came without a valid PROXY header.
    pub(crate) fn proxy_header_refused(&self) {
        self.proxy_refused.inc();
    }

    /// A SIGHUP reload was applied (`true`) or refused.
    pub(crate) fn reloaded(&self, applied: bool) {
        let result = if applied { "success" } else { "failure" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
        if applied {
            self.last_reload.set(now());
        }
    }

    /// Registers handles onto these metrics in `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "build",
            "The agtpd version running",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "requests",
            "Requests answered, by method, status class and endpoint (path template)",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "From a request's first byte to its response being queued, by endpoint",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register(
            "connections_accepted",
            "AGTP connections accepted",
            self.accepted.clone(),
        );
        registry.register(
            "connections_refused",
            "AGTP connections refused at max_connections",
            self.refused.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            self.tls_failures.clone(),
        );
        registry.register(
            "proxy_protocol_refused",
            "Connections from trusted balancers closed for a missing or malformed PROXY header",
            self.proxy_refused.clone(),
        );
        registry.register(
            "config_reloads",
            "SIGHUP reloads, by result",
            self.reloads.clone(),
        );
        registry.register_with_unit(
            "config_last_reload_success_timestamp",
            "When the configuration was last loaded successfully (Unix time)",
            Unit::Seconds,
            self.last_reload.clone(),
        );
    }
}

/// The labels of a connection's last request and the metric handles they resolved to.
#[derive(Default)]
pub(crate) struct LastLabels(Option<Seen>);

struct Seen {
    labels: RequestLabels,
    counter: Counter,
    histogram: Histogram,
}

impl Seen {
    fn matches(&self, method: &str, class: &'static str, endpoint: &str) -> bool {
        let l = &self.labels;
        l.status_class == class && *l.method == *method && *l.endpoint == *endpoint
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Shared label values: the first sighting of a value allocates, later ones clone an `Arc`.
#[derive(Default)]
struct Interner {
    known: RwLock<HashSet<Arc<str>>>,
}

impl Interner {
    fn get(&self, value: &str) -> Arc<str> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = known.get(value) {
            return shared.clone();
        }
        drop(known);
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = known.get(value) {
            return shared.clone();
        }
        let shared: Arc<str> = match known.len() < MAX_LABEL_VALUES {
            true => Arc::from(value),
            false => Arc::from("other"),
        };
        known.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests;
