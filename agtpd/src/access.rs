//! What is done once per answered exchange: the access log line (target `agtpd::access`;
//! its `response_id` is also the runtime call's `request_id` and the audit record's),
//! the request metrics, and, past `admin.slow_request`, the slow-request warning (target
//! `agtpd::slow`) with its timing breakdown.

use std::net::SocketAddr;
use std::time::Duration;

use agtp_core::module::Cx;
use agtp_core::{Request, Response};
use tokio::time::Instant;

use crate::gateway::CallTiming;
use crate::metrics::LastLabels;
use crate::settings::Settings;

/// Where one exchange spent its time, beyond the total.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// The runtime call, when a runtime handled the request.
    pub(crate) gateway: Option<CallTiming>,
    /// In the modules' hooks (`on_request`, `on_response`, `on_complete`).
    pub(crate) modules: Duration,
}

/// What answering a request fills in as it goes: the modules' context (agent, endpoint,
/// input, attribution extra) and where the time went.
pub(crate) struct Progress<'a> {
    pub(crate) cx: &'a mut Cx,
    pub(crate) trace: &'a mut Trace,
}

/// One answered exchange, as the access line and the metrics see it.
pub(crate) struct Exchange<'a> {
    /// `None` when the request could not be parsed.
    pub(crate) request: Option<&'a Request>,
    pub(crate) response: &'a Response,
    pub(crate) cx: &'a Cx,
    pub(crate) trace: &'a Trace,
    /// When the request's first byte arrived.
    pub(crate) started: Instant,
}

/// Logs and counts one exchange; `last` keeps the connection's last metric labels.
pub(crate) fn finish(
    settings: &Settings,
    peer: SocketAddr,
    exchange: Exchange<'_>,
    last: &mut LastLabels,
) {
    let Exchange {
        request,
        response,
        cx,
        trace,
        started,
    } = exchange;
    let elapsed = started.elapsed();
    let (method, path, agent) = match request {
        Some(r) => (
            r.method.as_str(),
            r.path.as_deref().unwrap_or("-"),
            r.headers.get("Agent-ID").unwrap_or("-"),
        ),
        None => ("-", "-", "-"),
    };
    // A client certificate names the agent when the header does not.
    let agent = match (agent, &cx.certificate) {
        ("-", Some(certificate)) => certificate.agent_id.as_str(),
        _ => agent,
    };
    let status = response.status.code();
    let header = |name| request.and_then(|r| r.headers.get(name)).unwrap_or("-");
    tracing::info!(
        target: "agtpd::access",
        %peer,
        method,
        path,
        status,
        bytes = response.body.len(),
        duration_us = micros(elapsed),
        agent,
        response_id = cx.response_id,
        request_id = header("Request-ID"),
        task_id = header("Task-ID"),
    );
    // Only verbs the catalog knows become label values; the rest count as `other`.
    let known = request.map(|r| match settings.site.catalog.is_approved(&r.method) {
        true => r.method.as_str(),
        false => "other",
    });
    let endpoint = cx.endpoint.as_ref().map(|e| e.path.as_str());
    settings
        .metrics
        .request(last, known, status, endpoint, elapsed);
    if settings.slow_request.is_some_and(|limit| elapsed >= limit) {
        let call = trace.gateway.as_ref();
        tracing::warn!(
            target: "agtpd::slow",
            %peer,
            method,
            path,
            status,
            pool = call.and_then(|c| c.pool.as_deref()).unwrap_or("-"),
            pid = call.and_then(|c| c.pid),
            queue_wait_us = call.map_or(0, |c| micros(c.queue_wait)),
            gateway_us = call.map_or(0, |c| micros(c.round_trip)),
            modules_us = micros(trace.modules),
            total_us = micros(elapsed),
            "slow request"
        );
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
