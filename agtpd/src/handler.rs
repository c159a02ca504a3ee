//! What answers a request once the gates routed it: step 12 for an endpoint (its scopes,
//! its input, then the modules around its handler), and the modules' chance to answer a
//! request that routed nowhere before the daemon refuses it.
//!
//! Handler kinds: `registered_function` goes to the runtime gateway; `proxy` is answered
//! by the `proxy` module in `on_request` (the site only loads with that module loaded),
//! so it never reaches the gateway.

use agtp_core::module::{AgentCertificate, Cx, EndpointFacts};
use agtp_core::{AgtpError, Request, Response, Status};
use tokio::time::Instant;

use crate::access::{Progress, Trace};
use crate::gateway::{self, Gateway};
use crate::pipeline::Pipeline;
use agtp_site::agents::Agent;
use agtp_site::endpoints::{Endpoint, HandlerBinding};
use agtp_site::site::Site;

/// What a request can be answered by: the site's built-in answers, the runtimes behind
/// the gateway, and the modules.
pub(crate) struct Responders<'s> {
    pub(crate) site: &'s Site,
    pub(crate) gateway: &'s Gateway,
    pub(crate) pipeline: &'s Pipeline,
}

/// Step 12: the endpoint's own requirements, then the modules around its handler.
pub(crate) async fn invoke(
    endpoint: &Endpoint,
    path: &str,
    params: &[(String, String)],
    request: &Request,
    agent: Option<&Agent>,
    ways: &Responders<'_>,
    progress: Progress<'_>,
) -> Result<Response, AgtpError> {
    let Progress { cx, trace } = progress;
    // The request's TTL counts from here: it was read in full just before the gates.
    let arrival = Instant::now();
    let held: Vec<String> = match request.headers.get("Authority-Scope") {
        Some(claim) => agtp_site::agents::claimed_scopes(claim)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => agent.map(|a| a.scopes().to_vec()).unwrap_or_default(),
    };
    if let Some(error) = endpoint.required_scope_error(&held) {
        return Err(error);
    }
    cx.endpoint = Some(facts(endpoint, path));
    let input = endpoint.build_input(params, &request.query, &request.body)?;
    if let Some(certificate) = cx.certificate.as_deref() {
        commitments(certificate, request, &held)?;
    }
    let pipeline = ways.pipeline;
    let call = EndpointCall {
        endpoint,
        agent,
        gateway: ways.gateway,
        held,
        arrival,
    };
    if pipeline.is_empty() {
        return call.handle(request, input, cx, trace).await;
    }
    cx.input = Some(input);
    // Modules may rewrite the request; the connection keeps the one read off the wire.
    let mut request = request.clone();
    let entering = Instant::now();
    let mut entered = pipeline.enter(&mut request, cx).await;
    trace.modules += entering.elapsed();
    let mut response = match entered.early.take() {
        Some(response) => response,
        None => {
            let input = cx.input.clone().unwrap_or_default();
            call.handle(&request, input, cx, trace)
                .await
                .unwrap_or_else(|error| error.to_response())
        }
    };
    let leaving = Instant::now();
    pipeline.leave(entered, &mut response, cx).await;
    trace.modules += leaving.elapsed();
    Ok(response)
}

/// A request no endpoint and no built-in serves: the modules' `on_request` runs with
/// `cx.endpoint` empty, and `refusal` (404 or 405) answers unless a module did.
pub(crate) async fn unrouted(
    request: &Request,
    pipeline: &Pipeline,
    progress: Progress<'_>,
    refusal: AgtpError,
) -> Response {
    let Progress { cx, trace } = progress;
    if pipeline.is_empty() {
        return refusal.to_response();
    }
    let started = Instant::now();
    let mut request = request.clone();
    let mut entered = pipeline.enter(&mut request, cx).await;
    let mut response = entered
        .early
        .take()
        .unwrap_or_else(|| refusal.to_response());
    pipeline.leave(entered, &mut response, cx).await;
    trace.modules += started.elapsed();
    response
}

