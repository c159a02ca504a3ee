//! The request pipeline after the wire: the gates every request passes, in order, and
//! what answers it once they are passed.
//!
//! The first gate that fails decides the answer. The order (also in ARCHITECTURE.md):
//!
//! 1. `Delegation-Chain` present: 501 `delegation-not-supported` (reserved header);
//! 2. legacy alias: with `policies.methods.legacy`, GET is served as FETCH and so on;
//! 3. verb catalog: 459 `method-violation`, with suggestions;
//! 4. path grammar: 460 `endpoint-violation`, naming the segment;
//! 5. verb policy: 405 `method-not-allowed-by-policy` (embedded verbs exempt);
//! 6. identity: `Agent-ID` (or the deprecated `Target-Agent`, or `/agents/{name}`);
//!    400 `missing-agent-id`, 404 `agent-not-found`, 400 `agent-identity-mismatch`,
//!    262 `anonymous-discovery-disabled` for anonymous server-level discovery; with a
//!    client certificate, 401 `agent-id-mismatch` or `principal-id-mismatch` when the
//!    headers name others, and its agent when `Agent-ID` is absent; 401
//!    `certificate-required` for an agent that demands one and got a header;
//! 7. agent lifecycle: 503 suspended, 410 retired or deprecated (DESCRIBE and DISCOVER
//!    exempt: they show the agent's status);
//! 8. soft-deny: 403 `method-not-permitted-for-agent`;
//! 9. `Authority-Scope` claim outside the agent's scopes: 262 `scope-required`;
//! 10. redirects rewrite `(method, path)`, once;
//! 11. routing: an endpoint file first (operators may override built-ins), then the
//!     embedded methods, then 405 `method-not-allowed`, 405 `method-not-implemented`
//!     or 404 `endpoint-not-found`;
//! 12. the endpoint: `required_scopes` (262), input (400 `invalid-json`, 422
//!     `input-validation-failed`), a client certificate's commitments (451
//!     `scope-outside-commitment`, 453 `zone-violation`), then the modules' `on_request` in load order, then its
//!     handler unless a module answered: a registered function a runtime serves through
//!     the gateway (what each outcome answers: `gateway/translate.rs`), or a `proxy`
//!     binding the `proxy` module answers; then the modules' `on_response` in reverse.
//!
//! Step 12 and the unrouted requests are `handler.rs`. Modules' `on_request` and
//! `on_response` run around the handler of a routed endpoint, and around the refusal of a
//! request step 11 routed nowhere (404 `endpoint-not-found`, 405 `method-not-allowed`,
//! 405 `method-not-implemented`), with `Cx::endpoint` empty, so a module such as the
//! proxy's catch-all can answer it instead. Gate refusals (steps 1 to 10) and the
//! built-ins (DISCOVER, DESCRIBE) skip them. Every answer still passes `on_complete` (in
//! `connection.rs`).

use agtp_core::module::{AgentCertificate, Cx};
use agtp_core::{AgtpError, Request, Response, Status};

use crate::access::{Progress, Trace};
use crate::handler::{self, Responders};
use crate::settings::Settings;
use crate::telemetry;
use agtp_site::agents::{self, Agent};
use agtp_site::endpoints::Route;
use agtp_site::path_grammar::validate_path;
use agtp_site::site::Site;

/// Answers one request that passed the wire layer, filling `cx` with what the gates
/// learnt (agent, endpoint, input) for the modules.
/// `trace` learns where the time went (modules, the runtime call).
pub(crate) async fn answer(
    request: &Request,
    settings: &Settings,
    cx: &mut Cx,
    trace: &mut Trace,
) -> Response {
    let ways = Responders {
        site: &settings.site,
        gateway: &settings.gateway,
        pipeline: &settings.pipeline,
    };
    gate(request, &ways, cx, trace)
        .await
        .unwrap_or_else(|error| error.to_response())
}

async fn gate(
    request: &Request,
    ways: &Responders<'_>,
    cx: &mut Cx,
    trace: &mut Trace,
) -> Result<Response, AgtpError> {
    let passed = telemetry::span!("gates").in_scope(|| check(request, ways.site, cx))?;
    // 11. Routing.
    let Passed {
        agent,
        method,
        path,
    } = passed;
    route(ways, request, agent, method, path, Progress { cx, trace }).await
}

/// What steps 1 to 10 let through: the agent, and the method and path to route.
struct Passed<'a> {
    agent: Option<&'a Agent>,
    method: &'a str,
    path: Option<&'a str>,
}

