//! What crosses the proxy: the request as the upstream gets it (hop-by-hop headers
//! dropped, a `Via` entry added), the response as the client gets it, the hop check, and
//! each client failure as the status and code the client sees.

use agtp_core::client::ClientError;
use agtp_core::{AgtpError, Headers, Request, Response, Status};

use crate::upstream::Failure;

/// The hop-by-hop headers (RFC 9110 §7.6.1, and the obsolete `Proxy-Connection`);
/// `Content-Length` is recomputed by the encoder. Names a `Connection` header lists are
/// dropped too, and every `Proxy-*` header.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// The hop header: one `AGTP/1.0 {server_id} ({instance})` entry per proxy passed.
pub(crate) const VIA: &str = "Via";

/// Copies every end-to-end header of `from` (identity headers included: `Agent-ID`,
/// `Principal-ID`, `Session-ID`, `Task-ID`, `Request-ID`, `Authority-Scope`).
pub(crate) fn end_to_end(from: &Headers) -> Headers {
    let listed: Vec<String> = from
        .get_all("connection")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Headers::new();
    for (name, value) in from.iter() {
        let lower = name.to_ascii_lowercase();
        let hop = HOP_BY_HOP.contains(&lower.as_str())
            || lower.starts_with("proxy-")
            || listed.contains(&lower);
        if !hop {
            out.append(name, value);
        }
    }
    out
}

/// The request the upstream gets: the method and path it was routed with (`routed`, for
/// an endpoint: after legacy aliases and redirects) or else as received, the same query
/// and body, end-to-end headers, and this proxy's `Via` entry last.
pub(crate) fn upstream_request(
    request: &Request,
    routed: Option<(&str, &str)>,
    via_entry: &str,
) -> Request {
    let mut headers = end_to_end(&request.headers);
    headers.append(VIA, via_entry);
    let (method, path) = match routed {
        Some((method, path)) => (method.to_owned(), Some(path.to_owned())),
        None => (request.method.clone(), request.path.clone()),
    };
    Request {
        method,
        path,
        query: request.query.clone(),
        headers,
        body: request.body.clone(),
    }
}

/// The response the client gets: the upstream's status and body, its end-to-end headers
/// (the daemon then stamps its own `Server-ID` and `Response-ID`).
pub(crate) fn relayed(upstream: Response) -> Response {
    Response {
        status: upstream.status,
        headers: end_to_end(&upstream.headers),
        body: upstream.body,
    }
}

/// 508 when the request already passed this proxy (`own` in a `Via` entry) or
/// `max_hops` proxies.
pub(crate) fn hop_refusal(headers: &Headers, own: &str, max_hops: u32) -> Option<AgtpError> {
    let entries: Vec<&str> = headers
        .get_all(VIA)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.iter().any(|e| e.ends_with(own)) {
        return Some(
            AgtpError::new(
                Status::LOOP_DETECTED,
                "loop-detected",
                "this request already passed through this proxy: the upstream configuration loops",
            )
            .with_detail("hops", entries.len()),
        );
    }
    let hops = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    (hops >= max_hops).then(|| {
        AgtpError::new(
            Status::LOOP_DETECTED,
            "too-many-hops",
            format!("this request already passed {hops} proxies; at most {max_hops} are allowed"),
        )
        .with_detail("hops", hops)
        .with_detail("max_hops", max_hops)
    })
}

/// The failure class of a client error, exhaustively.
pub(crate) fn classify(error: &ClientError) -> Failure {
    match error {
        ClientError::Resolve { .. } | ClientError::Connect { .. } => Failure::Connect,
        ClientError::ConnectTimeout { .. } => Failure::ConnectTimeout,
        ClientError::Tls { .. } => Failure::Tls,
        ClientError::Timeout { .. } => Failure::Timeout,
        ClientError::Protocol(_) => Failure::BadResponse,
        ClientError::Closed { .. } | ClientError::Io { .. } | ClientError::Unusable => {
            Failure::Closed
        }
    }
}

/// What the client gets when no upstream answered. The upstream's address stays out of
/// the answer (it is logged).
pub(crate) fn failure_answer(failure: Failure, attempts: usize) -> AgtpError {
    let (status, code, message) = match failure {
        Failure::Connect => (
            Status::BAD_GATEWAY,
            "upstream-unreachable",
            "no upstream server could be reached",
        ),
        Failure::ConnectTimeout => (
            Status::GATEWAY_TIMEOUT,
            "upstream-connect-timeout",
            "connecting to the upstream server timed out",
        ),
        Failure::Tls => (
            Status::BAD_GATEWAY,
            "upstream-tls-failed",
            "TLS with the upstream server failed",
        ),
        Failure::Timeout => (
            Status::GATEWAY_TIMEOUT,
            "upstream-timeout",
            "the upstream server did not answer in time",
        ),
        Failure::Closed => (
            Status::BAD_GATEWAY,
            "upstream-closed",
            "the upstream server closed the connection before answering",
        ),
        Failure::BadResponse => (
            Status::BAD_GATEWAY,
            "upstream-bad-response",
            "the upstream server's answer is not a valid AGTP response",
        ),
    };
    AgtpError::new(status, code, message).with_detail("attempts", attempts)
}

#[cfg(test)]
mod tests;
