//! The module pipeline through the real daemon: phase order, failure containment, and
//! the audit module recording the status each exchange really got on the wire.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agtp_core::module::{Completion, Cx, Flow, Module, ModuleError};
use agtp_core::{Request, Response, Status};
use agtpd::config::Config;
use agtpd::modules::ModulesConfig;
use agtpd_harness::{error_code, TestDaemon};
use async_trait::async_trait;
use serde_json::{json, Value};
use tempfile::TempDir;

const CONCIERGE: &str = "d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c";

fn booking() -> Config {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/booking");
    Config {
        agents_dir: Some(sample.join("agents")),
        endpoints_dir: Some(sample.join("endpoints")),
        ..Config::default()
    }
}

/// A routed, valid request (no runtime serves it: 503 `runtime-unavailable`).
fn fetch(extra: &str) -> String {
    format!("AGTP/1.0 FETCH /bookings/b-17\r\nAgent-ID: {CONCIERGE}\r\n{extra}\r\n")
}

/// The `Fail-At` header, kept from `on_request` for `on_response`.
struct FailAt(Option<String>);

type Journal = Arc<Mutex<Vec<String>>>;

/// Writes each hook it sees into a shared journal. Answers 202 in `on_request` when the
/// request's `Respond-At` names it; fails in the hook `Fail-At: NAME:HOOK:HOW` names.
struct Recorder {
    name: &'static str,
    journal: Journal,
}

impl Recorder {
    fn module(name: &'static str, journal: &Journal) -> Arc<dyn Module> {
        Arc::new(Recorder {
            name,
            journal: journal.clone(),
        })
    }

    fn note(&self, what: String) {
        self.journal.lock().unwrap().push(what);
    }

