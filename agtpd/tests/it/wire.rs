//! AGTP/1.0 on the wire, through the real server: valid and invalid requests, limits,
//! persistent connections and pipelining.

use agtp_core::{Limits, Status};
use agtpd::config::Config;
use agtpd_harness::{error_code, error_message, TestDaemon};

const QUERY: &str = "AGTP/1.0 DISCOVER /methods\r\n\r\n";

#[tokio::test]
async fn every_response_carries_server_id_and_a_fresh_response_id() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let first = client.exchange(QUERY).await;
    let second = client.exchange(QUERY).await;
    for response in [&first, &second] {
        assert_eq!(response.headers.get("Server-ID"), Some("agtpd"));
        let id = response.headers.get("Response-ID").unwrap();
        assert!(id.starts_with("resp-") && id.len() == 17, "{id}");
    }
    assert_ne!(
        first.headers.get("Response-ID"),
        second.headers.get("Response-ID")
    );
}

#[tokio::test]
async fn an_empty_line_before_a_request_is_ignored_after_a_body_and_between_requests() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let with_body = "AGTP/1.0 DISCOVER /methods\r\nContent-Length: 2\r\n\r\n{}\r\n";
    assert_eq!(client.exchange(with_body).await.status, Status::OK);
    let after = client.exchange(QUERY).await;
    assert_eq!(
        after.status,
        Status::OK,
        "the CRLF after the body was ignored"
    );
    let response = client.exchange(format!("\r\n{QUERY}")).await;
    assert_eq!(response.status, Status::OK);
}

#[tokio::test]
async fn task_id_and_request_id_are_echoed_only_when_sent() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let echoed = client
        .exchange("AGTP/1.0 DISCOVER /methods\r\nTask-ID: task-1\r\nRequest-ID: req-9\r\n\r\n")
        .await;
    assert_eq!(echoed.headers.get("Task-ID"), Some("task-1"));
    assert_eq!(echoed.headers.get("Request-ID"), Some("req-9"));
    let plain = client.exchange(QUERY).await;
    assert!(!plain.headers.contains("Task-ID") && !plain.headers.contains("Request-ID"));
}

#[tokio::test]
async fn a_well_formed_request_gets_a_well_formed_json_error_envelope() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let response = client.exchange("AGTP/1.0 QUERY /rooms?x=1\r\n\r\n").await;
    assert_eq!(response.status, Status::BAD_REQUEST);
    assert_eq!(
        response.headers.get("Content-Type"),
        Some("application/json")
    );
    assert_eq!(error_code(&response), "missing-agent-id");
    assert!(
        !response.headers.contains("Connection"),
        "a gate refusal keeps the connection"
    );
}

#[tokio::test]
async fn the_method_is_case_insensitive_and_the_query_is_not_part_of_the_path() {
    let server = TestDaemon::start(Config::default()).await;
    let response = server
        .client()
        .await
        .exchange("AGTP/1.0 discover /methods?x=1\r\n\r\n")
        .await;
    assert_eq!(response.status, Status::OK);
}

/// Each malformed request gets its status and code, and the connection is closed.
#[tokio::test]
async fn malformed_requests_are_refused_precisely_and_the_connection_closed() {
    let cases: &[(&str, u16, &str)] = &[
        ("AGTP/2.0 QUERY /a\r\n\r\n", 400, "unsupported-version"),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "not-agtp"),
        (
            "AGTP/1.0 QUERY /a#frag\r\n\r\n",
            400,
            "fragment-not-allowed",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nX: a\r\n folded\r\n\r\n",
            400,
            "obsolete-line-folding",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nAgent-ID : a\r\n\r\n",
            400,
            "space-before-colon",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nX: a\rb\r\n\r\n",
            400,
            "bare-line-ending",
        ),
        ("AGTP/1.0 QUERY /a\nX: a\n\n", 400, "bare-line-ending"),
        (
            "AGTP/1.0 QUERY /a\r\nX-Nul: a\0\r\n\r\n",
            400,
            "invalid-header-value",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nBad Name: a\r\n\r\n",
            400,
            "invalid-header-name",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            400,
            "conflicting-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: -1\r\n\r\n",
            400,
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: +3\r\n\r\nabc",
            400,
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nContent-Length: 0x3\r\n\r\nabc",
            400,
            "invalid-content-length",
        ),
        (
            "AGTP/1.0 QUERY /a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "transfer-encoding-not-supported",
        ),
    ];
    let server = TestDaemon::start(Config::default()).await;
    for (raw, status, code) in cases {
        let mut client = server.client().await;
        let response = client.exchange(raw).await;
        assert_eq!(
            (response.status.code(), error_code(&response).as_str()),
            (*status, *code),
            "{raw:?}"
        );
        assert_eq!(response.headers.get("Connection"), Some("close"), "{raw:?}");
        assert!(response.headers.contains("Server-ID"));
        assert!(client.is_closed().await, "{raw:?} closes the connection");
    }
}

