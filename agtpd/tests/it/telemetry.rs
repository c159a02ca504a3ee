//! `[tracing]` through the real binary and a real runtime, exporting to an OTLP receiver
//! in the test: the span tree of one gateway call, the agent's trace context continued to
//! the runtime, the daemon's spans' parents, and tracing off or its collector down.

use agtpd_harness::admin::readyz_until;
use agtpd_harness::otlp::{Receiver, Span};
use agtpd_harness::{query, Endpoint, Runtime, Site, TestDaemon};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::AGTPD;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// The test site's daemon with `extra` config and the cache module, and a runtime.
async fn start(site: &Site, extra: &str) -> (TestDaemon, Runtime) {
    let config = format!("{extra}\n[modules]\nload = [\"cache\"]\n");
    let daemon = TestDaemon::binary(AGTPD)
        .config(site.write_config(&config))
        .args(&["--admin-listen", "127.0.0.1:0"])
        .start();
    let runtime = site.runtime("ok", &[]);
    readyz_until(daemon.admin(), 200).await;
    (daemon, runtime)
}

fn traced(path: &str) -> String {
    query(path, "{}").replacen(
        "\r\n",
        &format!("\r\ntraceparent: 00-{TRACE}-{PARENT}-01\r\ntracestate: vendor=7\r\n"),
        1,
    )
}

/// The envelope headers of each request the runtime took.
fn runtime_headers(runtime: &Runtime) -> Vec<Value> {
    runtime
        .events()
        .iter()
        .filter(|e| e["event"] == "request")
        .map(|e| e["envelope"]["headers"].clone())
        .collect()
}

/// SIGTERM, and the exit code once the last spans are exported.
async fn stop(daemon: TestDaemon) -> Option<i32> {
    daemon.signal(Signal::SIGTERM);
    tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .unwrap()
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    match named(spans, name).as_slice() {
        [span] => span,
        other => panic!("{} spans named {name:?}: {spans:#?}", other.len()),
    }
}

