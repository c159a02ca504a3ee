//! What the agent gets for each thing a runtime can do (PROTOCOL.md §12), through the real
//! daemon and real runtime processes.

use std::time::{Duration, Instant};

use agtpd_harness::error_code;
use agtpd_harness::{body, pool, query, ready, until, Endpoint, Site, AGENT};

fn status_and_code(response: &agtp_core::Response) -> (u16, String) {
    (response.status.code(), error_code(response))
}

#[tokio::test]
async fn a_reply_passes_with_its_status_body_and_only_the_safe_headers() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let mut client = server.client().await;
    let raw =
        query("/things", r#"{"status": 201}"#).replace("\r\n\r\n", "\r\nTask-ID: t-1\r\n\r\n");
    let response = client.exchange(raw).await;
    assert_eq!(response.status.code(), 201, "{:?}", body(&response));
    assert_eq!(body(&response)["echoed"]["status"], 201);
    let headers = &response.headers;
    assert_eq!(headers.get("X-Handler"), Some("misbehaving"));
    assert_eq!(headers.get("Server-ID"), Some("agtpd"), "daemon-owned");
    assert_eq!(headers.get("Content-Type"), Some("application/json"));
    assert!(
        headers.get("Connection").is_none(),
        "hop-by-hop headers are dropped"
    );
    assert!(headers.get("X-Injected").is_none() && headers.get("Evil").is_none());
    for owned in ["Audit-ID", "Attribution-Record", "Cache-Status", "Via"] {
        assert!(headers.get(owned).is_none(), "{owned} is the daemon's");
    }
    let request = runtime.event(|e| e["event"] == "request").await;
    let envelope = &request["envelope"];
    assert_eq!(envelope["agent_id"], AGENT);
    assert_eq!(envelope["principal_id"], "tests@example.org");
    assert_eq!(envelope["task_id"], "t-1");
    assert_eq!(envelope["headers"]["task-id"], "t-1");
    assert_eq!(envelope["authority_scope"], serde_json::json!(["test:run"]));
    assert_eq!(request["trust"]["method"], "agent_id_header");
    let deadline = request["deadline_ms"].as_u64().unwrap();
    assert!(deadline > 29_000 && deadline <= 30_000, "{deadline}");
}

#[tokio::test]
async fn no_connection_in_the_pool_is_503_runtime_unavailable_at_once_with_retry_after() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let started = Instant::now();
    let response = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(
        status_and_code(&response),
        (503, "runtime-unavailable".into())
    );
    assert_eq!(response.headers.get("Retry-After"), Some("1"));
    assert!(started.elapsed() < Duration::from_secs(1), "no queue wait");
    assert_eq!(pool(&server, "default").n_rejected_unavailable, 1);
}

#[tokio::test]
async fn each_handler_outcome_maps_to_its_row_and_the_connection_stays_usable() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let mut client = server.client().await;
    let rows = [
        ("declared-error", 422, "room_unavailable"),
        ("undeclared-error", 500, "undeclared-error-code"),
        ("exception", 500, "handler-exception"),
        ("bad-output", 500, "output-validation-failed"),
    ];
    for (mode, status, code) in rows {
        let input = format!(r#"{{"mode": "{mode}"}}"#);
        let response = client.exchange(query("/things", &input)).await;
        assert_eq!(status_and_code(&response), (status, code.into()), "{mode}");
        let text = String::from_utf8_lossy(&response.body);
        assert!(
            !text.contains("secret"),
            "the handler's detail stays in the log: {text}"
        );
    }
    let declared = client
        .exchange(query("/things", r#"{"mode": "declared-error"}"#))
        .await;
    assert_eq!(body(&declared)["error"]["message"], "no room left");
    assert_eq!(body(&declared)["error"]["details"]["room"], "101");
    let not_2xx = client
        .exchange(query("/things", r#"{"status": 302}"#))
        .await;
    assert_eq!(
        status_and_code(&not_2xx),
        (500, "output-validation-failed".into())
    );
    let fine = client.exchange(query("/things", "{}")).await;
    assert_eq!(fine.status.code(), 200);
    let conns: Vec<_> = runtime
        .events()
        .into_iter()
        .filter(|e| e["event"] == "welcome")
        .collect();
    assert_eq!(conns.len(), 1, "one connection served every row");
    assert_eq!(pool(&server, "default").n_served, 7);
}

#[tokio::test]
async fn a_handler_that_never_answers_gets_504_and_its_connection_is_replaced() {
    let mut endpoint = Endpoint::query("/things");
    endpoint.timeout = "300ms";
    let site = Site::new(&[endpoint]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let started = Instant::now();
    let mut client = server.client().await;
    let hung = client
        .exchange(query("/things", r#"{"mode": "hang"}"#))
        .await;
    assert_eq!(status_and_code(&hung), (504, "handler-timeout".into()));
    assert!(started.elapsed() < Duration::from_secs(2));
    runtime
        .event(|e| e["event"] == "frame" && e["code"] == "handler_timeout")
        .await;
    runtime.event(|e| e["event"] == "closed").await;
    until(&server, "default", |p| p.n_idle == 1 && p.n_timeouts == 1).await;
    let next = client.exchange(query("/things", "{}")).await;
    assert_eq!(next.status.code(), 200, "the replacement connection serves");
}

#[tokio::test]
async fn the_ttl_header_caps_the_handler_timeout_and_travels_as_the_deadline() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let raw = query("/things", r#"{"mode": "hang"}"#).replace("\r\n\r\n", "\r\nTTL: 250\r\n\r\n");
    let started = Instant::now();
    let response = server.client().await.exchange(raw).await;
    assert_eq!(status_and_code(&response), (504, "handler-timeout".into()));
    assert!(started.elapsed() < Duration::from_secs(2));
    let request = runtime.event(|e| e["event"] == "request").await;
    assert!(request["deadline_ms"].as_u64().unwrap() <= 250);
}

/// Two runtime processes; the first to register crashes on the request it reads. Returns
/// the answer, the healthy runtime and the site (its directory holds the runtime's log).
async fn crash_with_a_second_runtime(
    idempotent: bool,
) -> (u16, String, agtpd_harness::Runtime, Site) {
    let endpoint = Endpoint {
        method: "BOOK",
        idempotent,
        ..Endpoint::query("/stays")
    };
    let site = Site::new(&[endpoint]);
    let server = site.serve(site.config()).await;
    let mut crashing = site.runtime("crash-mid-request", &[]);
    ready(&server, "default", 1).await;
    let healthy = site.runtime("ok", &[]);
    ready(&server, "default", 2).await;
    let raw = query("/stays", "{}").replacen("QUERY", "BOOK", 1);
    let response = server.client().await.exchange(raw).await;
    assert_eq!(crashing.exit_code().await, Some(3));
    let code = match response.status.code() {
        200 => String::new(),
        _ => error_code(&response),
    };
    (response.status.code(), code, healthy, site)
}

#[tokio::test]
async fn a_connection_dying_mid_request_is_503_runtime_failed_when_not_idempotent() {
    let (status, code, healthy, _site) = crash_with_a_second_runtime(false).await;
    assert_eq!((status, code.as_str()), (503, "runtime-failed"));
    assert!(
        healthy.events().iter().all(|e| e["event"] != "request"),
        "never executed twice"
    );
}

#[tokio::test]
async fn a_connection_dying_mid_request_is_retried_once_when_idempotent() {
    let (status, _, healthy, _site) = crash_with_a_second_runtime(true).await;
    assert_eq!(status, 200);
    healthy.event(|e| e["event"] == "request").await;
}
