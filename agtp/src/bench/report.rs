//! What a bench run counts ([`Tally`], one per connection, merged at the end) and how
//! it is reported ([`Report`]: the documented `--json` shape, or text).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use agtp_core::client::ErrorKind;
use agtp_core::Status;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Everything one connection's loop counted.
pub(crate) struct Tally {
    /// Latency of every response, in microseconds.
    latency: Histogram<u64>,
    /// Responses by status code (index = code; codes are 100..=999).
    status: Vec<u64>,
    /// Attempts with no response, by [`ErrorKind::ALL`] position.
    errors: [u64; ErrorKind::ALL.len()],
}

impl Tally {
    pub(crate) fn new() -> Tally {
        Tally {
            // Three significant digits from 1 µs to an hour: a few tens of KiB.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid"),
            status: vec![0; 1000],
            errors: [0; ErrorKind::ALL.len()],
        }
    }

    pub(crate) fn response(&mut self, status: Status, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        if let Some(count) = self.status.get_mut(usize::from(status.code())) {
            *count += 1;
        }
    }

    pub(crate) fn error(&mut self, kind: ErrorKind) {
        self.errors[index(kind)] += 1;
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (mine, theirs) in self.status.iter_mut().zip(&other.status) {
            *mine += theirs;
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
    }
}

fn index(kind: ErrorKind) -> usize {
    match kind {
        ErrorKind::Connect => 0,
        ErrorKind::Tls => 1,
        ErrorKind::Timeout => 2,
        ErrorKind::Protocol => 3,
        ErrorKind::Closed => 4,
    }
}

/// The result of a run, in the shape `--json` documents.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) requests: u64,
    pub(crate) duration_s: f64,
    pub(crate) rps: f64,
    pub(crate) latency_us: Latency,
    pub(crate) errors: Errors,
    pub(crate) status: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

/// Attempts without a response, then non-2xx responses by class.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Errors {
    connect: u64,
    tls: u64,
    timeout: u64,
    protocol: u64,
    closed: u64,
    #[serde(rename = "1xx")]
    informational: u64,
    #[serde(rename = "3xx")]
    redirection: u64,
    #[serde(rename = "4xx")]
    client: u64,
    #[serde(rename = "5xx")]
    server: u64,
    /// Classes 6xx to 9xx, present only when seen.
    #[serde(flatten)]
    other: BTreeMap<String, u64>,
}

impl Report {
    pub(crate) fn new(tally: &Tally, duration: Duration) -> Report {
        let mut status = BTreeMap::new();
        let mut errors = Errors::default();
        for (code, &count) in tally.status.iter().enumerate().filter(|(_, &n)| n > 0) {
            status.insert(code.to_string(), count);
            match code / 100 {
                1 => errors.informational += count,
                2 => {}
                3 => errors.redirection += count,
                4 => errors.client += count,
                5 => errors.server += count,
                class => *errors.other.entry(format!("{class}xx")).or_default() += count,
            }
        }
        let [connect, tls, timeout, protocol, closed] = tally.errors;
        errors.connect = connect;
        errors.tls = tls;
        errors.timeout = timeout;
        errors.protocol = protocol;
        errors.closed = closed;
        let requests = tally.status.iter().sum::<u64>();
        let duration_s = duration.as_secs_f64();
        let h = &tally.latency;
        let at = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        Report {
            requests,
            duration_s: round3(duration_s),
            rps: if duration_s > 0.0 {
                round3(requests as f64 / duration_s)
            } else {
                0.0
            },
            latency_us: Latency {
                p50: at(0.50),
                p90: at(0.90),
                p99: at(0.99),
                p999: at(0.999),
                max: if h.is_empty() { 0 } else { h.max() },
            },
            errors,
            status,
        }
    }

    /// The text report, after a first line saying what was run.
    pub(crate) fn text(&self, what: &str) -> String {
        let l = &self.latency_us;
        let mut out = format!("{what}\n");
        let _ = writeln!(
            out,
            "  requests  {} in {:.2}s, {:.0} req/s",
            self.requests, self.duration_s, self.rps
        );
        let _ = writeln!(
            out,
            "  latency   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            micros(l.p50),
            micros(l.p90),
            micros(l.p99),
            micros(l.p999),
            micros(l.max)
        );
        let status: Vec<String> = self
            .status
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(out, "  status    {}", none_if_empty(status));
        let e = &self.errors;
        let mut errors = Vec::new();
        for (name, n) in [
            ("connect", e.connect),
            ("tls", e.tls),
            ("timeout", e.timeout),
            ("protocol", e.protocol),
            ("closed", e.closed),
            ("1xx", e.informational),
            ("3xx", e.redirection),
            ("4xx", e.client),
            ("5xx", e.server),
        ] {
            if n > 0 {
                errors.push(format!("{name}: {n}"));
            }
        }
        errors.extend(e.other.iter().map(|(c, n)| format!("{c}: {n}")));
        let _ = writeln!(out, "  errors    {}", none_if_empty(errors));
        out
    }
}

fn none_if_empty(items: Vec<String>) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// `850µs`, `1.25ms`, `2.00s`.
fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