/// Steps 1 to 10; `cx` learns the agent.
fn check<'a>(request: &'a Request, site: &'a Site, cx: &mut Cx) -> Result<Passed<'a>, AgtpError> {
    // 1. Before anything else: delegated authority is not part of this revision.
    if request.headers.contains("Delegation-Chain") {
        return Err(AgtpError::new(
            Status::NOT_IMPLEMENTED,
            "delegation-not-supported",
            "the Delegation-Chain header is reserved for a later AGTP revision; this server does not accept delegated authority",
        ));
    }
    // 2. Legacy alias, before the catalog check so GET can pass as FETCH.
    let method = site
        .policy
        .alias(&site.catalog, &request.method)
        .unwrap_or(&request.method);
    // 3. The verb catalog.
    if !site.catalog.is_approved(method) {
        return Err(site.catalog.unknown_verb(method).into());
    }
    // 4. The path grammar.
    if let Some(path) = &request.path {
        validate_path(path, &site.catalog)?;
    }
    // 5. The verb policy.
    if let Some(refusal) = site.policy.refusal(&site.catalog, method) {
        return Err(refusal);
    }
    // 6. Identity; `/agents/{name}` addresses the agent's root; a client certificate
    // binds it.
    let certificate = cx.certificate.as_deref();
    let (agent, path) = identify(request, site, certificate)?;
    if let Some(agent) = agent {
        certificate_gate(agent, certificate, site)?;
    }
    if let Some(agent) = agent {
        cx.agent_id = Some(agent.id().to_owned());
        cx.principal_id = Some(agent.principal_id().to_owned());
    }
    let server_level = is_discovery(method, path);
    match agent {
        None if server_level && site.policy.anonymous_discovery => {}
        None if server_level => {
            return Err(AgtpError::new(
                Status::AUTHORIZATION_REQUIRED,
                "anonymous-discovery-disabled",
                "this server does not answer anonymous discovery; send Agent-ID",
            ))
        }
        None => {
            return Err(AgtpError::new(
                Status::BAD_REQUEST,
                "missing-agent-id",
                "this request needs an Agent-ID header naming the agent it addresses",
            ))
        }
        Some(agent) => agent_gates(agent, method, request)?,
    }
    // 10. Redirects, single hop.
    let (method, path) = match path.and_then(|p| site.policy.redirect(method, p)) {
        Some((m, p)) => (m, Some(p)),
        None => (method, path),
    };
    Ok(Passed {
        agent,
        method,
        path,
    })
}

/// The discovery primitives, which answer whatever the agent's lifecycle state: their
/// answers show that state.
const LIFECYCLE_EXEMPT: &[&str] = &["DESCRIBE", "DISCOVER"];

/// Steps 7 to 9 for a resolved agent.
fn agent_gates(agent: &Agent, method: &str, request: &Request) -> Result<(), AgtpError> {
    if let Some(error) =
        agents::lifecycle_error(agent).filter(|_| !LIFECYCLE_EXEMPT.contains(&method))
    {
        return Err(error);
    }
    if let Some(error) = agents::method_error(agent, method) {
        return Err(error);
    }
    match request.headers.get("Authority-Scope") {
        Some(claim) => agents::scope_error(agent, claim).map_or(Ok(()), Err),
        None => Ok(()),
    }
}

/// Server-level discovery: what an anonymous caller may ask when the policy allows.
fn is_discovery(method: &str, path: Option<&str>) -> bool {
    method == "DISCOVER" && matches!(path, None | Some("/") | Some("/methods"))
}

/// Whether `certificate` proves `agent`: it names the same Agent-ID.
pub(crate) fn proves(certificate: Option<&AgentCertificate>, agent: &Agent) -> bool {
    certificate.is_some_and(|c| c.agent_id.eq_ignore_ascii_case(agent.id()))
}

/// An agent that demands a certificate (its document, or `[policies]` for all) is not
/// served on a header alone.
fn certificate_gate(
    agent: &Agent,
    certificate: Option<&AgentCertificate>,
    site: &Site,
) -> Result<(), AgtpError> {
    let demanded = agent.require_certificate() || site.policy.require_certificate;
    if !demanded || proves(certificate, agent) {
        return Ok(());
    }
    Err(AgtpError::new(
        Status::UNAUTHORIZED,
        "certificate-required",
        format!(
            "agent `{}` proves its identity with a client certificate only; connect with it",
            agent.id()
        ),
    )
    .with_detail("agent_id", agent.id()))
}

