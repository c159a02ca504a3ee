//! Between AGTP and the gateway: the request frame's envelope built from a request that
//! passed the gates, and the agent's response built from what the runtime answered
//! (PROTOCOL.md §8, §12).

use std::collections::BTreeMap;
use std::time::Duration;

use agtp_core::module::{AgentCertificate, Cx};
use agtp_core::{AgtpError, Request, Response, Status};
use bytes::Bytes;
use runtime_protocol::{Reply, RequestEnvelope, Trust, TrustMethod};
use serde_json::Value;
use tokio::time::Instant;

use super::GatewayError;
use agtp_site::agents::Agent;
use agtp_site::endpoints::Endpoint;

/// Response headers a handler may not set: hop-by-hop headers, and the ones the daemon
/// owns (it writes them itself, or they describe the body it serialises).
const NOT_FROM_HANDLERS: &[&str] = &[
    "attribution-record",
    "audit-id",
    "cache-status",
    "connection",
    "content-length",
    "content-type",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "request-id",
    "response-id",
    "server-id",
    "task-id",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

/// When the handler's time is up: its endpoint timeout, cut to what the request's `TTL`
/// (milliseconds, counted from `arrival`) leaves. A TTL that is not a number is ignored.
pub(crate) fn deadline(request: &Request, timeout: Duration, arrival: Instant) -> Instant {
    let ttl = request
        .headers
        .get("TTL")
        .and_then(|ttl| ttl.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    arrival + ttl.map_or(timeout, |ttl| ttl.min(timeout))
}

/// The call as the runtime sees it. `authority` holds the scopes the required-scope check
/// passed with (the `Authority-Scope` claim, else the agent's scopes).
pub(crate) fn envelope(
    endpoint: &Endpoint,
    request: &Request,
    cx: &Cx,
    agent: Option<&Agent>,
    authority: Vec<String>,
    input: Value,
) -> RequestEnvelope {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in request.headers.iter() {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    let header = |name| request.headers.get(name).map(str::to_owned);
    let proven = proven(cx, agent);
    RequestEnvelope {
        method: endpoint.method().to_owned(),
        path: request.path.clone().unwrap_or_default(),
        agent_id: agent.map(|a| a.id().to_owned()).unwrap_or_default(),
        principal_id: agent
            .map(|a| a.principal_id().to_owned())
            .unwrap_or_default(),
        agent_scopes: agent.map(|a| a.scopes().to_vec()).unwrap_or_default(),
        authority_scope: authority,
        session_id: header("Session-ID"),
        task_id: header("Task-ID"),
        request_id: header("Request-ID").unwrap_or_default(),
        headers,
        input,
        agent_verified: proven.is_some(),
        agent_cert_fingerprint: proven.map(|c| c.fingerprint.clone()),
        agent_cert_extensions: proven.map(AgentCertificate::extensions).unwrap_or_default(),
        client_address: cx.client_address.map(|a| a.to_string()),
    }
}

/// The connection's certificate, when it proves the addressed agent.
fn proven<'c>(cx: &'c Cx, agent: Option<&Agent>) -> Option<&'c AgentCertificate> {
    let certificate = cx.certificate.as_deref();
    agent.filter(|a| crate::gates::proves(certificate, a))?;
    certificate
}

/// How the agent was identified: by a client certificate that proves it, or by its
/// `Agent-ID` against the hosted directory (`verified` says only the latter was found).
pub(crate) fn trust(agent: Option<&Agent>, cx: &Cx) -> Option<Trust> {
    let proven = proven(cx, agent);
    agent.map(|agent| Trust {
        verified: true,
        agent_id: agent.id().to_owned(),
        agent_cert_fingerprint: proven.map(|c| c.fingerprint.clone()),
        method: match proven {
            Some(_) => TrustMethod::AgentCertMtls,
            None => TrustMethod::AgentIdHeader,
        },
    })
}

/// The agent's response for a handler reply: a 2xx status, the body once it passed the
/// output schema, and the handler's headers that are safe to pass on.
pub(crate) fn reply(endpoint: &Endpoint, pool: &str, reply: Reply) -> Result<Response, AgtpError> {
    // Only the failure paths name the endpoint, so the label is built only there.
    let label = || format!("{} {}", endpoint.method(), endpoint.path());
    let status = Status::from_code(reply.status).filter(|s| s.class() == 2);
    let Some(status) = status else {
        let label = label();
        tracing::warn!(
            pool,
            endpoint = label,
            status = reply.status,
            "handler answered a status outside 2xx"
        );
        return Err(AgtpError::new(
            Status::SERVER_ERROR,
            "output-validation-failed",
            format!("the handler of `{label}` answered outside its contract"),
        )
        .with_detail("status", reply.status));
    };
    if let Err(error) = endpoint.validate_output(&reply.body) {
        let details = Value::Object(error.details.clone());
        tracing::warn!(pool, endpoint = label(), %details, "handler answer failed the output schema");
        return Err(error);
    }
    let mut response = Response::new(status);
    for (name, value) in &reply.headers {
        if passes(name, value) {
            response.headers.append(name.as_str(), value.as_str());
        } else {
            tracing::debug!(
                pool,
                endpoint = label(),
                header = name,
                "handler header dropped"
            );
        }
    }
    response.headers.append("Content-Type", "application/json");
    response.body = Bytes::from(serde_json::to_vec(&reply.body).unwrap_or_default());
    Ok(response)
}

/// The reply's `attribution_extra`, taken out of it: a JSON object of at most
/// [`MAX_ATTRIBUTION_EXTRA`] bytes once serialised. Anything else is logged and dropped,
/// so a handler cannot fill every audit record with megabytes or non-objects.
pub(crate) fn attribution_extra(reply: &mut Reply, pool: &str) -> Option<Value> {
    let extra = reply.attribution_extra.take()?;
    let size = serde_json::to_vec(&extra).map_or(usize::MAX, |bytes| bytes.len());
    if extra.is_object() && size <= MAX_ATTRIBUTION_EXTRA {
        return Some(extra);
    }
    tracing::warn!(
        pool,
        size,
        object = extra.is_object(),
        max = MAX_ATTRIBUTION_EXTRA,
        "handler attribution_extra dropped: it must be a JSON object of at most the maximum size"
    );
    None
}

/// The largest `attribution_extra` that reaches the audit record, in serialised bytes.
pub(crate) const MAX_ATTRIBUTION_EXTRA: usize = 16 * 1024;

/// A header name that is a token, not reserved, with a value of visible ASCII and spaces.
fn passes(name: &str, value: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty()
        && name.bytes().all(token)
        && !NOT_FROM_HANDLERS
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The agent's answer when no reply came back. This is where a handler's failure detail
/// is dropped, so it is logged here, once, and never sent.
pub(crate) fn refusal(error: GatewayError, endpoint: &Endpoint, pool: &str) -> Response {
    let label = format!("{} {}", endpoint.method(), endpoint.path());
    let mut retry_after = false;
    let error = match error {
        // A runtime that is (re)starting connects within seconds; without the header,
        // closed-loop clients retry at once, thousands of times a second.
        GatewayError::Unavailable => {
            retry_after = true;
            AgtpError::new(
                Status::UNAVAILABLE,
                "runtime-unavailable",
                format!("no runtime is connected for pool `{pool}`"),
            )
            .with_detail("pool", pool)
        }
        GatewayError::Busy => {
            retry_after = true;
            AgtpError::new(
                Status::UNAVAILABLE,
                "runtime-busy",
                format!("every runtime of pool `{pool}` is busy; retry shortly"),
            )
            .with_detail("pool", pool)
        }
        GatewayError::Failed => AgtpError::new(
            Status::UNAVAILABLE,
            "runtime-failed",
            format!("the runtime serving `{label}` failed before answering"),
        ),
        GatewayError::TimedOut => AgtpError::new(
            Status::GATEWAY_TIMEOUT,
            "handler-timeout",
            format!("the handler of `{label}` did not answer in time"),
        ),
        GatewayError::HandlerFailed(frame) => {
            tracing::warn!(
                pool,
                endpoint = label,
                code = %frame.code,
                message = frame.message,
                details = ?frame.details,
                "handler failed"
            );
            AgtpError::new(
                Status::SERVER_ERROR,
                "handler-exception",
                format!("the handler of `{label}` failed; the operator's log has the detail"),
            )
        }
        GatewayError::EndpointError(declared) if endpoint.is_declared_error(&declared.code) => {
            let error = AgtpError::new(Status::UNPROCESSABLE, declared.code, declared.message);
            match declared.details {
                Some(details) => error.with_detail("details", details),
                None => error,
            }
        }
        GatewayError::EndpointError(undeclared) => {
            tracing::warn!(
                pool,
                endpoint = label,
                code = undeclared.code,
                "handler returned an error code its endpoint does not declare"
            );
            AgtpError::new(
                Status::SERVER_ERROR,
                "undeclared-error-code",
                format!("the handler of `{label}` answered with an undeclared error"),
            )
        }
        GatewayError::Unsendable(reason) => {
            tracing::error!(pool, endpoint = label, reason, "request frame not sent");
            AgtpError::new(
                Status::SERVER_ERROR,
                "gateway-frame-too-large",
                format!("the request for `{label}` exceeds the gateway's frame limit"),
            )
        }
    };
    let mut response = error.to_response();
    if retry_after {
        response.headers.append("Retry-After", "1");
    }
    response
}
