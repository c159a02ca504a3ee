//! agtpd's checks beyond the spec's vectors: MessagePack, resume, the deadline, SIGTERM.

use std::time::Duration;

use runtime_protocol::{Encoding, ErrorCode, ErrorFrame, Frame};
use serde_json::json;
use tokio::time::{sleep, Instant};

use super::gateway::{Offer, Received};
use super::process::describe_status;
use super::report::{CheckResult, Problem, Status};
use super::run::{Exchange, Run};
use super::text::seconds;
use super::vectors::AVAILABILITY;

pub(super) const OUTLOOK: (&str, &str) = ("QUERY", "/rooms/occupancy-outlook");
/// The deadline the `deadline` check gives the slow handler.
const SHORT_DEADLINE: Duration = Duration::from_secs(1);
/// The booking convention: `booking.occupancy_outlook` takes this long.
const SLOW_HANDLER: Duration = Duration::from_secs(5);
/// The deadline the `sigterm` check gives the slow handler: ample.
const LONG_DEADLINE: Duration = Duration::from_secs(30);
/// How long the `sigterm` check lets the runtime read its request before the signal.
const BEFORE_SIGNAL: Duration = Duration::from_millis(500);

impl Run<'_> {
    /// `messagepack`: judged on every connection the runtime opened. JSON-only runtimes skip.
    pub(super) fn messagepack(&mut self) -> CheckResult {
        const ID: &str = "messagepack";
        let seen = &self.gateway.seen;
        let n_connections = seen.iter().filter(|(_, error)| error.is_none()).count();
        let failures: Vec<&String> = seen
            .iter()
            .filter(|(encoding, _)| *encoding == Encoding::MessagePack)
            .filter_map(|(_, error)| error.as_ref())
            .collect();
        let n_msgpack = seen
            .iter()
            .filter(|(e, error)| *e == Encoding::MessagePack && error.is_none())
            .count();
        if n_connections == 0 && failures.is_empty() {
            return CheckResult::new(
                ID,
                Status::NotRun,
                "needs a frame from the runtime (see `handshake`)",
            );
        }
        if n_msgpack == 0 && failures.is_empty() {
            return CheckResult::new(
                ID,
                Status::Skip,
                format!(
                    "the runtime spoke JSON on its {n_connections} connections; MessagePack is \
                     optional (§3)"
                ),
            );
        }
        let problems = failures
            .into_iter()
            .map(|error| {
                Problem::new(
                    "every frame on a MessagePack connection to be one MessagePack map with \
                     string keys, no `bin` or extension values (§3)",
                    error.clone(),
                )
            })
            .collect();
        let summary = format!(
            "{n_msgpack} of {n_connections} connections spoke MessagePack; the checks above ran \
             on them"
        );
        CheckResult::judged(ID, summary, problems)
    }

    /// `resume`: judged on the `reconnect` check's new connection. A runtime that offers no
    /// cached hash skips (resume is optional).
    pub(super) fn resume(&mut self) -> CheckResult {
        const ID: &str = "resume";
        let Some(reconnection) = &self.reconnection else {
            return CheckResult::new(
                ID,
                Status::NotRun,
                "needs the new connection of the `reconnect` check",
            );
        };
        let Some(cached) = &reconnection.cached_manifest_hash else {
            return CheckResult::new(
                ID,
                Status::Skip,
                "the runtime offered no `hello.cached_manifest_hash` when it reconnected; resume \
                 is optional (§7.3)",
            );
        };
        let registered = &self.service.register.manifest_hash;
        if cached != registered {
            return CheckResult::failed(
                ID,
                "reconnection with a cached manifest hash",
                Problem::new(
                    format!(
                        "`hello.cached_manifest_hash` to be the hash of the registration it \
                         applied, `{registered}` (§7.3: store and echo it, never compute it)"
                    ),
                    format!("`{cached}`"),
                ),
            );
        }
        let summary = "offered the hash of its registration and got `register_resume`";
        match (&reconnection.offer, reconnection.served) {
            (Some(Offer::Resume(_)), true) => CheckResult::new(
                ID,
                Status::Pass,
                format!("{summary}; acknowledged it and served from its cached endpoint set"),
            ),
            _ => CheckResult::failed(
                ID,
                summary,
                Problem::new(
                    "`register_ack` with `ok: true`, then replies from the cached endpoint set",
                    "see the `reconnect` check",
                ),
            ),
        }
    }

    /// `deadline`: the slow handler misses a short deadline. As the daemon does, the harness
    /// sends `error` `handler_timeout` and closes; the runtime must reconnect, serve, and still
    /// be serving after the abandoned handler finishes.
    pub(super) async fn deadline(&mut self) -> CheckResult {
        const ID: &str = "deadline";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        let summary = format!(
            "QUERY /rooms/occupancy-outlook with a {} deadline",
            seconds(SHORT_DEADLINE)
        );
        if self.service.endpoint(OUTLOOK.0, OUTLOOK.1).is_none() {
            let problem = Problem::new(
                format!("the endpoint set to declare `{} {}`", OUTLOOK.0, OUTLOOK.1),
                format!("no such endpoint in {}", self.service.source),
            );
            return CheckResult::failed(ID, summary, problem);
        }
        let (request_id, frame) =
            self.request_frame(OUTLOOK.0, OUTLOOK.1, json!({"days": 3}), SHORT_DEADLINE);
        let Some(session) = self.session.as_mut() else {
            return CheckResult::new(ID, Status::NotRun, "no connection");
        };
        let sent_at = Instant::now();
        if let Err(error) = session.send(&frame).await {
            self.session = None;
            let problem = Problem::new("the connection to accept the request", error);
            return CheckResult::failed(ID, summary, problem);
        }
        match session.receive(sent_at + SHORT_DEADLINE).await {
            Received::Silent => {}
            early => {
                self.session = None;
                return CheckResult::failed(
                    ID,
                    summary,
                    Problem::new(
                        format!(
                            "no answer before the deadline: by the booking convention \
                             `booking.occupancy_outlook` takes {}, so the runtime must miss it",
                            seconds(SLOW_HANDLER)
                        ),
                        format!(
                            "{} after {}",
                            early.describe(SHORT_DEADLINE),
                            seconds(sent_at.elapsed())
                        ),
                    ),
                );
            }
        }
        // What the daemon does at the deadline (§8.4).
        if let Some(session) = self.session.take() {
            let timeout = ErrorFrame {
                request_id: Some(request_id),
                code: ErrorCode::HandlerTimeout,
                message: "the deadline passed".to_owned(),
                details: None,
            };
            session.close_with(timeout).await;
        }
        let (mut arrival, closed_at) = match self.reconnection().await {
            Ok(found) => found,
            Err((limit, state)) => {
                return CheckResult::failed(
                    ID,
                    summary,
                    Problem::new(
                        format!(
                            "after `handler_timeout` and the close, a new connection within {}",
                            seconds(limit)
                        ),
                        format!("none; {state}"),
                    ),
                )
            }
        };
        self.adopt(&mut arrival);
        if self.session.is_none() {
            let problem = arrival.problem.take().unwrap_or_else(|| {
                Problem::new("a registered new connection", "a refused registration")
            });
            return CheckResult::failed(ID, summary, problem);
        }
        let (check_in, check_out) = ("2031-05-01", "2031-05-04");
        let input = json!({"check_in": check_in, "check_out": check_out});
        let served = match self.call(AVAILABILITY, input).await {
            Ok(exchange) => self.reply_body(&exchange).map(|_| ()),
            Err(problem) => Err(problem),
        };
        if let Err(problem) = served {
            let problem = Problem::new(
                format!("after the missed deadline, {}", problem.expected),
                problem.got,
            );
            return CheckResult::failed(ID, summary, problem);
        }
        // The abandoned handler finishes now; its late answer must not hurt the runtime.
        let watch_until = sent_at + SLOW_HANDLER + Duration::from_secs(1);
        if let Err(got) = self.keeps_serving(watch_until, sent_at).await {
            let problem = Problem::new(
                format!(
                    "the runtime to keep running and answering after the abandoned handler \
                     finished (about {} after the call): a late answer is dropped",
                    seconds(SLOW_HANDLER)
                ),
                got,
            );
            return CheckResult::failed(ID, summary, problem);
        }
        CheckResult::new(
            ID,
            Status::Pass,
            format!(
                "{summary}: no answer in time; after `handler_timeout` and the close it \
                 reconnected in {}, served, and still answered {} after the call",
                seconds(arrival.accepted_at - closed_at),
                seconds(sent_at.elapsed())
            ),
        )
    }

    /// `sigterm`: SIGTERM while a slow request is in flight. The runtime must finish and
    /// send that answer, close (a `goodbye` first is welcome), and exit 0 promptly.
    pub(super) async fn sigterm(&mut self) -> CheckResult {
        const ID: &str = "sigterm";
        if let Err(not_run) = self.need_session(ID).await {
            return not_run;
        }
        let limit = self.limit();
        let summary = "SIGTERM while QUERY /rooms/occupancy-outlook is in flight";
        let (request_id, frame) =
            self.request_frame(OUTLOOK.0, OUTLOOK.1, json!({"days": 2}), LONG_DEADLINE);
        let Some(mut session) = self.session.take() else {
            return CheckResult::new(ID, Status::NotRun, "no connection");
        };
        if let Err(error) = session.send(&frame).await {
            let problem = Problem::new("the connection to accept the request", error);
            return CheckResult::failed(ID, summary, problem);
        }
        sleep(BEFORE_SIGNAL).await;
        let Ok(process) = &mut self.process else {
            return CheckResult::new(ID, Status::NotRun, "no runtime process");
        };
        if let Err(error) = process.terminate() {
            let problem = Problem::new("a running runtime to signal", error);
            return CheckResult::failed(ID, summary, problem);
        }
        let signalled = Instant::now();

        // 1. The answer to the request in flight.
        let wait = SLOW_HANDLER + limit;
        let mut answer = session.receive(signalled + wait).await;
        // §10: a runtime may say goodbye first; it must still answer the request in flight.
        let mut said_goodbye = false;
        if matches!(answer, Received::Frame(Frame::Goodbye(_))) {
            said_goodbye = true;
            answer = session.receive(signalled + wait).await;
        }
        let exchange = Exchange {
            method: OUTLOOK.0.to_owned(),
            template: OUTLOOK.1.to_owned(),
            path: OUTLOOK.1.to_owned(),
            request_id,
            answer,
            wait,
        };
        if let Err(problem) = self.reply_body(&exchange) {
            let got = format!(
                "{} ({} after SIGTERM; the runtime {})",
                problem.got,
                seconds(signalled.elapsed()),
                self.process_state().trim_start_matches("the runtime ")
            );
            let problem = Problem::new(
                format!(
                    "the answer to the request in flight, then the close (§10: finish the \
                     request in flight); {}",
                    problem.expected
                ),
                got,
            );
            return CheckResult::failed(ID, summary, problem);
        }
        let answered = signalled.elapsed();

        // 2. If the runtime said goodbye, closing is the daemon's move once the connection
        // is idle (§10); otherwise a goodbye (optional), then the runtime's close.
        if said_goodbye {
            drop(session);
        } else {
            loop {
                match session.receive(Instant::now() + limit).await {
                    Received::Frame(Frame::Goodbye(_)) if !said_goodbye => said_goodbye = true,
                    Received::Closed => break,
                    other => {
                        let problem = Problem::new(
                            format!(
                                "after the answer, {}the connection closed within {}",
                                if said_goodbye {
                                    ""
                                } else {
                                    "an optional `goodbye`, then "
                                },
                                seconds(limit)
                            ),
                            other.describe(limit),
                        );
                        return CheckResult::failed(ID, summary, problem);
                    }
                }
            }
        }
        let closed = Instant::now();

        // 3. The exit.
        let Ok(process) = &mut self.process else {
            return CheckResult::new(ID, Status::NotRun, "no runtime process");
        };
        match process.wait_until(closed + limit).await {
            Some(status) if status.success() => CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "{summary}: answered it {} after the signal, {}closed, and {} {} later",
                    seconds(answered),
                    if said_goodbye { "said goodbye, " } else { "" },
                    describe_status(status),
                    seconds(closed.elapsed())
                ),
            ),
            Some(status) => CheckResult::failed(
                ID,
                summary,
                Problem::new(
                    "exit status 0 once the work in flight is done",
                    describe_status(status),
                ),
            ),
            None => {
                process.kill().await;
                CheckResult::failed(
                    ID,
                    summary,
                    Problem::new(
                        format!("the process to exit within {} of closing", seconds(limit)),
                        "it was still running (killed)",
                    ),
                )
            }
        }
    }
}
