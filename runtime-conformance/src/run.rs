//! One conformance run: the order of the checks, the runtime process they share, and the
//! helpers they all use (a registered connection, a call and its answer).

use std::path::Path;
use std::time::Duration;

use runtime_protocol::{
    ErrorCode, ErrorFrame, Frame, Request, RequestEnvelope, ResponseEnvelope, Trust, TrustMethod,
};
use serde_json::Value;
use tokio::time::Instant;

use super::args::ConformanceArgs;
use super::gateway::{Arrival, Gateway, Offer, Received, Session};
use super::process::RuntimeProcess;
use super::report::{CheckResult, Problem, Report, Status, CHECKS};
use super::service::ServiceSet;
use super::text::{describe_frame, seconds, snippet};

/// The first reconnection delay of the protocol's backoff (§10), added to waits for one.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What the `reconnect` check saw, for the `resume` check.
pub(super) struct Reconnection {
    pub(super) cached_manifest_hash: Option<String>,
    pub(super) offer: Option<Offer>,
    pub(super) served: bool,
}

/// The state the checks share while they drive one runtime process.
pub(super) struct Run<'a> {
    pub(super) args: &'a ConformanceArgs,
    pub(super) service: &'a ServiceSet,
    pub(super) scratch: &'a Path,
    pub(super) gateway: Gateway,
    pub(super) process: Result<RuntimeProcess, String>,
    pub(super) started: Instant,
    /// The registered connection the next check uses.
    pub(super) session: Option<Session>,
    /// Why there is no session, when the last attempt to get one failed.
    pub(super) no_session: Option<String>,
    /// Hash of the registration the runtime last acknowledged.
    pub(super) registered_hash: Option<String>,
    pub(super) reconnection: Option<Reconnection>,
    /// A room the availability query returned, for the bookings that follow.
    pub(super) room_id: Option<String>,
    pub(super) results: Vec<CheckResult>,
    /// Output of the second process (`unresolvable_registration`), for the report.
    pub(super) second_output: Vec<String>,
    n_requests: u64,
}

/// Runs every check against `args.command` and reports.
pub(super) async fn run(
    args: &ConformanceArgs,
    service: &ServiceSet,
    scratch: &Path,
) -> std::io::Result<Report> {
    let socket = scratch.join("gateway.sock");
    let gateway = Gateway::bind(&socket, service.register.clone(), args.timeout)?;
    let process = RuntimeProcess::start(&args.command, &socket, &args.pool)
        .map_err(|e| format!("cannot start `{}`: {e}", args.command.join(" ")));
    let mut run = Run {
        args,
        service,
        scratch,
        gateway,
        process,
        started: Instant::now(),
        session: None,
        no_session: None,
        registered_hash: None,
        reconnection: None,
        room_id: None,
        results: Vec::new(),
        second_output: Vec::new(),
        n_requests: 0,
    };
    // The order matters: `request` books the room the later checks reuse, `reconnect`
    // feeds `resume`, and `sigterm` ends the process.
    run.handshake_and_registration().await;
    let result = run.request().await;
    run.results.push(result);
    let result = run.declared_error().await;
    run.results.push(result);
    let result = run.exception().await;
    run.results.push(result);
    let result = run.ping().await;
    run.results.push(result);
    let result = run.reconnect().await;
    run.results.push(result);
    let result = run.resume();
    run.results.push(result);
    let result = run.deadline().await;
    run.results.push(result);
    let result = run.sigterm().await;
    run.results.push(result);
    let result = run.messagepack();
    run.results.push(result);
    // A second process: this one must refuse its registration and exit.
    let result = run.unresolvable_registration().await;
    run.results.push(result);
    Ok(run.into_report())
}