    fn fail(&self, hook: &str, how: Option<&str>) -> Result<(), ModuleError> {
        match how.and_then(|h| h.strip_prefix(&format!("{}:{hook}:", self.name))) {
            Some("panic") => panic!("{} panics in {hook}", self.name),
            Some(_) => Err(ModuleError::new("told to fail")),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Module for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn on_request(&self, request: &mut Request, cx: &mut Cx) -> Result<Flow, ModuleError> {
        let route = cx.endpoint.as_ref().map(|e| e.path.clone());
        self.note(format!("request {} {route:?}", self.name));
        let fail_at = request.headers.get("Fail-At").map(str::to_owned);
        self.fail("request", fail_at.as_deref())?;
        cx.extensions_mut().insert(FailAt(fail_at));
        if request.headers.get("Respond-At") == Some(self.name) {
            let mut response = Response::new(Status::ACCEPTED);
            response.headers.set("Answered-By", self.name);
            return Ok(Flow::Respond(response));
        }
        Ok(Flow::Continue)
    }

    async fn on_response(&self, response: &mut Response, cx: &mut Cx) -> Result<(), ModuleError> {
        self.note(format!("response {} {}", self.name, response.status.code()));
        let how = cx.extensions().get::<FailAt>().and_then(|f| f.0.clone());
        self.fail("response", how.as_deref())
    }

    async fn on_complete(&self, done: &mut Completion<'_>) {
        let parsed = done.request.is_some();
        self.note(format!(
            "complete {} {} parsed={parsed} stamped={}",
            self.name,
            done.response.status.code(),
            done.response.headers.contains("Response-ID")
        ));
        done.added_headers.append("Completed-By", self.name);
    }
}

fn journal() -> Journal {
    Arc::default()
}

fn take(journal: &Journal) -> Vec<String> {
    std::mem::take(&mut *journal.lock().unwrap())
}

#[tokio::test]
async fn modules_enter_in_load_order_leave_in_reverse_and_complete_once_each() {
    let j = journal();
    let modules = vec![
        Recorder::module("a", &j),
        Recorder::module("b", &j),
        Recorder::module("c", &j),
    ];
    let server = TestDaemon::in_process(booking())
        .modules(modules)
        .start()
        .await;
    let mut client = server.client().await;
    let response = client.exchange(fetch("")).await;
    assert_eq!(error_code(&response), "runtime-unavailable");
    let route = "Some(\"/bookings/{booking_id}\")";
    assert_eq!(
        take(&j),
        [
            format!("request a {route}"),
            format!("request b {route}"),
            format!("request c {route}"),
            "response c 503".into(),
            "response b 503".into(),
            "response a 503".into(),
            "complete a 503 parsed=true stamped=true".into(),
            "complete b 503 parsed=true stamped=true".into(),
            "complete c 503 parsed=true stamped=true".into(),
        ]
    );
    let added: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Completed-By"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(added, ["a", "b", "c"]);
    server.stop().await;
}

#[tokio::test]
async fn a_module_that_responds_skips_the_rest_and_only_entered_modules_see_the_response() {
    let j = journal();
    let modules = vec![
        Recorder::module("a", &j),
        Recorder::module("b", &j),
        Recorder::module("c", &j),
    ];
    let server = TestDaemon::in_process(booking())
        .modules(modules)
        .start()
        .await;
    let response = server
        .client()
        .await
        .exchange(fetch("Respond-At: b\r\n"))
        .await;
    assert_eq!(response.status.code(), 202);
    assert_eq!(response.headers.get("Answered-By"), Some("b"));
    let journal = take(&j);
    let phases: Vec<&str> = journal
        .iter()
        .map(|s| s.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(
        phases,
        [
            "request a",
            "request b",
            "response b",
            "response a",
            "complete a 202 parsed=true",
            "complete b 202 parsed=true",
            "complete c 202 parsed=true",
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn gate_refusals_and_unparseable_requests_reach_only_on_complete() {
    let j = journal();
    let modules = vec![Recorder::module("a", &j), Recorder::module("b", &j)];
    let server = TestDaemon::in_process(booking())
        .modules(modules)
        .start()
        .await;
    let refused = server
        .client()
        .await
        .exchange("AGTP/1.0 FROBNICATE /x\r\n\r\n")
        .await;
    assert_eq!(refused.status.code(), 459);
    assert_eq!(
        take(&j),
        [
            "complete a 459 parsed=true stamped=true",
            "complete b 459 parsed=true stamped=true"
        ]
    );
    let garbage = server
        .client()
        .await
        .exchange("NOT AGTP AT ALL\r\n\r\n")
        .await;
    assert_eq!(garbage.status.code(), 400);
    assert_eq!(garbage.headers.get("Completed-By"), Some("a"));
    assert_eq!(
        take(&j),
        [
            "complete a 400 parsed=false stamped=true",
            "complete b 400 parsed=false stamped=true"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unrouted_request_enters_the_modules_with_no_endpoint_before_its_404_and_built_ins_do_not(
) {
    let j = journal();
    let server = TestDaemon::in_process(booking())
        .modules(vec![Recorder::module("a", &j)])
        .start()
        .await;
    let mut client = server.client().await;
    let nowhere = format!("AGTP/1.0 FETCH /nowhere\r\nAgent-ID: {CONCIERGE}\r\n");
    let refused = client.exchange(format!("{nowhere}\r\n")).await;
    assert_eq!(error_code(&refused), "endpoint-not-found");
    assert_eq!(
        take(&j),
        [
            "request a None",
            "response a 404",
            "complete a 404 parsed=true stamped=true"
        ]
    );
    let answered = client
        .exchange(format!("{nowhere}Respond-At: a\r\n\r\n"))
        .await;
    assert_eq!(
        answered.status.code(),
        202,
        "a module answers instead of the 404"
    );
    take(&j);
    let manifest = client.exchange("AGTP/1.0 DISCOVER\r\n\r\n").await;
    assert_eq!(manifest.status.code(), 200);
    assert_eq!(take(&j), ["complete a 200 parsed=true stamped=true"]);
    server.stop().await;
}

#[tokio::test]
async fn a_module_error_or_panic_answers_500_naming_it_and_the_daemon_keeps_serving() {
    let j = journal();
    let modules = vec![Recorder::module("a", &j), Recorder::module("b", &j)];
    let server = TestDaemon::in_process(booking())
        .modules(modules)
        .start()
        .await;
    let mut client = server.client().await;
    let cases = [
        ("b:request:error", "response a 500"),
        ("b:request:panic", "response a 500"),
        ("b:response:error", "response a 500"),
        ("b:response:panic", "response a 500"),
    ];
    for (fail, last_response) in cases {
        let response = client
            .exchange(fetch(&format!("Fail-At: {fail}\r\n")))
            .await;
        assert_eq!(response.status.code(), 500, "{fail}");
        assert_eq!(error_code(&response), "module-error");
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"]["module"], json!("b"), "{body}");
        let journal = take(&j);
        let responses: Vec<&String> = journal
            .iter()
            .filter(|l| l.starts_with("response"))
            .collect();
        assert_eq!(
            responses.last().map(|s| s.as_str()),
            Some(last_response),
            "{fail}: {journal:?}"
        );
        let completes = journal.iter().filter(|l| l.starts_with("complete")).count();
        assert_eq!(completes, 2, "{fail}: {journal:?}");
    }
    // The same connection still answers.
    let after = client.exchange(fetch("")).await;
    assert_eq!(error_code(&after), "runtime-unavailable");
    take(&j);
    server.stop().await;
}

// ---- the audit module ----------------------------------------------------------------

/// `base` loading `audit` into `dir/audit.log`, signed with a fresh key in `dir`.
fn audited(dir: &Path, base: Config) -> Config {
    agtpd::signing::keygen(dir).unwrap();
    let mut config = base;
    config.signing.key_file = Some(dir.join("signing.key"));
    config.modules = ModulesConfig {
        load: vec!["audit".into()],
        tables: [(
            "audit".to_owned(),
            json!({"path": dir.join("audit.log"), "fsync": "always", "checkpoint_every": 3}),
        )]
        .into(),
    };
    config
}

/// Verifies the log strictly (a clean stop sealed it) and returns its records.
fn records(dir: &Path) -> Vec<Value> {
    let log: PathBuf = dir.join("audit.log");
    let key = mod_audit::load_public_key(&dir.join("signing.pub")).unwrap();
    let report = mod_audit::verify(&mod_audit::chain_files(&log).unwrap(), &key).unwrap();
    assert!(report.sealed);
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "record")
        .collect()
}

#[tokio::test]
async fn audit_records_the_real_wire_status_of_refusals_wire_errors_runtime_failures_and_short_circuits(
) {
    let dir = TempDir::new().unwrap();
    let config = audited(dir.path(), booking());
    let j = journal();
    let mut modules = config
        .modules
        .build(&config.server_id, &config.signing)
        .unwrap();
    modules.push(Recorder::module("short", &j));
    let server = TestDaemon::in_process(config)
        .modules(modules)
        .start()
        .await;
    let mut client = server.client().await;
    assert_eq!(
        client
            .exchange("AGTP/1.0 FROBNICATE /x\r\n\r\n")
            .await
            .status
            .code(),
        459
    );
    assert_eq!(client.exchange(fetch("")).await.status.code(), 503);
    let short = client.exchange(fetch("Respond-At: short\r\n")).await;
    assert_eq!(short.status.code(), 202);
    let garbage = server
        .client()
        .await
        .exchange("NOT AGTP AT ALL\r\n\r\n")
        .await;
    assert_eq!(garbage.status.code(), 400);
    drop(client);
    server.stop().await;
    // The server (and with it the last reference to the module) is gone: the log is sealed.
    let records = records(dir.path());
    let seen: Vec<(u64, Option<&str>, bool)> = records
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().unwrap(),
                r["error_code"].as_str(),
                r["unparsed"] == json!(true),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (459, Some("method-violation"), false),
            (503, Some("runtime-unavailable"), false),
            (202, None, false),
            (400, seen[3].1, true),
        ]
    );
    assert_eq!(records[1]["route"], "/bookings/{booking_id}");
    assert_eq!(records[1]["agent"], CONCIERGE);
    assert_eq!(
        records[2]["response_id"],
        short.headers.get("Response-ID").unwrap()
    );
}

#[tokio::test]
async fn audit_records_the_wire_status_of_handler_timeouts_crashes_and_bad_output_from_a_real_runtime(
) {
    let mut endpoint = agtpd_harness::Endpoint::query("/things");
    endpoint.timeout = "300ms";
    // Not idempotent: a crash is answered at once instead of retried on another connection.
    endpoint.idempotent = false;
    let site = agtpd_harness::Site::new(&[endpoint]);
    let dir = TempDir::new().unwrap();
    let config = audited(dir.path(), site.config());
    let modules = config
        .modules
        .build(&config.server_id, &config.signing)
        .unwrap();
    let listener = agtpd::gateway::GatewayListener::bind_unix(&site.socket, None).unwrap();
    let server = TestDaemon::in_process(config)
        .gateway(listener)
        .modules(modules)
        .start()
        .await;
    let _runtime = site.runtime("ok", &[]);
    agtpd_harness::ready(&server, "default", 1).await;
    let mut statuses = Vec::new();
    for mode in ["ok", "hang", "bad-output", "crash-mid-request"] {
        let input = format!(r#"{{"mode": "{mode}"}}"#);
        let response = server
            .client()
            .await
            .exchange(agtpd_harness::query("/things", &input))
            .await;
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        statuses.push((response.status.code(), code));
        if mode != "crash-mid-request" {
            // A timed-out connection is replaced before the next request.
            agtpd_harness::ready(&server, "default", 1).await;
        }
    }
    server.stop().await;
    let recorded: Vec<(u16, String)> = records(dir.path())
        .iter()
        .map(|r| {
            let code = r["error_code"].as_str().unwrap_or_default().to_owned();
            (u16::try_from(r["status"].as_u64().unwrap()).unwrap(), code)
        })
        .collect();
    assert_eq!(recorded, statuses, "audit saw what the client saw");
    let expected = [
        (200, ""),
        (504, "handler-timeout"),
        (500, "output-validation-failed"),
        (503, "runtime-failed"),
    ];
    let expected: Vec<(u16, String)> = expected.iter().map(|(s, c)| (*s, c.to_string())).collect();
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn a_handlers_attribution_extra_reaches_its_audit_record_and_attribution_record() {
    let site = agtpd_harness::Site::new(&[agtpd_harness::Endpoint::query("/things")]);
    let dir = TempDir::new().unwrap();
    let mut config = audited(dir.path(), site.config());
    config.modules.tables.get_mut("audit").unwrap()["attribution_headers"] = json!(true);
    let modules = config
        .modules
        .build(&config.server_id, &config.signing)
        .unwrap();
    let listener = agtpd::gateway::GatewayListener::bind_unix(&site.socket, None).unwrap();
    let server = TestDaemon::in_process(config)
        .gateway(listener)
        .modules(modules)
        .start()
        .await;
    let _runtime = site.runtime("ok", &[]);
    agtpd_harness::ready(&server, "default", 1).await;
    let extra = json!({"decision_id": "d-17", "model": {"name": "m", "version": 3}});
    let input = json!({"extra": extra}).to_string();
    let mut client = server.client().await;
    let answered = client
        .exchange(agtpd_harness::query("/things", &input))
        .await;
    assert_eq!(answered.status.code(), 200);
    let without = client.exchange(agtpd_harness::query("/things", "{}")).await;
    assert_eq!(without.status.code(), 200);
    drop(client);
    server.stop().await;

    let key = mod_audit::load_public_key(&dir.path().join("signing.pub")).unwrap();
    let jws = answered.headers.get("Attribution-Record").unwrap();
    let payload = mod_audit::verify_attribution_record(jws, &key).unwrap();
    assert_eq!(payload["extra"], extra);
    let plain = mod_audit::verify_attribution_record(
        without.headers.get("Attribution-Record").unwrap(),
        &key,
    )
    .unwrap();
    assert!(plain.get("extra").is_none(), "{plain}");
    let records = records(dir.path());
    assert_eq!(records[0]["extra"], extra);
    assert!(records[1].get("extra").is_none());
}
