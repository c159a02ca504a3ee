//! The access log: one line per answered request, under the `agtpd::access` target.

use std::net::SocketAddr;

use agtp_core::{Request, Response};
use tokio::time::Instant;

/// Logs one exchange. `request` is `None` when the request could not be parsed.
pub(crate) fn log(
    peer: SocketAddr,
    request: Option<&Request>,
    response: &Response,
    started: Instant,
) {
    let (method, path, agent) = match request {
        Some(r) => (
            r.method.as_str(),
            r.path.as_deref().unwrap_or("-"),
            r.headers.get("Agent-ID").unwrap_or("-"),
        ),
        None => ("-", "-", "-"),
    };
    tracing::info!(
        target: "agtpd::access",
        %peer,
        method,
        path,
        status = response.status.code(),
        bytes = response.body.len(),
        duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        agent,
    );
}
