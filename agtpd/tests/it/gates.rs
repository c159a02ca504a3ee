//! The AGTP gates through the real server, with the sample agents and endpoints: every
//! status they produce, and their order.

use std::path::{Path, PathBuf};

use agtp_core::{Response, Status};
use agtpd::config::Config;
use agtpd_harness::{error_code, TestDaemon};
use serde_json::Value;

const CONCIERGE: &str = "d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c";

fn sample(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/booking")
        .join(dir)
}

fn booking() -> Config {
    Config {
        agents_dir: Some(sample("agents")),
        endpoints_dir: Some(sample("endpoints")),
        ..Config::default()
    }
}

async fn ask(server: &TestDaemon, raw: &str) -> Response {
    server.client().await.exchange(raw).await
}

fn body(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

fn assert_error(response: &Response, status: u16, code: &str) {
    assert_eq!(
        (response.status.code(), error_code(response).as_str()),
        (status, code),
        "{}",
        String::from_utf8_lossy(&response.body)
    );
}

fn with_agent(line: &str, extra: &str) -> String {
    format!("AGTP/1.0 {line}\r\nAgent-ID: {CONCIERGE}\r\n{extra}\r\n")
}

#[tokio::test]
async fn delegation_chain_is_refused_before_any_other_gate() {
    let server = TestDaemon::start(booking()).await;
    let response = ask(
        &server,
        "AGTP/1.0 FROBNICATE /get/x\r\nDelegation-Chain: a,b\r\n\r\n",
    )
    .await;
    assert_error(&response, 501, "delegation-not-supported");
}

#[tokio::test]
async fn an_unknown_verb_gets_459_with_suggestions() {
    let server = TestDaemon::start(booking()).await;
    let response = ask(&server, &with_agent("FETHC /bookings/1", "")).await;
    assert_error(&response, 459, "method-violation");
    assert_eq!(body(&response)["error"]["suggestions"][0], "FETCH");
    let legacy = ask(&server, &with_agent("GET /bookings/1", "")).await;
    assert_error(&legacy, 459, "method-violation");
    assert_eq!(
        body(&legacy)["error"]["suggestions"][0],
        "FETCH",
        "the replacement leads"
    );
}

#[tokio::test]
async fn legacy_verbs_are_served_as_their_replacement_when_the_policy_admits_them() {
    let mut config = booking();
    config.policies.methods.legacy = true;
    let server = TestDaemon::start(config).await;
    let response = ask(&server, &with_agent("GET /bookings/b-1", "")).await;
    assert_error(&response, 503, "runtime-unavailable");
}

#[tokio::test]
async fn a_verb_in_the_path_gets_460_naming_the_segment() {
    let server = TestDaemon::start(booking()).await;
    let response = ask(&server, &with_agent("QUERY /orders/query", "")).await;
    assert_error(&response, 460, "endpoint-violation");
    assert_eq!(body(&response)["error"]["segment"], "query");
    assert_error(
        &ask(&server, &with_agent("QUERY /rooms/", "")).await,
        460,
        "endpoint-violation",
    );
}

#[tokio::test]
async fn the_verb_policy_refuses_with_405_but_never_embedded_verbs() {
    let mut config = booking();
    config.policies.methods.allow = vec!["FETCH".into()];
    config.policies.methods.disallow = vec!["QUERY".into()];
    let server = TestDaemon::start(config).await;
    let response = ask(&server, &with_agent("BOOK /rooms/1", "")).await;
    assert_error(&response, 405, "method-not-allowed-by-policy");
    // QUERY is embedded: the policy cannot take it away.
    let query = ask(
        &server,
        &with_agent(
            "QUERY /rooms/availability?check_in=2026-12-01&check_out=2026-12-03",
            "",
        ),
    )
    .await;
    assert_error(&query, 503, "runtime-unavailable");
    assert_eq!(
        ask(&server, "AGTP/1.0 DISCOVER\r\n\r\n").await.status,
        Status::OK
    );
}

#[tokio::test]
async fn identity_is_required_and_must_name_a_hosted_agent() {
    let server = TestDaemon::start(booking()).await;
    let missing = ask(&server, "AGTP/1.0 FETCH /bookings/b-1\r\n\r\n").await;
    assert_error(&missing, 400, "missing-agent-id");
    let unknown = ask(
        &server,
        "AGTP/1.0 FETCH /bookings/b-1\r\nAgent-ID: nobody\r\n\r\n",
    )
    .await;
    assert_error(&unknown, 404, "agent-not-found");
    let by_name = ask(&server, "AGTP/1.0 DESCRIBE /agents/nobody\r\n\r\n").await;
    assert_error(&by_name, 404, "agent-not-found");
    let legacy = format!("AGTP/1.0 FETCH /bookings/b-1\r\nTarget-Agent: {CONCIERGE}\r\n\r\n");
    assert_error(&ask(&server, &legacy).await, 503, "runtime-unavailable");
    let mismatch = "AGTP/1.0 DESCRIBE /agents/front-desk\r\nAgent-ID: d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c\r\n\r\n";
    assert_error(
        &ask(&server, mismatch).await,
        400,
        "agent-identity-mismatch",
    );
}

/// A copy of the sample concierge with another id, name and status.
fn agent_with_status(dir: &Path, name: &str, id_digit: char, status: &str) {
    let mut document: Value = serde_json::from_str(
        &std::fs::read_to_string(sample("agents/booking.agent.json")).unwrap(),
    )
    .unwrap();
    document["agent_id"] = Value::from(id_digit.to_string().repeat(64));
    document["name"] = Value::from(name);
    document["status"] = Value::from(status);
    std::fs::write(dir.join(format!("{name}.agent.json")), document.to_string()).unwrap();
}

#[tokio::test]
async fn agent_lifecycle_gives_503_for_suspended_and_410_for_retired_or_deprecated() {
    let dir = tempfile::tempdir().unwrap();
    agent_with_status(dir.path(), "paused", 'a', "suspended");
    agent_with_status(dir.path(), "gone", 'b', "retired");
    agent_with_status(dir.path(), "old", 'c', "deprecated");
    let server = TestDaemon::start(Config {
        agents_dir: Some(dir.path().into()),
        ..booking()
    })
    .await;
    for (digit, status, code) in [
        ('a', 503, "agent-suspended"),
        ('b', 410, "agent-retired"),
        ('c', 410, "agent-deprecated"),
    ] {
        let raw = format!(
            "AGTP/1.0 FETCH /bookings/b-1\r\nAgent-ID: {}\r\n\r\n",
            digit.to_string().repeat(64)
        );
        assert_error(&ask(&server, &raw).await, status, code);
        // The discovery primitives still answer, and show why the agent is out of service.
        let id = digit.to_string().repeat(64);
        let describe = ask(
            &server,
            &format!("AGTP/1.0 DESCRIBE\r\nAgent-ID: {id}\r\n\r\n"),
        )
        .await;
        assert_eq!(describe.status, Status::OK, "DESCRIBE of a {code} agent");
        let index = ask(
            &server,
            &format!("AGTP/1.0 DISCOVER\r\nAgent-ID: {id}\r\n\r\n"),
        )
        .await;
        assert_eq!(index.status, Status::OK, "DISCOVER of a {code} agent");
        let status = &code["agent-".len()..];
        assert_eq!(body(&describe)["status"], status);
        assert_eq!(body(&index)["status"], status);
    }
}

#[tokio::test]
async fn a_method_outside_the_agents_declared_methods_is_soft_denied_with_403() {
    let server = TestDaemon::start(booking()).await;
    let front_desk = "4ea1b2078cdfcb38729e6b4e0c1881ac8e8167901f02f61243f15cefcdcf5987";
    let raw = format!("AGTP/1.0 BOOK /rooms/1\r\nAgent-ID: {front_desk}\r\n\r\n");
    assert_error(
        &ask(&server, &raw).await,
        403,
        "method-not-permitted-for-agent",
    );
}

#[tokio::test]
async fn authority_scope_claims_must_be_the_agents_and_cover_the_endpoint() {
    let server = TestDaemon::start(booking()).await;
    let outside = ask(
        &server,
        &with_agent("FETCH /bookings/b-1", "Authority-Scope: admin:all\r\n"),
    )
    .await;
    assert_error(&outside, 262, "scope-required");
    let read_only = with_agent(
        "BOOK /rooms/1",
        "Authority-Scope: bookings:read\r\nContent-Length: 2\r\n\r\n{}",
    );
    let not_held = ask(&server, read_only.trim_end_matches("\r\n")).await;
    assert_error(&not_held, 262, "scope-required");
    assert_eq!(body(&not_held)["error"]["missing"][0], "bookings:write");
}

#[tokio::test]
async fn anonymous_discovery_follows_the_policy() {
    let server = TestDaemon::start(booking()).await;
    assert_eq!(
        ask(&server, "AGTP/1.0 DISCOVER\r\n\r\n").await.status,
        Status::OK
    );
    let mut config = booking();
    config.policies.anonymous_discovery = false;
    let closed = TestDaemon::start(config).await;
    assert_error(
        &ask(&closed, "AGTP/1.0 DISCOVER\r\n\r\n").await,
        262,
        "anonymous-discovery-disabled",
    );
    assert_eq!(
        ask(&closed, &with_agent("DISCOVER", "")).await.status,
        Status::OK
    );
}

#[tokio::test]
async fn routing_distinguishes_405_method_not_allowed_405_not_implemented_and_404() {
    let server = TestDaemon::start(booking()).await;
    let other_method = ask(&server, &with_agent("CANCEL /rooms/42", "")).await;
    assert_error(&other_method, 405, "method-not-allowed");
    assert_eq!(
        body(&other_method)["error"]["allowed"],
        serde_json::json!(["BOOK"])
    );
    let embedded = ask(&server, &with_agent("NOTIFY /nowhere", "")).await;
    assert_error(&embedded, 405, "method-not-implemented");
    assert!(body(&embedded)["error"]["served"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "BOOK /rooms/{room_id}"));
    assert_error(
        &ask(&server, &with_agent("QUERY /nowhere", "")).await,
        404,
        "endpoint-not-found",
    );
}

#[tokio::test]
async fn input_is_merged_coerced_and_validated_with_a_json_pointer() {
    let server = TestDaemon::start(booking()).await;
    let valid = with_agent(
        "QUERY /rooms/availability?check_in=2026-12-01&check_out=2026-12-03&guests=2",
        "",
    );
    assert_error(&ask(&server, &valid).await, 503, "runtime-unavailable");
    let not_a_number = with_agent(
        "QUERY /rooms/availability?check_in=2026-12-01&check_out=2026-12-03&guests=two",
        "",
    );
    let response = ask(&server, &not_a_number).await;
    assert_error(&response, 422, "input-validation-failed");
    assert_eq!(body(&response)["error"]["pointer"], "/guests");
    let missing = with_agent(
        "BOOK /rooms/42",
        "Content-Length: 27\r\n\r\n{\"check_in\": \"2026-12-01\"}  ",
    );
    let response = ask(&server, missing.trim_end_matches("\r\n")).await;
    assert_error(&response, 422, "input-validation-failed");
    let bad_json = with_agent("BOOK /rooms/42", "Content-Length: 5\r\n\r\n{oops");
    assert_error(
        &ask(&server, bad_json.trim_end_matches("\r\n")).await,
        400,
        "invalid-json",
    );
    for not_an_object in ["[1,2]", "42", "\"text\""] {
        let raw = with_agent(
            "BOOK /rooms/42",
            &format!(
                "Content-Length: {}\r\n\r\n{not_an_object}",
                not_an_object.len()
            ),
        );
        assert_error(
            &ask(&server, raw.trim_end_matches("\r\n")).await,
            400,
            "invalid-body",
        );
    }
}

#[tokio::test]
async fn a_valid_call_to_a_registered_function_without_a_runtime_gets_503() {
    let server = TestDaemon::start(booking()).await;
    let response = ask(&server, &with_agent("FETCH /bookings/b-17", "")).await;
    assert_error(&response, 503, "runtime-unavailable");
}

#[tokio::test]
async fn discover_returns_the_manifest_in_force_and_it_matches_the_reference_schema() {
    let server = TestDaemon::start(booking()).await;
    let response = ask(&server, "AGTP/1.0 DISCOVER\r\n\r\n").await;
    assert_eq!(response.status, Status::OK);
    assert_eq!(
        response.headers.get("Content-Type"),
        Some("application/vnd.agtp.manifest+json")
    );
    assert_eq!(
        response.headers.get("X-AGTP-Document-Type"),
        Some("agtp.server.manifest")
    );
    let manifest = body(&response);
    assert_eq!(manifest["document_version"], "v2");
    assert_eq!(manifest["endpoints"].as_array().unwrap().len(), 5);
    assert_eq!(manifest["embedded_methods"].as_array().unwrap().len(), 12);
    // What the reference client's --match-check reads: `name` in both method lists.
    let names = |list: &str| -> Vec<String> {
        manifest[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["name"]
                    .as_str()
                    .expect("every entry has a name")
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(names("custom_methods"), ["BOOK", "CANCEL", "FETCH"]);
    let embedded = names("embedded_methods");
    assert!(embedded.contains(&"QUERY".to_owned()) && embedded.windows(2).all(|w| w[0] < w[1]));
    let query = manifest["embedded_methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "QUERY")
        .unwrap();
    assert_eq!(query["served"], true);
    assert_eq!(
        query["required_params"],
        serde_json::json!(["check_in", "check_out"])
    );
    // Each agent's count: the served verbs (QUERY, BOOK, FETCH, CANCEL, DISCOVER,
    // DESCRIBE) it may call; the front desk declares QUERY and SUMMARIZE only.
    let counts: Vec<(String, u64)> = manifest["hosted_agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["methods_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("room-concierge".to_owned(), 6),
            ("front-desk".to_owned(), 3)
        ]
    );
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/schemas/server-manifest.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(oracle).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[tokio::test]
async fn discover_methods_lists_every_endpoint_and_an_agent_gets_its_index() {
    let server = TestDaemon::start(booking()).await;
    let methods = body(&ask(&server, "AGTP/1.0 DISCOVER /methods\r\n\r\n").await);
    let listed: Vec<String> = methods["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["method"].as_str().unwrap(),
                m["path"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        listed.contains(&"CANCEL /bookings/{booking_id}".to_owned()),
        "{listed:?}"
    );
    let index = ask(&server, &with_agent("DISCOVER", "")).await;
    assert_eq!(
        index.headers.get("Content-Type"),
        Some("application/vnd.agtp.discover+json")
    );
    let index = body(&index);
    assert_eq!(index["agent_id"], CONCIERGE);
    assert_eq!(index["name"], "room-concierge");
}

#[tokio::test]
async fn describe_negotiates_the_identity_media_types_and_their_aliases() {
    let server = TestDaemon::start(booking()).await;
    let json = ask(&server, &with_agent("DESCRIBE", "")).await;
    assert_eq!(body(&json)["agent_id"], CONCIERGE);
    assert_eq!(
        json.headers.get("Content-Type"),
        Some("application/vnd.agtp.identity+json")
    );
    assert_eq!(json.headers.get("Agent-ID"), Some(CONCIERGE));
    assert_eq!(
        json.headers.get("X-AGTP-Document-Type"),
        Some("agtp.agent.document")
    );
    for (accept, answered) in [
        // What the reference client's --yaml sends.
        (
            "application/vnd.agtp.identity+yaml",
            "application/vnd.agtp.identity+yaml",
        ),
        ("application/yaml", "application/yaml"),
        (
            "application/vnd.agtp.identity+json",
            "application/vnd.agtp.identity+json",
        ),
        ("application/json", "application/json"),
    ] {
        let answer = ask(
            &server,
            &with_agent("DESCRIBE", &format!("Accept: {accept}\r\n")),
        )
        .await;
        assert_eq!(
            answer.headers.get("Content-Type"),
            Some(answered),
            "{accept}"
        );
    }
    let yaml = ask(
        &server,
        &with_agent("DESCRIBE", "Accept: application/vnd.agtp.identity+yaml\r\n"),
    )
    .await;
    assert!(String::from_utf8_lossy(&yaml.body).contains("name: room-concierge"));
    let html = ask(
        &server,
        "AGTP/1.0 DESCRIBE /agents/room-concierge\r\nAccept: text/html\r\n\r\n",
    )
    .await;
    assert!(html
        .headers
        .get("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8_lossy(&html.body).contains("room-concierge"));
}

#[tokio::test]
async fn each_gate_decides_before_the_ones_after_it() {
    let server = TestDaemon::start(booking()).await;
    // unknown verb and a verb in the path, anonymous: the catalog speaks first
    assert_error(
        &ask(&server, "AGTP/1.0 FROB /x/fetch\r\n\r\n").await,
        459,
        "method-violation",
    );
    // a verb in the path, anonymous: the grammar before identity
    assert_error(
        &ask(&server, "AGTP/1.0 QUERY /x/fetch\r\n\r\n").await,
        460,
        "endpoint-violation",
    );
    // unknown agent on an unknown path: identity before routing
    assert_error(
        &ask(&server, "AGTP/1.0 QUERY /nowhere\r\nAgent-ID: x\r\n\r\n").await,
        404,
        "agent-not-found",
    );
    // a bad scope claim on bad input: the claim before the input
    let raw = with_agent(
        "BOOK /rooms/1",
        "Authority-Scope: root\r\nContent-Length: 5\r\n\r\n{oops",
    );
    assert_error(
        &ask(&server, raw.trim_end_matches("\r\n")).await,
        262,
        "scope-required",
    );
}

#[tokio::test]
async fn a_reload_swaps_agents_and_endpoints_atomically_and_refuses_a_broken_set() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(sample("endpoints")).unwrap() {
        let path = entry.unwrap().path();
        if !path.ends_with("book_room.toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let config = Config {
        endpoints_dir: Some(dir.path().into()),
        ..booking()
    };
    let server = TestDaemon::start(config.clone()).await;
    assert_error(
        &ask(&server, &with_agent("BOOK /rooms/1", "")).await,
        404,
        "endpoint-not-found",
    );
    std::fs::copy(
        sample("endpoints/book_room.toml"),
        dir.path().join("book_room.toml"),
    )
    .unwrap();
    server.daemon().reload(&config).unwrap();
    assert_error(
        &ask(&server, &with_agent("BOOK /rooms/1", "")).await,
        422,
        "input-validation-failed",
    );
    std::fs::write(
        dir.path().join("broken.toml"),
        "[endpoint]\nmethod = \"BOOK\"\n",
    )
    .unwrap();
    let refused = server.daemon().reload(&config).unwrap_err().to_string();
    assert!(refused.contains("broken.toml"), "{refused}");
    assert_error(
        &ask(&server, &with_agent("BOOK /rooms/1", "")).await,
        422,
        "input-validation-failed",
    );
}
