//! The metrics read at scrape time from what the daemon already counts: the gateway's
//! pools (connections by state, queue depth, outcomes, rejections, time histograms), the
//! supervisor's slots (restarts, recycles), open connections, and the modules' own samples.

use std::collections::BTreeMap;
use std::sync::Arc;

use agtp_core::module::{MetricKind, ModuleMetric};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use tokio::sync::Semaphore;

use crate::gateway::Gateway;
use crate::pipeline::Pipeline;
use crate::supervisor::Supervisor;

/// The scrape-time collector, registered once with the daemon's registry.
pub(crate) struct Scrape {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) supervisor: Arc<Supervisor>,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) connections: Arc<Semaphore>,
    pub(crate) max_connections: usize,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let open = self.max_connections - self.connections.available_permits();
        let gauge = ConstGauge::new(i64::try_from(open).unwrap_or(i64::MAX));
        gauge.encode(encoder.encode_descriptor(
            "connections_open",
            "AGTP connections open now.",
            None,
            MetricType::Gauge,
        )?)?;
        self.pools(&mut encoder)?;
        self.timings(&mut encoder)?;
        self.restarts(&mut encoder)?;
        encode_modules(&self.pipeline.metrics(), &mut encoder)
    }
}

impl Scrape {
    fn pools(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let pools = self.gateway.snapshot();
        let mut connections = Vec::new();
        let mut depth = Vec::new();
        let mut outcomes = Vec::new();
        let mut rejections = Vec::new();
        for p in &pools {
            let pool = p.pool.as_str();
            connections.push((vec![("pool", pool), ("state", "busy")], p.n_busy as u64));
            connections.push((vec![("pool", pool), ("state", "idle")], p.n_idle as u64));
            depth.push((vec![("pool", pool)], p.queue_depth as u64));
            rejections.push((vec![("pool", pool)], p.n_rejected_busy));
            for (outcome, n) in [
                ("served", p.n_served),
                ("rejected_busy", p.n_rejected_busy),
                ("rejected_unavailable", p.n_rejected_unavailable),
                ("timeout", p.n_timeouts),
                ("failed", p.n_failed),
            ] {
                outcomes.push((vec![("pool", pool), ("outcome", outcome)], n));
            }
        }
        gauges(
            encoder,
            "pool_connections",
            "Registered runtime connections, by pool and state (busy, idle).",
            &connections,
        )?;
        gauges(
            encoder,
            "pool_queue_depth",
            "Requests waiting for a runtime connection, by pool.",
            &depth,
        )?;
        counters(
            encoder,
            "gateway_requests",
            "Calls to runtimes, by pool and outcome (served includes declared errors and handler exceptions).",
            &outcomes,
        )?;
        counters(
            encoder,
            "queue_rejections",
            "Requests refused with 503 runtime-busy: the pool's queue was full or the wait expired.",
            &rejections,
        )
    }

    fn timings(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let timings = self.gateway.timings();
        let mut family = encoder.encode_descriptor(
            "queue_wait",
            "Time a call waited for a free runtime connection, by pool.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (pool, t) in &timings {
            t.queue_wait
                .encode(family.encode_family(&vec![("pool", pool.as_str())])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "gateway_round_trip",
            "From handing a request to a runtime connection to its answer, by pool.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (pool, t) in &timings {
            t.round_trip
                .encode(family.encode_family(&vec![("pool", pool.as_str())])?)?;
        }
        Ok(())
    }

    fn restarts(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut by_pool: BTreeMap<String, (u64, u64)> = self
            .supervisor
            .pools()
            .map(|pool| (pool.to_owned(), (0, 0)))
            .collect();
        for slot in self.supervisor.snapshot() {
            let entry = by_pool.entry(slot.pool).or_default();
            entry.0 += slot.n_restarts;
            entry.1 += slot.n_recycled;
        }
        let restarts: Vec<_> = by_pool
            .iter()
            .map(|(pool, (n, _))| (vec![("pool", pool.as_str())], *n))
            .collect();
        let recycles: Vec<_> = by_pool
            .iter()
            .map(|(pool, (_, n))| (vec![("pool", pool.as_str())], *n))
            .collect();
        counters(
            encoder,
            "runtime_restarts",
            "Supervised runtime processes that exited or failed to register, by pool.",
            &restarts,
        )?;
        counters(
            encoder,
            "runtime_recycles",
            "Supervised runtime processes replaced on purpose (max_requests, SIGHUP), by pool.",
            &recycles,
        )
    }
}

fn counters(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(Labels<'_>, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauges(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(Labels<'_>, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        let value = i64::try_from(*value).unwrap_or(i64::MAX);
        ConstGauge::new(value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// The modules' samples, grouped by name into families. A counter's `_total` suffix is
/// the encoder's to add. A sample whose kind disagrees with its family's is dropped.
fn encode_modules(
    samples: &[ModuleMetric],
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let mut families: BTreeMap<&str, Vec<&ModuleMetric>> = BTreeMap::new();
    for sample in samples {
        families.entry(sample.name).or_default().push(sample);
    }
    for (name, members) in families {
        let first = members[0];
        let (name, kind) = match first.kind {
            MetricKind::Counter => (
                name.strip_suffix("_total").unwrap_or(name),
                MetricType::Counter,
            ),
            MetricKind::Gauge => (name, MetricType::Gauge),
        };
        let mut family = encoder.encode_descriptor(name, first.help, None, kind)?;
        for sample in members.iter().filter(|s| s.kind == first.kind) {
            let labels: Labels<'_> = sample
                .labels
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect();
            let metric = family.encode_family(&labels)?;
            match sample.kind {
                MetricKind::Counter => ConstCounter::new(sample.value).encode(metric)?,
                MetricKind::Gauge => {
                    ConstGauge::new(i64::try_from(sample.value).unwrap_or(i64::MAX))
                        .encode(metric)?
                }
            }
        }
    }
    Ok(())
}