#[tokio::test]
async fn an_http_client_is_told_this_is_an_agtp_endpoint() {
    let server = TestDaemon::start(Config::default()).await;
    let response = server
        .client()
        .await
        .exchange("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(response.status, Status::BAD_REQUEST);
    assert!(error_message(&response).contains("AGTP endpoint"));
}

#[tokio::test]
async fn chunked_bodies_are_refused_with_an_explanation() {
    let server = TestDaemon::start(Config::default()).await;
    let raw = "AGTP/1.0 BOOK /rooms\r\nTransfer-Encoding: chunked\r\n\r\n";
    let response = server.client().await.exchange(raw).await;
    assert!(error_message(&response).contains("chunked bodies are not part of AGTP/1.0"));
}

fn limited(limits: Limits) -> Config {
    Config {
        limits,
        ..Config::default()
    }
}

#[tokio::test]
async fn a_request_line_over_the_limit_gets_414_without_waiting_for_its_end() {
    let server = TestDaemon::start(limited(Limits {
        max_request_line: 64,
        ..Limits::default()
    }))
    .await;
    let mut client = server.client().await;
    let fits = format!("AGTP/1.0 DISCOVER /methods?{}\r\n\r\n", "a".repeat(64 - 29));
    assert_eq!(client.exchange(&fits).await.status, Status::OK);
    let response = client
        .exchange(format!("AGTP/1.0 QUERY /{}", "a".repeat(100)))
        .await;
    assert_eq!(
        (response.status, error_code(&response).as_str()),
        (Status::URI_TOO_LONG, "request-line-too-long")
    );
}

#[tokio::test]
async fn a_header_block_over_the_limit_gets_431() {
    let server = TestDaemon::start(limited(Limits {
        max_header_bytes: 128,
        ..Limits::default()
    }))
    .await;
    let fits = format!(
        "AGTP/1.0 DISCOVER /methods\r\nX: {}\r\n\r\n",
        "v".repeat(100)
    );
    assert_eq!(
        server.client().await.exchange(&fits).await.status,
        Status::OK
    );
    let over = format!("AGTP/1.0 QUERY /a\r\nX: {}", "v".repeat(200));
    let response = server.client().await.exchange(&over).await;
    assert_eq!(
        (response.status, error_code(&response).as_str()),
        (Status::HEADER_FIELDS_TOO_LARGE, "headers-too-large")
    );
}

#[tokio::test]
async fn more_header_fields_than_the_limit_gets_431() {
    let server = TestDaemon::start(limited(Limits {
        max_headers: 4,
        ..Limits::default()
    }))
    .await;
    let fields = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    let fits = format!("AGTP/1.0 DISCOVER /methods\r\n{}\r\n", fields(4));
    assert_eq!(
        server.client().await.exchange(&fits).await.status,
        Status::OK
    );
    let over = format!("AGTP/1.0 QUERY /a\r\n{}\r\n", fields(5));
    let response = server.client().await.exchange(&over).await;
    assert_eq!(
        (response.status, error_code(&response).as_str()),
        (Status::HEADER_FIELDS_TOO_LARGE, "too-many-headers")
    );
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_while_the_client_is_still_sending() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let at_limit = format!(
        "AGTP/1.0 DISCOVER /methods\r\nContent-Length: {0}\r\n\r\n{1}",
        1 << 20,
        "x".repeat(1 << 20)
    );
    assert_eq!(client.exchange(&at_limit).await.status, Status::OK);
    let over = format!(
        "AGTP/1.0 DISCOVER /methods\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    );
    client.send(&over).await;
    // The client keeps writing part of the body; the answer must still arrive intact.
    client.send(vec![b'x'; 200_000]).await;
    let response = client.response().await;
    assert_eq!(
        (response.status, error_code(&response).as_str()),
        (Status::CONTENT_TOO_LARGE, "body-too-large")
    );
    assert_eq!(response.headers.get("Connection"), Some("close"));
}

#[tokio::test]
async fn a_connection_serves_many_requests_in_sequence() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    for i in 0..20 {
        let response = client
            .exchange(format!(
                "AGTP/1.0 DISCOVER /methods\r\nRequest-ID: r{i}\r\nContent-Length: 2\r\n\r\n{{}}"
            ))
            .await;
        assert_eq!(
            response.headers.get("Request-ID"),
            Some(format!("r{i}").as_str())
        );
        assert!(!response.headers.contains("Connection"));
    }
}

async fn pipelined(n: usize) {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let burst: String = (0..n)
        .map(|i| {
            format!(
                "AGTP/1.0 DISCOVER /methods\r\nRequest-ID: r{i}\r\nContent-Length: 1\r\n\r\n{}",
                i % 10
            )
        })
        .collect();
    client.send(burst).await;
    for i in 0..n {
        let response = client.response().await;
        assert_eq!(
            response.headers.get("Request-ID"),
            Some(format!("r{i}").as_str()),
            "answered in order"
        );
        assert_eq!(response.status, Status::OK);
    }
}

#[tokio::test]
async fn two_pipelined_requests_are_answered_in_order() {
    pipelined(2).await;
}

#[tokio::test]
async fn ten_pipelined_requests_are_answered_in_order() {
    pipelined(10).await;
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    client
        .send("AGTP/1.0 QUERY /a\r\nConnection: close\r\n\r\nAGTP/1.0 QUERY /b\r\n\r\n")
        .await;
    let response = client.response().await;
    assert_eq!(response.headers.get("Connection"), Some("close"));
    assert!(
        client.is_closed().await,
        "the pipelined second request is not answered"
    );
}

#[tokio::test]
async fn a_request_split_across_many_writes_is_reassembled() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    let raw = "AGTP/1.0 DISCOVER /methods\r\nContent-Length: 5\r\n\r\nhello";
    for byte in raw.as_bytes() {
        client.send([*byte]).await;
    }
    assert_eq!(client.response().await.status, Status::OK);
}
