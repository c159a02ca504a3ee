//! The `agtp` binary (and the client library under it) against a real daemon over real
//! TCP: every option, the URI forms, the exit codes, timeouts and TLS.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use agtp_core::client::{Client, ClientConfig, Origin};
use agtp_core::{Request, Status};
use agtpd::config::Config;
use agtpd_harness::tls::SelfSigned;
use agtpd_harness::TestDaemon;
use serde_json::Value;
use tokio::net::TcpListener;

const CONCIERGE: &str = "d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c";

fn booking() -> Config {
    let sample = |dir: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples/booking")
            .join(dir)
    };
    Config {
        agents_dir: Some(sample("agents")),
        endpoints_dir: Some(sample("endpoints")),
        ..Config::default()
    }
}

/// Runs the real `agtp` binary; stdout is a pipe, so bodies come out raw.
async fn agtp(args: &[&str]) -> Output {
    tokio::process::Command::new(crate::AGTP)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn base(server: &TestDaemon) -> String {
    format!("agtp://{}", server.addr)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn exit_code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

#[tokio::test]
async fn a_bare_uri_sends_a_target_less_discover_and_prints_the_manifest_raw() {
    let server = TestDaemon::start(booking()).await;
    let output = agtp(&[&base(&server)]).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(stderr(&output).is_empty());
    let manifest = json(&output);
    assert_eq!(manifest["agtp_version"], "1.0");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("\n  "),
        "piped output is the body as sent, not pretty-printed"
    );
}

#[tokio::test]
async fn a_path_in_the_method_position_is_sent_with_discover() {
    let server = TestDaemon::start(booking()).await;
    let output = agtp(&[&base(&server), "/methods"]).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(json(&output)["methods"].is_array());
}

#[tokio::test]
async fn include_prints_the_status_line_and_headers_before_the_body() {
    let server = TestDaemon::start(booking()).await;
    let output = agtp(&["-i", &base(&server), "DISCOVER", "/methods"]).await;
    let text = String::from_utf8(output.stdout).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap();
    assert!(head.starts_with("AGTP/1.0 200 OK\n"), "{head}");
    assert!(head.contains("\nServer-ID: agtpd"), "{head}");
    assert!(
        head.contains(&format!("\nContent-Length: {}", body.len())),
        "{head}"
    );
    assert!(serde_json::from_str::<Value>(body).unwrap()["methods"].is_array());
}

#[tokio::test]
async fn a_header_flag_reaches_the_server_and_a_5xx_exits_with_5() {
    let server = TestDaemon::start(booking()).await;
    let output = agtp(&[&base(&server), "-H", "Delegation-Chain: a,b"]).await;
    assert_eq!(exit_code(&output), 5);
    assert_eq!(json(&output)["error"]["code"], "delegation-not-supported");
}

#[tokio::test]
async fn inline_data_is_sent_as_the_json_body() {
    let server = TestDaemon::start(booking()).await;
    let body = r#"{"guest_name": "Ada Lovelace", "check_in": "2026-07-01"}"#;
    let uri = format!("agtp://{CONCIERGE}@{}", server.addr);
    let output = agtp(&[&uri, "BOOK", "/rooms/101", "-d", body]).await;
    // The server read the body: only the one field it lacks is reported missing.
    assert_eq!(exit_code(&output), 4);
    let error = &json(&output)["error"];
    assert_eq!(error["code"], "input-validation-failed");
    assert_eq!(error["pointer"], "/check_out");
}

#[tokio::test]
async fn data_from_a_file_is_sent_as_the_body_and_a_missing_file_exits_66() {
    let server = TestDaemon::start(booking()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("booking.json");
    std::fs::write(&file, r#"{"guest_name": "Ada", "check_out": "2026-07-03"}"#).unwrap();
    let uri = format!("agtp://{CONCIERGE}@{}", server.addr);
    let data = format!("@{}", file.display());
    let output = agtp(&[&uri, "BOOK", "/rooms/101", "-d", &data]).await;
    assert_eq!(exit_code(&output), 4);
    assert_eq!(json(&output)["error"]["pointer"], "/check_in");

    let missing = format!("@{}", dir.path().join("nope.json").display());
    let output = agtp(&[&uri, "BOOK", "/rooms/101", "-d", &missing]).await;
    assert_eq!(exit_code(&output), 66);
    assert!(
        stderr(&output).contains("nope.json: no such file"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn the_agent_id_flag_is_sent_as_the_agent_id_header() {
    let server = TestDaemon::start(booking()).await;
    let output = agtp(&[&base(&server), "DESCRIBE", "--agent-id", CONCIERGE]).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(json(&output)["name"], "room-concierge");

    let unknown = "0".repeat(64);
    let output = agtp(&[&base(&server), "DESCRIBE", "--agent-id", &unknown]).await;
    assert_eq!(exit_code(&output), 4);
    assert_eq!(json(&output)["error"]["code"], "agent-not-found");
}

#[tokio::test]
async fn an_agent_id_uri_and_an_agents_path_uri_reach_the_same_agent() {
    let server = TestDaemon::start(booking()).await;
    let by_id = format!("agtp://{CONCIERGE}@{}", server.addr);
    let by_name = format!("agtp://{}/agents/room-concierge", server.addr);
    for uri in [by_id, by_name] {
        let output = agtp(&[&uri, "DESCRIBE"]).await;
        assert_eq!(exit_code(&output), 0, "{uri}: {}", stderr(&output));
        let document = json(&output);
        assert_eq!(
            (document["name"].as_str(), document["agent_id"].as_str()),
            (Some("room-concierge"), Some(CONCIERGE)),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn exit_codes_follow_the_status_class() {
    let server = TestDaemon::start(booking()).await;
    let ok = agtp(&[&base(&server)]).await;
    let client_error = agtp(&[&base(&server), "FETCH", "/bookings/1"]).await;
    let server_error = agtp(&[&base(&server), "-H", "Delegation-Chain: x"]).await;
    assert_eq!(
        [&ok, &client_error, &server_error].map(exit_code),
        [0, 4, 5]
    );
    assert_eq!(json(&client_error)["error"]["code"], "missing-agent-id");
}

#[tokio::test]
async fn a_refused_connection_exits_7_with_a_plain_message() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let output = agtp(&[&format!("agtp://{addr}")]).await;
    assert_eq!(exit_code(&output), 7);
    assert_eq!(
        stderr(&output),
        format!("agtp: cannot connect to {addr}: connection refused\n")
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_exit_9() {
    // The kernel completes the handshake; nobody ever reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    let output = agtp(&[&format!("agtp://{addr}"), "--timeout", "300ms"]).await;
    assert_eq!(exit_code(&output), 9);
    assert_eq!(stderr(&output), "agtp: no complete response within 300ms\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

#[tokio::test]
async fn usage_errors_exit_64_and_name_the_problem() {
    let cases: [&[&str]; 4] = [
        &["http://localhost"],
        &["agtp://[::1"],
        &["agtp://localhost/agents/x", "DESCRIBE", "/other"],
        &["agtp://localhost", "-H", "no colon"],
    ];
    for args in cases {
        let output = agtp(args).await;
        assert_eq!(exit_code(&output), 64, "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).is_empty());
    }
}

struct TlsServer {
    server: TestDaemon,
    cert_file: PathBuf,
    _pki: SelfSigned,
}

async fn tls_server() -> TlsServer {
    let pki = SelfSigned::localhost();
    let config = Config {
        tls: pki.tls_config(),
        ..Config::default()
    };
    TlsServer {
        server: TestDaemon::start(config).await,
        cert_file: pki.cert.clone(),
        _pki: pki,
    }
}

#[tokio::test]
async fn tls_with_the_servers_certificate_as_cacert_succeeds() {
    let tls = tls_server().await;
    let uri = format!("agtp://localhost:{}", tls.server.addr.port());
    let cacert = tls.cert_file.to_str().unwrap();
    let output = agtp(&[&uri, "/methods", "--cacert", cacert]).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(json(&output)["methods"].is_array());
}

#[tokio::test]
async fn tls_without_a_trusted_root_fails_with_exit_8_unless_insecure() {
    let tls = tls_server().await;
    let uri = format!("agtp://localhost:{}", tls.server.addr.port());
    let output = agtp(&[&uri, "--tls"]).await;
    assert_eq!(exit_code(&output), 8);
    assert!(
        stderr(&output).contains("certificate"),
        "{}",
        stderr(&output)
    );

    let by_ip = format!("agtp://{}", tls.server.addr);
    let output = agtp(&[&by_ip, "--insecure"]).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(json(&output)["agtp_version"], "1.0");
}

#[tokio::test]
async fn plaintext_to_a_tls_server_fails_with_a_hint_to_use_tls() {
    let tls = tls_server().await;
    let output = agtp(&[&format!("agtp://{}", tls.server.addr)]).await;
    assert!(
        [10, 11].contains(&exit_code(&output)),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("add --tls"), "{}", stderr(&output));
}

#[tokio::test]
async fn the_library_client_keeps_one_connection_alive_across_requests() {
    let server = TestDaemon::start(booking()).await;
    let client = Client::new(ClientConfig::default());
    let origin = Origin::new("127.0.0.1", server.addr.port(), false);
    for path in [None, Some("/methods"), None] {
        let response = client
            .send(&origin, &Request::new("DISCOVER", path))
            .await
            .unwrap();
        assert_eq!(response.status, Status::OK);
    }
    assert_eq!(client.idle_count(&origin), 1);
}
