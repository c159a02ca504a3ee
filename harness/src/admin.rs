//! The admin listener seen from a test: `/metrics` parsed by the Prometheus project's
//! OpenMetrics parser (Python `prometheus_client`, which `.ci/run` installs), `/status`
//! and `/readyz`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use agtpd::admin::client::get;
use serde_json::Value;

/// `/metrics`, parsed by `prometheus_client.openmetrics.parser`: sample name to
/// `[{labels, value}]`. Fails the test when the parser refuses the text.
pub async fn scrape(admin: SocketAddr) -> Value {
    let (status, body) = get(admin, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        out = {}\n\
        for family in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in family.samples:\n\
        \x20       out.setdefault(s.name, []).append({'labels': s.labels, 'value': s.value})\n\
        print(json.dumps(out))\n";
    let mut parser = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    parser.stdin.take().unwrap().write_all(&body).unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of sample `name` whose labels include `labels`; 0 when there is none.
pub fn sample(metrics: &Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = metrics[name].as_array().into_iter().flatten().find(|s| {
        labels
            .iter()
            .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
    });
    found.map_or(0.0, |s| s["value"].as_f64().unwrap())
}

/// Scrapes until `pred` holds (at most 10 s); returns that scrape.
pub async fn scrape_until(admin: SocketAddr, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = scrape(admin).await;
        if pred(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/metrics never got there: {last:#}");
}

pub async fn status(admin: SocketAddr) -> Value {
    let (code, body) = get(admin, "/status").await.unwrap();
    assert_eq!(code, 200);
    serde_json::from_slice(&body).unwrap()
}

pub async fn readyz(admin: SocketAddr) -> (u16, String) {
    let (code, body) = get(admin, "/readyz").await.unwrap();
    (code, String::from_utf8(body.to_vec()).unwrap())
}

/// Polls `/readyz` (at most 10 s) until it answers `code`; returns the body.
pub async fn readyz_until(admin: SocketAddr, code: u16) -> String {
    let mut last = None;
    for _ in 0..200 {
        let answer = readyz(admin).await;
        if answer.0 == code {
            return answer.1;
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never answered {code}; last: {last:?}");
}