/// What the client certificate commits the agent to, where the reference checks it
/// (before the modules and the handler): its `authority-scope-commitment` bounds the
/// scopes claimed (451 `scope-outside-commitment`), its `governance-zone` the
/// `AGTP-Zone-ID` asked for (453 `zone-violation`; none asked inherits the zone).
fn commitments(
    certificate: &AgentCertificate,
    request: &Request,
    claimed: &[String],
) -> Result<(), AgtpError> {
    if let Some(committed) = &certificate.authority_scopes {
        if request.headers.contains("Authority-Scope") {
            let outside: Vec<String> = claimed
                .iter()
                .filter(|s| !committed.contains(s))
                .cloned()
                .collect();
            if !outside.is_empty() {
                return Err(AgtpError::new(
                    Status::SCOPE_VIOLATION,
                    "scope-outside-commitment",
                    "Authority-Scope claims scopes the client certificate does not commit to",
                )
                .with_detail("outside_commitment", outside)
                .with_detail("claimed", claimed.to_vec())
                .with_detail("committed", committed.clone())
                .with_detail("agent_id", certificate.agent_id.as_str()));
            }
        }
    }
    let asked = request.headers.get("AGTP-Zone-ID");
    match (&certificate.governance_zone, asked) {
        (Some(zone), Some(asked)) if zone != asked => Err(AgtpError::new(
            Status::ZONE_VIOLATION,
            "zone-violation",
            format!("the client certificate binds this agent to `{zone}`, not `{asked}`"),
        )
        .with_detail("target_zone", zone.as_str())
        .with_detail("request_zone", asked)
        .with_detail(
            "explanation",
            "the certificate's governance-zone extension must equal AGTP-Zone-ID",
        )),
        _ => Ok(()),
    }
}

/// What the modules learn about the routed endpoint.
fn facts(endpoint: &Endpoint, path: &str) -> EndpointFacts {
    EndpointFacts {
        method: endpoint.method().to_owned(),
        path: endpoint.path().to_owned(),
        request_path: path.to_owned(),
        impact: endpoint.semantic().impact.as_str().to_owned(),
        idempotent: endpoint.is_idempotent(),
        handler: endpoint.handler().kind().to_owned(),
        handler_config: endpoint.handler().module_config(),
    }
}

/// What the endpoint's handler needs besides the request and its input.
struct EndpointCall<'a> {
    endpoint: &'a Endpoint,
    agent: Option<&'a Agent>,
    gateway: &'a Gateway,
    held: Vec<String>,
    arrival: Instant,
}

impl EndpointCall<'_> {
    /// Runs the endpoint's handler; `cx` gets the reply's `attribution_extra`, `trace` the
    /// runtime call's timing.
    async fn handle(
        self,
        request: &Request,
        input: serde_json::Value,
        cx: &mut Cx,
        trace: &mut Trace,
    ) -> Result<Response, AgtpError> {
        let EndpointCall {
            endpoint,
            agent,
            gateway,
            held,
            arrival,
        } = self;
        match endpoint.handler() {
            HandlerBinding::RegisteredFunction {
                runtime, timeout, ..
            } => {
                let call = gateway::Call {
                    pool: runtime,
                    request_id: cx.response_id.clone(),
                    idempotent: endpoint.is_idempotent(),
                    deadline: gateway::deadline(request, *timeout, arrival),
                    envelope: gateway::envelope(endpoint, request, cx, agent, held, input),
                    trust: gateway::trust(agent, cx),
                };
                let (result, timing) = gateway.call(call).await;
                trace.gateway = Some(timing);
                match result {
                    Ok(mut reply) => {
                        cx.attribution_extra = gateway::attribution_extra(&mut reply, runtime);
                        gateway::reply(endpoint, runtime, reply)
                    }
                    Err(error) => Ok(gateway::refusal(error, endpoint, runtime)),
                }
            }
            // The proxy module answers these in `on_request`. The site loads them only
            // when it is selected; a daemon built with another module list gets this.
            HandlerBinding::Proxy { .. } => Err(AgtpError::new(
                Status::SERVER_ERROR,
                "handler-unavailable",
                format!(
                    "`{} {}` is a proxy endpoint and no loaded module forwarded it",
                    endpoint.method(),
                    endpoint.path()
                ),
            )),
        }
    }
}
