//! The spec's conformance vectors: handshake, registration, a normal request, a declared
//! error, an exception, ping and reconnection (the refusal of an unresolvable registration is
//! in `refusal.rs`).

use runtime_protocol::{
    negotiate_version, Encoding, Frame, Ping, ResponseEnvelope, CAP_REGISTERED_FUNCTION,
    PROTOCOL_VERSION,
};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::gateway::{Offer, Received};
use super::report::{CheckResult, Problem, Status};
use super::run::{Reconnection, Run};
use super::text::{describe_frame, seconds, snippet};

pub(super) const AVAILABILITY: (&str, &str) = ("QUERY", "/rooms/availability");
pub(super) const BOOK: (&str, &str) = ("BOOK", "/rooms/{room_id}");
pub(super) const FETCH: (&str, &str) = ("FETCH", "/bookings/{booking_id}");
pub(super) const CANCEL: (&str, &str) = ("CANCEL", "/bookings/{booking_id}");
/// The booking convention: `booking.fetch_booking` raises for this id.
pub(super) const RAISE_ID: &str = "__raise__";
/// The stay every booking of a run is for; nothing else books it.
const STAY: (&str, &str) = ("2031-05-01", "2031-05-04");

impl Run<'_> {
    /// `handshake` and `registration`, both judged on the runtime's first connection.
    pub(super) async fn handshake_and_registration(&mut self) {
        let limit = self.limit();
        if let Err(error) = &self.process {
            let problem = Problem::new("the runtime command to start", error.clone());
            self.results
                .push(CheckResult::failed("handshake", "no runtime", problem));
            self.no_session = Some(error.clone());
            self.results.push(registration_not_run());
            return;
        }
        let Some(mut arrival) = self
            .gateway
            .next_arrival(self.started, self.started + limit)
            .await
        else {
            let problem = Problem::new(
                format!(
                    "a connection to AGTP_GATEWAY_SOCKET within {} of starting",
                    seconds(limit)
                ),
                format!("none; {}", self.process_state()),
            );
            self.no_session = Some("the runtime never connected".to_owned());
            let result = CheckResult::failed("handshake", "no connection", problem);
            self.results.push(result);
            self.results.push(registration_not_run());
            return;
        };

        let Some(hello) = arrival.hello.clone() else {
            let problem = arrival
                .problem
                .take()
                .unwrap_or_else(|| Problem::new("a `hello` frame", "something else"));
            self.no_session = Some("the first connection sent no `hello`".to_owned());
            let result = CheckResult::failed("handshake", "the first frame", problem);
            self.results.push(result);
            self.results.push(registration_not_run());
            return;
        };
        let mut problems = Vec::new();
        if negotiate_version(&hello.gateway_versions).is_none() {
            problems.push(Problem::new(
                format!("`hello.gateway_versions` to offer \"{PROTOCOL_VERSION}\" (§6.1)"),
                format!("{:?}", hello.gateway_versions),
            ));
        }
        if hello.module.pool_name() != self.args.pool {
            problems.push(Problem::new(
                format!(
                    "`hello.module.pool` `{}`, the AGTP_POOL the runtime was started with",
                    self.args.pool
                ),
                format!("`{}`", hello.module.pool_name()),
            ));
        }
        if !hello
            .capabilities
            .iter()
            .any(|c| c == CAP_REGISTERED_FUNCTION)
        {
            problems.push(Problem::new(
                "`hello.capabilities` to claim `registered_function` (§6.3: every runtime does)",
                format!("{:?}", hello.capabilities),
            ));
        }
        let module = &hello.module;
        let encoding = arrival.encoding.map(Encoding::name).unwrap_or("?");
        let summary = format!(
            "hello offers {:?}; module `{}` {}{}, pool `{}`, {encoding}",
            hello.gateway_versions,
            module.id,
            module.version,
            module
                .runtime
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            module.pool_name()
        );
        self.results
            .push(CheckResult::judged("handshake", summary, problems));

        let n_endpoints = self.service.register.endpoints.len();
        let result = match (&arrival.offer, &arrival.ack) {
            (None, _) => registration_not_run(),
            (Some(_), None) => CheckResult::failed(
                "registration",
                format!("register with {n_endpoints} endpoints"),
                arrival
                    .problem
                    .take()
                    .unwrap_or_else(|| Problem::new("a `register_ack`", "none")),
            ),
            (Some(offer), Some(ack)) if !ack.ok => {
                let errors: Vec<String> = ack
                    .errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}{}",
                            e.endpoint,
                            e.reason,
                            e.detail
                                .as_deref()
                                .map(|d| format!(" ({d})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                CheckResult::failed(
                    "registration",
                    format!("{} with {n_endpoints} endpoints", offer_name(offer)),
                    Problem::new(
                        "`register_ack` with `ok: true`: each endpoint's handler_reference names \
                         a handler of the runtime (§7.2)",
                        format!("`ok: false`, errors: [{}]", errors.join("; ")),
                    ),
                )
            }
            (Some(offer), Some(ack)) => {
                let mut problems = Vec::new();
                let mut expected: Vec<String> = self
                    .service
                    .register
                    .endpoints
                    .iter()
                    .map(|e| e.key())
                    .collect();
                expected.sort();
                let mut resolved = ack.resolved.clone();
                resolved.sort();
                if !resolved.is_empty() && resolved != expected {
                    problems.push(Problem::new(
                        format!("`resolved` to list the registered endpoints: {expected:?}"),
                        format!("{resolved:?}"),
                    ));
                }
                let summary = format!(
                    "{} with {n_endpoints} endpoints; register_ack ok, {} resolved",
                    offer_name(offer),
                    ack.resolved.len()
                );
                CheckResult::judged("registration", summary, problems)
            }
        };
        self.results.push(result);
        self.adopt(&mut arrival);
        if self.session.is_none() && self.no_session.is_none() {
            self.no_session = Some("the first connection was not registered".to_owned());
        }
    }

    /// `request`: a small booking: find a room, book it, read the booking, cancel it. Each
    /// answer must be a reply whose body satisfies the endpoint's output schema.
    pub(super) async fn request(&mut self) -> CheckResult {
        const ID: &str = "request";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        match self.booking_round_trip().await {
            Ok(summary) => CheckResult::new(ID, Status::Pass, summary),
            Err((summary, problem)) => CheckResult::failed(ID, summary, problem),
        }
    }

    async fn booking_round_trip(&mut self) -> Result<String, (String, Problem)> {
        let (check_in, check_out) = STAY;
        let input = json!({"check_in": check_in, "check_out": check_out, "guests": 2});
        let step = "QUERY /rooms/availability";
        let fail = |problem| (format!("{step} for 2 guests"), problem);
        let exchange = self.call(AVAILABILITY, input).await.map_err(fail)?;
        let body = self.reply_body(&exchange).map_err(fail)?;
        let room_id = match body.pointer("/rooms/0/room_id") {
            Some(Value::String(room)) => room.clone(),
            _ => {
                return Err(fail(Problem::new(
                    format!(
                    "at least one free room from {check_in} to {check_out}: nothing is booked yet"
                ),
                    snippet(body),
                )))
            }
        };
        self.room_id = Some(room_id.clone());

        let input = json!({"room_id": room_id, "guest_name": "Ada Lovelace",
                           "check_in": check_in, "check_out": check_out});
        let step = format!("BOOK /rooms/{room_id}");
        let fail = |problem| (step.clone(), problem);
        let exchange = self.call(BOOK, input).await.map_err(fail)?;
        let body = self.reply_body(&exchange).map_err(fail)?;
        let Some(booking_id) = body.get("booking_id").and_then(Value::as_str) else {
            return Err(fail(Problem::new("a string `booking_id`", snippet(body))));
        };
        let booking_id = booking_id.to_owned();

        for (endpoint, input) in [
            (FETCH, json!({"booking_id": booking_id})),
            (
                CANCEL,
                json!({"booking_id": booking_id, "reason": "conformance run"}),
            ),
        ] {
            let step = format!("{} /bookings/{booking_id}", endpoint.0);
            let fail = |problem| (step.clone(), problem);
            let exchange = self.call(endpoint, input).await.map_err(fail)?;
            let body = self.reply_body(&exchange).map_err(fail)?;
            if body.get("booking_id") != Some(&Value::from(booking_id.as_str())) {
                return Err(fail(Problem::new(
                    format!("the booking just made, `{booking_id}`"),
                    snippet(body),
                )));
            }
        }
        Ok(format!(
            "4 calls, each a reply valid against its output schema: QUERY /rooms/availability, \
             BOOK /rooms/{room_id} ({booking_id}), FETCH and CANCEL /bookings/{booking_id}"
        ))
    }

    /// `declared_error`: a booking whose check-out precedes its check-in must come back as
    /// `endpoint_error` `invalid_dates`.
    pub(super) async fn declared_error(&mut self) -> CheckResult {
        const ID: &str = "declared_error";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        let room_id = self.room_id.clone().unwrap_or_else(|| "101".to_owned());
        let input = json!({"room_id": room_id, "guest_name": "Ada Lovelace",
                           "check_in": "2031-06-10", "check_out": "2031-06-08"});
        let summary = format!("BOOK /rooms/{room_id} with check_out before check_in");
        let exchange = match self.call(BOOK, input).await {
            Ok(exchange) => exchange,
            Err(problem) => return CheckResult::failed(ID, summary, problem),
        };
        let expected = "a `response` whose envelope is `endpoint_error` with code \
                        `invalid_dates` (§8.2), a declared error of BOOK /rooms/{room_id}";
        match &exchange.answer {
            Received::Frame(Frame::Response(r)) if r.request_id == exchange.request_id => {
                match &r.envelope {
                    ResponseEnvelope::EndpointError(e) if e.code == "invalid_dates" => {
                        CheckResult::new(
                            ID,
                            Status::Pass,
                            format!(
                                "{summary}: `endpoint_error` `invalid_dates` ({})",
                                e.message
                            ),
                        )
                    }
                    _ => CheckResult::failed(
                        ID,
                        summary,
                        Problem::new(expected, exchange.answer.describe(exchange.wait)),
                    ),
                }
            }
            other => CheckResult::failed(
                ID,
                summary,
                Problem::new(expected, other.describe(exchange.wait)),
            ),
        }
    }

    /// `exception`: `FETCH /bookings/__raise__` makes the handler raise; the runtime must
    /// answer `error` `handler_exception` for that request and keep the connection usable.
    pub(super) async fn exception(&mut self) -> CheckResult {
        const ID: &str = "exception";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        let summary = format!("FETCH /bookings/{RAISE_ID} (its handler raises)");
        let exchange = match self.call(FETCH, json!({"booking_id": RAISE_ID})).await {
            Ok(exchange) => exchange,
            Err(problem) => return CheckResult::failed(ID, summary, problem),
        };
        let message = match &exchange.answer {
            Received::Frame(Frame::Error(e))
                if e.request_id.as_deref() == Some(exchange.request_id.as_str())
                    && e.code.as_str() == "handler_exception" =>
            {
                e.message.clone()
            }
            other => {
                let expected = format!(
                    "an `error` frame with request_id `{}` and code `handler_exception` (§8.3)",
                    exchange.request_id
                );
                return CheckResult::failed(
                    ID,
                    summary,
                    Problem::new(expected, other.describe(exchange.wait)),
                );
            }
        };
        let summary = format!("{summary}: `handler_exception` ({message})");
        let (check_in, check_out) = STAY;
        let input = json!({"check_in": check_in, "check_out": check_out});
        let after = match self.call(AVAILABILITY, input).await {
            Ok(exchange) => self.reply_body(&exchange).map(|_| ()),
            Err(problem) => Err(problem),
        };
        match after {
            Ok(()) => CheckResult::new(
                ID,
                Status::Pass,
                format!("{summary}; the next request on the connection was served"),
            ),
            Err(problem) => CheckResult::failed(
                ID,
                summary,
                Problem::new(
                    format!("the connection to stay usable (§8.3): {}", problem.expected),
                    problem.got,
                ),
            ),
        }
    }

    /// `ping`: the daemon's `ping` comes back as a `pong` with the same nonce.
    pub(super) async fn ping(&mut self) -> CheckResult {
        const ID: &str = "ping";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        let nonce = "conformance-ping".to_owned();
        let limit = self.limit();
        let Some(session) = self.session.as_mut() else {
            return CheckResult::new(ID, Status::NotRun, "no connection");
        };
        let sent_at = Instant::now();
        let ping = Frame::Ping(Ping {
            nonce: nonce.clone(),
        });
        if let Err(error) = session.send(&ping).await {
            self.session = None;
            return CheckResult::failed(
                ID,
                "ping on an idle connection",
                Problem::new("the connection to accept a `ping`", error),
            );
        }
        let answer = session.receive(sent_at + limit).await;
        match answer {
            Received::Frame(Frame::Pong(pong)) if pong.nonce == nonce => CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "`pong` with the same nonce in {}",
                    seconds(sent_at.elapsed())
                ),
            ),
            other => {
                if !matches!(other, Received::Frame(_)) {
                    self.session = None;
                }
                CheckResult::failed(
                    ID,
                    "ping on an idle connection",
                    Problem::new(
                        format!(
                            "a `pong` with nonce `{nonce}` within {} (§10; the daemon allows 30 s, \
                             this run --timeout)",
                            seconds(limit)
                        ),
                        other.describe(limit),
                    ),
                )
            }
        }
    }

    /// `reconnect`: the harness closes the connection, as a daemon that restarts would; the
    /// runtime must connect again, register, and serve.
    pub(super) async fn reconnect(&mut self) -> CheckResult {
        const ID: &str = "reconnect";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        self.session = None; // closes the connection, without a goodbye
        let (mut arrival, closed_at) = match self.reconnection().await {
            Ok(found) => found,
            Err((limit, state)) => {
                self.no_session = Some("the runtime did not reconnect".to_owned());
                return CheckResult::failed(
                    ID,
                    "the daemon closed the connection",
                    Problem::new(
                        format!(
                            "a new connection within {} (§10: reconnect with backoff, the first \
                         attempt after 1 s)",
                            seconds(limit)
                        ),
                        format!("none; {state}"),
                    ),
                );
            }
        };
        let delay = arrival.accepted_at - closed_at;
        let mut reconnection = Reconnection {
            cached_manifest_hash: arrival
                .hello
                .as_ref()
                .and_then(|h| h.cached_manifest_hash.clone()),
            offer: arrival.offer.clone(),
            served: false,
        };
        let summary = format!("reconnected after {}", seconds(delay));
        self.adopt(&mut arrival);
        if self.session.is_none() {
            self.reconnection = Some(reconnection);
            let problem = arrival.problem.take().unwrap_or_else(|| {
                Problem::new(
                    "`register_ack` with `ok: true` on the new connection",
                    match &arrival.ack {
                        Some(ack) => describe_frame(&Frame::RegisterAck(ack.clone())),
                        None => "none".to_owned(),
                    },
                )
            });
            return CheckResult::failed(ID, summary, problem);
        }
        let (check_in, check_out) = STAY;
        let input = json!({"check_in": check_in, "check_out": check_out});
        let served = match self.call(AVAILABILITY, input).await {
            Ok(exchange) => self.reply_body(&exchange).map(|_| ()),
            Err(problem) => Err(problem),
        };
        reconnection.served = served.is_ok();
        self.reconnection = Some(reconnection);
        match served {
            Ok(()) => CheckResult::new(
                ID,
                Status::Pass,
                format!("{summary}, registered again and served a request"),
            ),
            Err(problem) => CheckResult::failed(ID, summary, problem),
        }
    }
}

fn registration_not_run() -> CheckResult {
    let why = "needs a handshake that reaches the registration (see `handshake`)";
    CheckResult::new("registration", Status::NotRun, why)
}

fn offer_name(offer: &Offer) -> &'static str {
    match offer {
        Offer::Register(_) => "register",
        Offer::Resume(_) => "register_resume",
    }
}