#[tokio::test]
async fn one_gateway_call_is_a_span_tree_under_the_agents_trace_and_the_runtime_continues_it() {
    let receiver = Receiver::start().await;
    let site = Site::new(&[Endpoint::query("/things")]);
    let extra = format!("[tracing]\notlp_endpoint = \"{}\"\n", receiver.endpoint());
    let (daemon, runtime) = start(&site, &extra).await;

    let mut client = daemon.client().await;
    let response = client.exchange(traced("/things")).await;
    assert_eq!(response.status.code(), 200);
    let response_id = response.headers.get("Response-ID").unwrap().to_owned();
    drop(client);
    assert_eq!(stop(daemon).await, Some(0));

    let spans = receiver.spans();
    assert!(spans.iter().all(|s| s.service == "agtpd"), "{spans:#?}");
    let request = one(&spans, "AGTP QUERY");
    assert_eq!(
        (request.trace_id.as_str(), request.parent_span_id.as_str()),
        (TRACE, PARENT)
    );
    assert_eq!(request.kind, "Server");
    assert_eq!(request.attributes["agtp.path"], "/things");
    assert_eq!(request.attributes["agtp.status"], "200");
    assert_eq!(request.attributes["agtp.response_id"], response_id);
    let connection = one(&spans, "agtp.connection");
    assert_ne!(
        connection.trace_id, TRACE,
        "a connection is a trace of its own"
    );
    assert_eq!(
        request.links,
        [(connection.trace_id.clone(), connection.span_id.clone())]
    );

    let children_of = |parent: &Span| -> Vec<String> {
        let mut names: Vec<String> = spans
            .iter()
            .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
            .map(|s| s.name.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        children_of(request),
        [
            "cache on_complete",
            "cache on_request",
            "cache on_response",
            "gates",
            "gateway"
        ]
    );
    let gateway = one(&spans, "gateway");
    assert_eq!(gateway.attributes["agtp.pool"], "default");
    assert_eq!(children_of(gateway), ["round_trip"]);
    let round_trip = one(&spans, "round_trip");
    assert_eq!(round_trip.kind, "Client");
    assert_eq!(
        round_trip.attributes["process.pid"],
        runtime.pid().to_string()
    );

    // The runtime's parent is the round trip; the agent's tracestate goes along.
    let headers = runtime_headers(&runtime);
    assert_eq!(
        headers[0]["traceparent"],
        format!("00-{TRACE}-{}-01", round_trip.span_id)
    );
    assert_eq!(headers[0]["tracestate"], "vendor=7");
}

#[tokio::test]
async fn a_request_without_trace_context_starts_a_trace_the_runtime_joins() {
    let receiver = Receiver::start().await;
    let site = Site::new(&[Endpoint::query("/things")]);
    let extra = format!("[tracing]\notlp_endpoint = \"{}\"\n", receiver.endpoint());
    let (daemon, runtime) = start(&site, &extra).await;

    let mut client = daemon.client().await;
    assert_eq!(
        client.exchange(query("/things", "{}")).await.status.code(),
        200
    );
    // An invalid traceparent is ignored, as W3C Trace Context says.
    let bad = query("/things", "{}").replacen("\r\n", "\r\ntraceparent: 00-zz-yy-01\r\n", 1);
    assert_eq!(client.exchange(bad).await.status.code(), 200);
    drop(client);
    assert_eq!(stop(daemon).await, Some(0));

    let spans = receiver.spans();
    let requests = named(&spans, "AGTP QUERY");
    assert_eq!(requests.len(), 2);
    let round_trips = named(&spans, "round_trip");
    for (n, headers) in runtime_headers(&runtime).iter().enumerate() {
        let request = requests[n];
        assert!(request.parent_span_id.is_empty(), "{request:?}");
        assert_eq!(
            headers["traceparent"],
            format!("00-{}-{}-01", request.trace_id, round_trips[n].span_id)
        );
    }
    assert_ne!(requests[0].trace_id, requests[1].trace_id);
}

#[tokio::test]
async fn with_tracing_off_the_agents_trace_context_reaches_the_runtime_unchanged() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let (daemon, runtime) = start(&site, "").await;
    let mut client = daemon.client().await;
    assert_eq!(client.exchange(traced("/things")).await.status.code(), 200);
    let headers = runtime_headers(&runtime);
    assert_eq!(headers[0]["traceparent"], format!("00-{TRACE}-{PARENT}-01"));
    assert_eq!(headers[0]["tracestate"], "vendor=7");
}

#[tokio::test]
async fn a_collector_that_is_down_costs_no_request_and_no_clean_exit() {
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    drop(receiver);
    let site = Site::new(&[Endpoint::query("/things")]);
    let extra = format!("[tracing]\notlp_endpoint = \"{endpoint}\"\nexport_timeout = \"500ms\"\n");
    let (daemon, _runtime) = start(&site, &extra).await;
    let mut client = daemon.client().await;
    for _ in 0..20 {
        assert_eq!(client.exchange(traced("/things")).await.status.code(), 200);
    }
    drop(client);
    assert_eq!(stop(daemon).await, Some(0));
}

#[tokio::test]
async fn check_config_refuses_an_endpoint_it_cannot_send_to() {
    let site = Site::new(&[]);
    for (extra, says) in [
        (
            "otlp_endpoint = \"https://collector:4318/v1/traces\"",
            "http:// URL",
        ),
        ("otlp_endpoint = \"not a url\"", "tracing.otlp_endpoint"),
        ("sample_ratio = 1.5", "between 0 and 1"),
    ] {
        let config = site.write_config(&format!("[tracing]\n{extra}\n"));
        let out = std::process::Command::new(AGTPD)
            .arg("--config")
            .arg(&config)
            .arg("--check-config")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{extra}: {stderr}");
        assert!(stderr.contains(says), "{extra}: {stderr}");
    }
}