/// A certificate's identity against the request's `Agent-ID` and `Principal-ID`.
fn bind(
    request: &Request,
    certificate: &AgentCertificate,
    header: Option<&str>,
) -> Result<(), AgtpError> {
    if let Some(id) = header.filter(|id| !id.eq_ignore_ascii_case(&certificate.agent_id)) {
        return Err(AgtpError::new(
            Status::UNAUTHORIZED,
            "agent-id-mismatch",
            "Agent-ID names another agent than the client certificate proves",
        )
        .with_detail("agent_id", id)
        .with_detail("certificate_agent_id", certificate.agent_id.as_str()));
    }
    let principal = request.headers.get("Principal-ID").map(str::trim);
    match (
        principal,
        certificate.principal_id.as_deref().map(str::trim),
    ) {
        (Some(sent), Some(proven)) if sent != proven => Err(AgtpError::new(
            Status::UNAUTHORIZED,
            "principal-id-mismatch",
            "Principal-ID names another principal than the client certificate proves",
        )
        .with_detail("principal_id", sent)
        .with_detail("certificate_principal_id", proven)),
        _ => Ok(()),
    }
}

/// Finds the addressed agent and the path left to route. With a client certificate,
/// `Agent-ID` must name its identity, and stands for it when absent.
fn identify<'r, 's>(
    request: &'r Request,
    site: &'s Site,
    certificate: Option<&AgentCertificate>,
) -> Result<(Option<&'s Agent>, Option<&'r str>), AgtpError> {
    let header = match request.headers.get("Agent-ID") {
        Some(id) => Some(id),
        None => {
            let legacy = request.headers.get("Target-Agent");
            if legacy.is_some() {
                tracing::warn!(
                    "request uses the deprecated Target-Agent header; send Agent-ID instead"
                );
            }
            legacy
        }
    };
    let header = match certificate {
        Some(certificate) => {
            bind(request, certificate, header)?;
            Some(header.unwrap_or(&certificate.agent_id))
        }
        None => header,
    };
    let from_header = match header {
        Some(id) => Some(site.agents.resolve(id).ok_or_else(|| {
            AgtpError::new(
                Status::NOT_FOUND,
                "agent-not-found",
                format!("no agent `{id}` is hosted here"),
            )
            .with_detail("agent_id", id)
        })?),
        None => None,
    };
    let path = request.path.as_deref();
    let Some(handle) = path
        .and_then(|p| p.strip_prefix("/agents/"))
        .filter(|h| !h.contains('/'))
    else {
        return Ok((from_header, path));
    };
    let by_path = site.agents.by_name(handle).ok_or_else(|| {
        AgtpError::new(
            Status::NOT_FOUND,
            "agent-not-found",
            format!("no agent named `{handle}` is hosted here"),
        )
        .with_detail("handle", handle)
    })?;
    if from_header.is_some_and(|a| a.id() != by_path.id()) {
        return Err(AgtpError::new(
            Status::BAD_REQUEST,
            "agent-identity-mismatch",
            format!("Agent-ID names a different agent than `/agents/{handle}`"),
        ));
    }
    Ok((Some(by_path), Some("/")))
}

async fn route(
    ways: &Responders<'_>,
    request: &Request,
    agent: Option<&Agent>,
    method: &str,
    path: Option<&str>,
    progress: Progress<'_>,
) -> Result<Response, AgtpError> {
    let site = ways.site;
    let root = matches!(path, None | Some("/"));
    let routed = path.map(|p| site.endpoints.route(method, p));
    if let (Some(path), Some(Route::Found { endpoint, params })) = (path, &routed) {
        return handler::invoke(endpoint, path, params, request, agent, ways, progress).await;
    }
    match (method, root, path) {
        ("DISCOVER", true, _) => Ok(match agent {
            Some(agent) => site.agent_index(agent),
            None => site.manifest(),
        }),
        ("DISCOVER", false, Some("/methods")) => Ok(site.methods()),
        ("DESCRIBE", true, _) => match agent {
            Some(agent) => Ok(agents::describe(agent, request.headers.get("Accept"))),
            None => Err(AgtpError::new(
                Status::BAD_REQUEST,
                "missing-agent-id",
                "DESCRIBE needs the agent to describe: send Agent-ID or use /agents/{name}",
            )),
        },
        _ => Ok(handler::unrouted(
            request,
            ways.pipeline,
            progress,
            match routed {
                Some(Route::MethodNotAllowed { allowed }) => AgtpError::new(
                    Status::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    format!("`{}` is not served with {method}", path.unwrap_or("/")),
                )
                .with_detail("allowed", allowed),
                _ if site.catalog.is_embedded(method) && !site.serves_method(method) => {
                    AgtpError::new(
                        Status::METHOD_NOT_ALLOWED,
                        "method-not-implemented",
                        format!(
                            "this server implements no endpoint for the embedded method {method}"
                        ),
                    )
                    .with_detail("served", site.served())
                }
                _ => AgtpError::new(
                    Status::NOT_FOUND,
                    "endpoint-not-found",
                    match path {
                        Some(path) => format!("no endpoint serves `{method} {path}`"),
                        None => format!("no endpoint serves target-less `{method}`"),
                    },
                )
                .with_detail("method", method),
            },
        )
        .await),
    }
}
