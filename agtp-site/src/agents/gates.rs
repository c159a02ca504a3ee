//! The answers an agent's own document puts in front of a request: its lifecycle state,
//! the `Authority-Scope` claims, and the verbs it handles (soft-deny).
//!
//! Each gate returns `None` to let the request through, or the [`AgtpError`] to send.
//! The order between them is the dispatcher's; the natural one is lifecycle, then
//! method, then scopes (a retired agent answers 410 whatever the verb).

use agtp_core::{AgtpError, Status};
use serde_json::json;

use super::agent::{Agent, Lifecycle};

/// The answer for an agent that is not in service, or `None` for an active agent.
///
/// | `status`     | answer                      |
/// |--------------|-----------------------------|
/// | `active`     | `None`                      |
/// | `suspended`  | 503 `agent-suspended`       |
/// | `retired`    | 410 `agent-retired`         |
/// | `deprecated` | 410 `agent-deprecated`      |
///
/// The error carries `agent_id` and `agent_status`. Whether DISCOVER and DESCRIBE skip
/// this gate, so that clients can still read why an agent is out of service, is decided
/// by the dispatcher.
pub fn lifecycle_error(agent: &Agent) -> Option<AgtpError> {
    let (status, code, message) = match agent.lifecycle() {
        Lifecycle::Active => return None,
        Lifecycle::Suspended => (
            Status::UNAVAILABLE,
            "agent-suspended",
            format!("agent `{}` is suspended", agent.name()),
        ),
        Lifecycle::Retired => (
            Status::GONE,
            "agent-retired",
            format!(
                "agent `{}` is retired and its agent_id will not be reused",
                agent.name()
            ),
        ),
        Lifecycle::Deprecated => (
            Status::GONE,
            "agent-deprecated",
            format!("agent `{}` is deprecated", agent.name()),
        ),
    };
    Some(
        AgtpError::new(status, code, message)
            .with_detail("agent_id", agent.id())
            .with_detail("agent_status", agent.lifecycle().as_str()),
    )
}

/// The scopes an `Authority-Scope` header value claims: comma-separated, surrounding
/// whitespace trimmed, empty items dropped, duplicates kept in order of first appearance.
pub fn claimed_scopes(header: &str) -> Vec<&str> {
    let mut scopes: Vec<&str> = Vec::new();
    for scope in header.split(',').map(str::trim) {
        if !scope.is_empty() && !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

/// The answer when `claimed` (an `Authority-Scope` header value) names a scope the agent
/// does not declare in `requires.scopes`, or `None` when every claim is declared (an empty
/// or blank header claims nothing and passes).
///
/// The answer is 262 `scope-required`, with `type: "scope-required"` and a `details`
/// object `{"code": "scope-claim-invalid", "invalid": [...], "declared": [...]}`; scopes
/// compare exactly (case-sensitive).
pub fn scope_error(agent: &Agent, claimed: &str) -> Option<AgtpError> {
    let invalid: Vec<&str> = claimed_scopes(claimed)
        .into_iter()
        .filter(|scope| !agent.scopes().iter().any(|declared| declared == scope))
        .collect();
    if invalid.is_empty() {
        return None;
    }
    let subject = format!(
        "agent `{}` does not declare the claimed scope(s)",
        agent.name()
    );
    Some(scope_required(subject, &invalid).with_detail(
        "details",
        json!({
            "code": "scope-claim-invalid",
            "invalid": invalid,
            "declared": agent.scopes(),
        }),
    ))
}

/// 262 `scope-required` (with `type: "scope-required"`): `subject`, then `scopes`
/// listed; used for claims an agent does not declare and for scopes an endpoint requires.
pub(crate) fn scope_required(subject: String, scopes: &[&str]) -> AgtpError {
    let message = format!("{subject} {}", crate::text::quoted_list(scopes));
    AgtpError::new(Status::AUTHORIZATION_REQUIRED, "scope-required", message)
        .with_detail("type", "scope-required")
}

/// The answer when the agent does not handle `verb` (see [`Agent::method_permitted`] for
/// the rule), or `None` when it does: 403 `method-not-permitted-for-agent`, carrying
/// `method` and `agent_id`.
pub fn method_error(agent: &Agent, verb: &str) -> Option<AgtpError> {
    if agent.method_permitted(verb) {
        return None;
    }
    Some(
        AgtpError::new(
            Status::FORBIDDEN,
            "method-not-permitted-for-agent",
            format!("agent `{}` does not handle `{verb}`", agent.name()),
        )
        .with_detail("method", verb)
        .with_detail("agent_id", agent.id()),
    )
}

#[cfg(test)]
mod tests;