impl Run<'_> {
    pub(super) fn limit(&self) -> Duration {
        self.args.timeout
    }

    fn into_report(mut self) -> Report {
        let mut runtime_output = match &self.process {
            Ok(process) => process.output_tail(),
            Err(_) => Vec::new(),
        };
        if !self.second_output.is_empty() {
            runtime_output.push("--- the second start (unresolvable_registration) ---".to_owned());
            runtime_output.append(&mut self.second_output);
        }
        let mut checks = Vec::new();
        for (id, _, _) in CHECKS {
            match self.results.iter().position(|r| r.id == *id) {
                Some(index) => checks.push(self.results.swap_remove(index)),
                None => checks.push(CheckResult::new(id, Status::NotRun, "not reached")),
            }
        }
        Report {
            command: self.args.command.clone(),
            endpoint_set: self.service.source.clone(),
            manifest_hash: self.service.register.manifest_hash.clone(),
            checks,
            runtime_output,
        }
    }

    /// How the runtime process stands, for "got:" lines.
    pub(super) fn process_state(&mut self) -> String {
        match &mut self.process {
            Ok(process) => format!("the runtime {}", process.describe()),
            Err(error) => error.clone(),
        }
    }

    /// Waits for the runtime to connect again after the harness closed its connection
    /// just now: the arrival and when the wait began, or how long it waited and how the
    /// process stands (for the check's "got:" line).
    pub(super) async fn reconnection(&mut self) -> Result<(Arrival, Instant), (Duration, String)> {
        let closed_at = Instant::now();
        let limit = self.limit() + FIRST_BACKOFF;
        match self
            .gateway
            .next_arrival(closed_at, closed_at + limit)
            .await
        {
            Some(arrival) => Ok((arrival, closed_at)),
            None => Err((limit, self.process_state())),
        }
    }

    /// Takes the registration an arrival made: its session becomes the current one.
    pub(super) fn adopt(&mut self, arrival: &mut Arrival) {
        if let Some(session) = arrival.session.take() {
            if let Some(Offer::Register(hash) | Offer::Resume(hash)) = &arrival.offer {
                self.registered_hash = Some(hash.clone());
            }
            self.session = Some(session);
            self.no_session = None;
        }
    }

    /// Makes sure a registered connection is at hand, waiting for the runtime to connect
    /// again if the last one was lost. On failure, the check cannot run: `Err` is its result.
    pub(super) async fn need_session(&mut self, id: &'static str) -> Result<(), CheckResult> {
        if self.session.is_some() {
            return Ok(());
        }
        if self.no_session.is_none() {
            let now = Instant::now();
            let deadline = now + self.limit() + FIRST_BACKOFF;
            match self.gateway.next_arrival(self.started, deadline).await {
                Some(mut arrival) if arrival.session.is_some() => self.adopt(&mut arrival),
                Some(arrival) => {
                    let why = match arrival.problem {
                        Some(problem) => format!("the last connection failed: {}", problem.got),
                        None => "the last connection was not registered".to_owned(),
                    };
                    self.no_session = Some(why);
                }
                None => {
                    let state = self.process_state();
                    self.no_session = Some(format!("no registered connection; {state}"));
                }
            }
        }
        match &self.no_session {
            None => Ok(()),
            Some(why) => Err(CheckResult::new(
                id,
                Status::NotRun,
                format!("needs a registered connection: {why}"),
            )),
        }
    }

    /// A `request` frame for `method path` (path with its parameters filled in).
    pub(super) fn request_frame(
        &mut self,
        method: &str,
        path: &str,
        input: Value,
        deadline: Duration,
    ) -> (String, Frame) {
        self.n_requests += 1;
        let request_id = format!("conformance-{}", self.n_requests);
        let envelope = RequestEnvelope {
            method: method.to_owned(),
            path: path.to_owned(),
            agent_id: "conformance-agent".to_owned(),
            principal_id: String::new(),
            agent_scopes: vec!["bookings:read".to_owned(), "bookings:write".to_owned()],
            authority_scope: Vec::new(),
            session_id: None,
            task_id: None,
            request_id: request_id.clone(),
            headers: Default::default(),
            input,
            agent_verified: false,
            agent_cert_fingerprint: None,
            agent_cert_extensions: Default::default(),
            client_address: None,
        };
        let frame = Frame::Request(Request {
            request_id: request_id.clone(),
            envelope,
            trust: Some(Trust {
                verified: true,
                agent_id: "conformance-agent".to_owned(),
                agent_cert_fingerprint: None,
                method: TrustMethod::AgentIdHeader,
            }),
            deadline_ms: Some(u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX)),
        });
        (request_id, frame)
    }

    /// Calls the endpoint declared as `method template` with `input` (path parameters are
    /// taken from it) and waits up to the timeout for the answer. Whatever would make the
    /// daemon drop the connection (a wrong request_id, bytes that are not a frame, no answer)
    /// drops it here too, with the daemon's `error` frame.
    pub(super) async fn call(
        &mut self,
        (method, template): (&str, &str),
        input: Value,
    ) -> Result<Exchange, Problem> {
        let endpoint = self.service.endpoint(method, template).ok_or_else(|| {
            Problem::new(
                format!(
                    "the endpoint set to declare `{method} {template}`, which this check calls"
                ),
                format!("no such endpoint in {}", self.service.source),
            )
        })?;
        let agtp_site::endpoints::HandlerBinding::RegisteredFunction { timeout, .. } =
            endpoint.handler()
        else {
            return Err(Problem::new(
                format!("`{method} {template}` to be served by a runtime"),
                "it is a proxy endpoint",
            ));
        };
        let deadline = *timeout;
        let path = fill_path(template, &input);
        let (request_id, frame) = self.request_frame(method, &path, input, deadline);
        let wait = self.limit();
        let answer = self.exchange(&request_id, &frame, wait).await?;
        Ok(Exchange {
            method: method.to_owned(),
            template: template.to_owned(),
            path,
            request_id,
            answer,
            wait,
        })
    }

    /// Sends `frame` on the current session and waits up to `wait` for its answer.
    pub(super) async fn exchange(
        &mut self,
        request_id: &str,
        frame: &Frame,
        wait: Duration,
    ) -> Result<Received, Problem> {
        let Some(session) = self.session.as_mut() else {
            return Err(Problem::new("a registered connection", "none"));
        };
        if let Err(error) = session.send(frame).await {
            self.session = None;
            return Err(Problem::new(
                "the connection to accept the request",
                format!("writing it failed: {error}"),
            ));
        }
        let answer = session.receive(Instant::now() + wait).await;
        self.after_answer(request_id, &answer).await;
        Ok(answer)
    }

    /// Drops the session when the daemon would, telling the runtime why.
    pub(super) async fn after_answer(&mut self, request_id: &str, answer: &Received) {
        let drop_with = |code: ErrorCode, message: String| ErrorFrame {
            request_id: None,
            code,
            message,
            details: None,
        };
        let error = match answer {
            Received::Frame(Frame::Response(r)) if r.request_id == request_id => return,
            Received::Frame(Frame::Error(e)) if e.request_id.as_deref() == Some(request_id) => {
                return
            }
            Received::Frame(Frame::Response(_) | Frame::Error(_)) => Some(drop_with(
                ErrorCode::RequestIdMismatch,
                format!("the request in flight is `{request_id}`"),
            )),
            Received::Frame(frame) => Some(drop_with(
                ErrorCode::PhaseViolation,
                format!("`{}` while a request is in flight", frame.type_name()),
            )),
            Received::Silent => Some(ErrorFrame {
                request_id: Some(request_id.to_owned()),
                code: ErrorCode::HandlerTimeout,
                message: "no answer before the deadline".to_owned(),
                details: None,
            }),
            Received::Broken(error) => {
                if let Some(encoding) = self.session.as_ref().and_then(|s| s.encoding()) {
                    self.gateway.note_decode_failure(encoding, error);
                }
                Some(drop_with(ErrorCode::MalformedFrame, error.clone()))
            }
            Received::Closed => None,
        };
        if let Some(session) = self.session.take() {
            if let Some(error) = error {
                session.close_with(error).await;
            }
        }
    }

    /// The reply body of `exchange`, checked against its endpoint's output schema.
    pub(super) fn reply_body<'e>(&self, exchange: &'e Exchange) -> Result<&'e Value, Problem> {
        let call = format!("{} {}", exchange.method, exchange.path);
        let body = match &exchange.answer {
            Received::Frame(Frame::Response(r)) if r.request_id == exchange.request_id => {
                match &r.envelope {
                    ResponseEnvelope::Reply(reply) => &reply.body,
                    ResponseEnvelope::EndpointError(_) => {
                        return Err(Problem::new(
                            format!("a reply to {call}"),
                            describe_frame(&Frame::Response(r.clone())),
                        ))
                    }
                }
            }
            other => {
                return Err(Problem::new(
                    format!(
                        "a `response` to {call} carrying request_id `{}`",
                        exchange.request_id
                    ),
                    other.describe(exchange.wait),
                ))
            }
        };
        if let Some(endpoint) = self.service.endpoint(&exchange.method, &exchange.template) {
            if let Err(error) = endpoint.validate_output(body) {
                return Err(Problem::new(
                    format!(
                        "a body valid against the output schema of `{} {}` (every \
                         `[[endpoint.output]]` field is required)",
                        exchange.method, exchange.template
                    ),
                    format!("{}; the body: {}", error.message, snippet(body)),
                ));
            }
        }
        Ok(body)
    }

    /// Watches the runtime until `until`: it must keep running and answer a `ping` every
    /// half second. `Err` says what went wrong, and when (counted from `since`).
    pub(super) async fn keeps_serving(
        &mut self,
        until: Instant,
        since: Instant,
    ) -> Result<(), String> {
        let mut n = 0;
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Ok(process) = &mut self.process {
                if let Some(status) = process.exit_status() {
                    return Err(format!(
                        "the runtime {} {} after the slow call began",
                        super::process::describe_status(status),
                        seconds(since.elapsed())
                    ));
                }
            }
            n += 1;
            let nonce = format!("conformance-watch-{n}");
            let Some(session) = self.session.as_mut() else {
                return Err("the connection was gone".to_owned());
            };
            let ping = Frame::Ping(runtime_protocol::Ping {
                nonce: nonce.clone(),
            });
            let sent = session.send(&ping).await;
            let answer = session.receive(Instant::now() + self.args.timeout).await;
            match (sent, answer) {
                (Ok(()), Received::Frame(Frame::Pong(pong))) if pong.nonce == nonce => {}
                (Err(error), _) => {
                    self.session = None;
                    return Err(format!(
                        "a `ping` {} after the slow call began could not be sent: {error}",
                        seconds(since.elapsed())
                    ));
                }
                (Ok(()), other) => {
                    self.session = None;
                    return Err(format!(
                        "the `ping` {} after the slow call began got {}",
                        seconds(since.elapsed()),
                        other.describe(self.args.timeout)
                    ));
                }
            }
        }
        Ok(())
    }

    /// A scratch path for a second socket.
    pub(super) fn scratch_socket(&self, name: &str) -> std::path::PathBuf {
        self.scratch.join(name)
    }
}

/// A call and what came back.
pub(super) struct Exchange {
    pub(super) method: String,
    pub(super) template: String,
    pub(super) path: String,
    pub(super) request_id: String,
    pub(super) answer: Received,
    pub(super) wait: Duration,
}

/// `template` with each `{name}` segment replaced by `input[name]`.
fn fill_path(template: &str, input: &Value) -> String {
    template
        .split('/')
        .map(|segment| {
            match segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .and_then(|name| input.get(name))
            {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => segment.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
