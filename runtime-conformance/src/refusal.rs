//! The `unresolvable_registration` vector: a second start of the runtime, registered with
//! one endpoint more than it can serve, must refuse the registration and exit non-zero.

use tokio::time::Instant;

use super::gateway::Gateway;
use super::process::{describe_status, RuntimeProcess};
use super::report::{CheckResult, Problem, Status};
use super::run::Run;
use super::service::{UNRESOLVABLE_HANDLER, UNRESOLVABLE_METHOD, UNRESOLVABLE_PATH};
use super::text::seconds;

impl Run<'_> {
    /// `unresolvable_registration`: a second start of the runtime is registered with one more
    /// endpoint, whose handler it cannot have; it must refuse with a structured
    /// `register_ack` and exit non-zero.
    pub(super) async fn unresolvable_registration(&mut self) -> CheckResult {
        const ID: &str = "unresolvable_registration";
        let key = format!("{UNRESOLVABLE_METHOD} {UNRESOLVABLE_PATH}");
        let summary = format!("a second start, registered with `{key}` (`{UNRESOLVABLE_HANDLER}`)");
        let limit = self.limit();
        let socket = self.scratch_socket("gateway-unresolvable.sock");
        let mut gateway = match Gateway::bind(&socket, self.service.with_unresolvable(), limit) {
            Ok(gateway) => gateway,
            Err(error) => {
                let problem = Problem::new("a second gateway socket", error.to_string());
                return CheckResult::failed(ID, summary, problem);
            }
        };
        let started = Instant::now();
        let mut process = match RuntimeProcess::start(&self.args.command, &socket, &self.args.pool)
        {
            Ok(process) => process,
            Err(error) => {
                let problem = Problem::new("the runtime command to start", error.to_string());
                return CheckResult::failed(ID, summary, problem);
            }
        };
        let result = refusal(&mut gateway, &mut process, started, &key, limit).await;
        let result = match result {
            Ok(detail) => CheckResult::new(ID, Status::Pass, format!("{summary}: {detail}")),
            Err(problem) => CheckResult::failed(ID, summary, problem),
        };
        if process.exit_status().is_none() {
            process.kill().await;
        }
        self.second_output = process.output_tail();
        result
    }
}

/// The second start's registration must fail on exactly `key`, and the process must exit
/// non-zero. `Ok` words what happened.
async fn refusal(
    gateway: &mut Gateway,
    process: &mut RuntimeProcess,
    started: Instant,
    key: &str,
    limit: std::time::Duration,
) -> Result<String, Problem> {
    let Some(mut arrival) = gateway.next_arrival(started, started + limit).await else {
        return Err(Problem::new(
            format!("a connection within {}", seconds(limit)),
            format!("none; the runtime {}", process.describe()),
        ));
    };
    let expected = format!(
        "`register_ack` with `ok: false` and one `errors` entry, for `{key}`, whose handler the \
         runtime does not have (§7.2)"
    );
    let ack = match arrival.ack.take() {
        Some(ack) => ack,
        None => {
            let problem = arrival.problem.take();
            let got = problem
                .map(|p| p.got)
                .unwrap_or_else(|| "no `register_ack`".to_owned());
            return Err(Problem::new(expected, got));
        }
    };
    if ack.ok {
        return Err(Problem::new(
            expected,
            format!("`ok: true`, resolved {:?}", ack.resolved),
        ));
    }
    let listed: Vec<&str> = ack.errors.iter().map(|e| e.endpoint.as_str()).collect();
    let Some(entry) = ack.errors.iter().find(|e| e.endpoint == key) else {
        return Err(Problem::new(
            expected,
            format!("`ok: false` with errors for {listed:?}"),
        ));
    };
    if listed.len() != 1 {
        return Err(Problem::new(
            expected,
            format!("errors for {listed:?}: the others resolve"),
        ));
    }
    if entry.reason.is_empty() {
        return Err(Problem::new(
            format!("a `reason` for `{key}`, such as `handler_not_found`"),
            "an empty string",
        ));
    }
    drop(arrival); // the daemon closes the connection after a refusal
    let detail = format!(
        "refused it ({}{})",
        entry.reason,
        entry
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    match process.wait_until(Instant::now() + limit).await {
        Some(status) if status.success() => Err(Problem::new(
            "a non-zero exit status after the refusal (§7.2: an operator has to fix it)",
            format!("{detail}, then {}", describe_status(status)),
        )),
        Some(status) => Ok(format!("{detail} and {}", describe_status(status))),
        None => Err(Problem::new(
            format!(
                "the runtime to exit non-zero within {} of the refusal, not to retry (§7.2)",
                seconds(limit)
            ),
            format!("{detail}, and it was still running"),
        )),
    }
}
