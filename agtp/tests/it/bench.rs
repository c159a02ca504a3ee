//! `agtp bench --json` against a real daemon: the counts add up, a healthy server yields
//! no errors, and a broken target has its failures counted by kind and status.

use std::process::Output;

use agtpd::config::Config;
use agtpd_harness::TestDaemon;
use serde_json::Value;
use tokio::net::TcpListener;

async fn bench(args: &[&str]) -> Output {
    tokio::process::Command::new(crate::AGTP)
        .arg("bench")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

async fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["--json", "--threads", "2"];
    all.extend_from_slice(args);
    let output = bench(&all).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn sum_over_status(report: &Value) -> u64 {
    report["status"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

fn failed_attempts(report: &Value) -> u64 {
    ["connect", "tls", "timeout", "protocol", "closed"]
        .iter()
        .map(|k| report["errors"][k].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_healthy_server_answers_every_request_with_200_and_no_errors() {
    let server = TestDaemon::start(Config::default()).await;
    let uri = format!("agtp://{}", server.addr);
    let report = bench_json(&["-c", "4", "-n", "400", &uri, "DISCOVER", "/methods"]).await;
    assert_eq!(report["requests"], 400);
    assert_eq!(report["status"], serde_json::json!({"200": 400}));
    assert_eq!(sum_over_status(&report), 400);
    for (kind, count) in report["errors"].as_object().unwrap() {
        assert_eq!(count, 0, "errors.{kind}");
    }
    let latency = &report["latency_us"];
    let at = |k: &str| latency[k].as_u64().unwrap();
    assert!(at("p50") > 0);
    assert!(at("p50") <= at("p90") && at("p90") <= at("p99"));
    assert!(at("p99") <= at("p999") && at("p999") <= at("max"));
    assert!(report["rps"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn a_timed_run_after_a_warm_up_counts_only_the_measured_part() {
    let server = TestDaemon::start(Config::default()).await;
    let uri = format!("agtp://{}", server.addr);
    let report = bench_json(&[
        "-c", "2", "-d", "700ms", "--warmup", "200ms", &uri, "/methods",
    ])
    .await;
    let requests = report["requests"].as_u64().unwrap();
    assert!(requests > 0);
    assert_eq!(sum_over_status(&report), requests);
    let duration = report["duration_s"].as_f64().unwrap();
    assert!((0.6..=0.8).contains(&duration), "{duration}");
    let rps = report["rps"].as_f64().unwrap();
    assert!((rps - requests as f64 / duration).abs() < 1.0, "{report}");
}

#[tokio::test]
async fn a_new_connection_per_request_still_gets_every_answer() {
    let server = TestDaemon::start(Config::default()).await;
    let uri = format!("agtp://{}", server.addr);
    let report = bench_json(&[
        "-c",
        "2",
        "-n",
        "60",
        "--new-connection-per-request",
        &uri,
        "/methods",
    ])
    .await;
    assert_eq!(report["status"], serde_json::json!({"200": 60}));
    assert_eq!(failed_attempts(&report), 0);
}

#[tokio::test]
async fn client_errors_are_counted_by_status_and_by_class() {
    let server = TestDaemon::start(Config::default()).await;
    let uri = format!("agtp://{}", server.addr);
    // Not discovery, and no Agent-ID: 400 missing-agent-id.
    let report = bench_json(&["-c", "2", "-n", "50", &uri, "FETCH", "/bookings/1"]).await;
    assert_eq!(report["requests"], 50);
    assert_eq!(report["status"], serde_json::json!({"400": 50}));
    assert_eq!(report["errors"]["4xx"], 50);
    assert_eq!(report["errors"]["5xx"], 0);
    assert_eq!(failed_attempts(&report), 0);
}

#[tokio::test]
async fn a_port_with_nothing_listening_counts_every_attempt_as_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = bench_json(&["-c", "2", "-n", "30", &format!("agtp://{addr}")]).await;
    assert_eq!(report["requests"], 0);
    assert_eq!(report["status"], serde_json::json!({}));
    assert_eq!(report["errors"]["connect"], 30);
    assert_eq!(failed_attempts(&report), 30);
    assert_eq!(report["latency_us"]["max"], 0);
}

#[tokio::test]
async fn the_text_report_names_the_target_and_the_status_counts() {
    let server = TestDaemon::start(Config::default()).await;
    let uri = format!("agtp://{}", server.addr);
    let output = bench(&["-c", "1", "-n", "5", &uri, "/methods"]).await;
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "agtp bench: DISCOVER /methods on {uri} (plaintext), 1 connections, keep-alive\n"
        )),
        "{text}"
    );
    assert!(text.contains("\n  status    200: 5\n"), "{text}");
    assert!(text.contains("\n  errors    none\n"), "{text}");
}

#[tokio::test]
async fn bench_usage_errors_exit_64() {
    let output = bench(&["-d", "1s", "-n", "5", "agtp://localhost"]).await;
    assert_eq!(output.status.code(), Some(64));
    let output = bench(&["-c", "0", "agtp://localhost"]).await;
    assert_eq!(output.status.code(), Some(64));
}

#[tokio::test]
async fn bench_speaks_tls_when_given_the_servers_certificate() {
    let pki = agtpd_harness::tls::SelfSigned::localhost();
    let server = TestDaemon::start(Config {
        tls: pki.tls_config(),
        ..Config::default()
    })
    .await;
    let uri = format!("agtp://localhost:{}", server.addr.port());
    let cacert = pki.cert.to_str().unwrap();
    let report = bench_json(&["-c", "2", "-n", "40", "--cacert", cacert, &uri, "/methods"]).await;
    assert_eq!(report["status"], serde_json::json!({"200": 40}));
    assert_eq!(failed_attempts(&report), 0);
}
