//! Pools under load and over time: the bounded queue, isolation between pools, reload,
//! and drain.

use std::time::Duration;

use agtpd::config::Config;
use agtpd::gateway::config::GatewayConfig;
use agtpd_harness::error_code;
use agtpd_harness::{pool, query, ready, until, Endpoint, Site};

fn queue(site: &Site, queue_length: usize, queue_wait: Duration) -> Config {
    Config {
        gateway: GatewayConfig {
            queue_length,
            queue_wait,
            ..GatewayConfig::default()
        },
        ..site.config()
    }
}

#[tokio::test]
async fn a_full_queue_answers_503_runtime_busy_with_retry_after() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(queue(&site, 1, Duration::from_secs(5))).await;
    let _runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let slow = query("/things", r#"{"mode": "slow-ok", "delay_ms": 300}"#);
    let mut busy = server.client().await;
    busy.send(&slow).await;
    until(&server, "default", |p| p.n_busy == 1).await;
    let mut queued = server.client().await;
    queued.send(&slow).await;
    until(&server, "default", |p| p.queue_depth == 1).await;
    let refused = server.client().await.exchange(&slow).await;
    assert_eq!(refused.status.code(), 503);
    assert_eq!(error_code(&refused), "runtime-busy");
    assert_eq!(refused.headers.get("Retry-After"), Some("1"));
    assert_eq!(busy.response().await.status.code(), 200);
    assert_eq!(
        queued.response().await.status.code(),
        200,
        "the queue is served in turn"
    );
    let stats = pool(&server, "default");
    assert_eq!(
        (stats.n_served, stats.n_rejected_busy, stats.queue_depth),
        (2, 1, 0)
    );
}

#[tokio::test]
async fn a_queued_request_that_waits_too_long_is_503_runtime_busy() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site
        .serve(queue(&site, 8, Duration::from_millis(100)))
        .await;
    let _runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let mut busy = server.client().await;
    busy.send(query("/things", r#"{"mode": "slow-ok", "delay_ms": 500}"#))
        .await;
    until(&server, "default", |p| p.n_busy == 1).await;
    let expired = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(error_code(&expired), "runtime-busy");
    assert_eq!(busy.response().await.status.code(), 200);
    until(&server, "default", |p| p.queue_depth == 0 && p.n_idle == 1).await;
}

#[tokio::test]
async fn a_hung_pool_never_holds_up_the_built_ins_or_another_pool() {
    let hung = Endpoint {
        pool: "stuck",
        timeout: "2s",
        ..Endpoint::query("/stuck")
    };
    let site = Site::new(&[Endpoint::query("/things"), hung]);
    let server = site.serve(site.config()).await;
    let _fine = site.runtime("ok", &[]);
    let _stuck = site.runtime("hang", &["--pool", "stuck"]);
    ready(&server, "default", 1).await;
    ready(&server, "stuck", 1).await;
    let mut waiting = server.client().await;
    waiting.send(query("/stuck", "{}")).await;
    until(&server, "stuck", |p| p.n_busy == 1).await;
    let methods = server
        .client()
        .await
        .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
        .await;
    assert_eq!(methods.status.code(), 200);
    let other = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(other.status.code(), 200);
    assert_eq!(pool(&server, "stuck").n_busy, 1, "still hung meanwhile");
    assert_eq!(waiting.response().await.status.code(), 504);
}

#[tokio::test]
async fn a_reload_that_changes_a_pool_makes_its_runtimes_register_again() {
    let billing = Endpoint {
        pool: "billing",
        ..Endpoint::query("/invoices")
    };
    let site = Site::new(&[Endpoint::query("/things"), billing]);
    let server = site.serve(site.config()).await;
    let default = site.runtime("ok", &[]);
    let billed = site.runtime("ok", &["--pool", "billing"]);
    ready(&server, "default", 1).await;
    ready(&server, "billing", 1).await;
    let before = pool(&server, "default").manifest_hash;
    let billing = Endpoint {
        pool: "billing",
        ..Endpoint::query("/invoices")
    };
    Site::write_endpoints(
        site.dir.path(),
        &[
            Endpoint::query("/things"),
            Endpoint::query("/widgets"),
            billing,
        ],
    );
    server.daemon().reload(&site.config()).unwrap();
    let goodbye = default.event(|e| e["event"] == "goodbye").await;
    assert_eq!(goodbye["reason"], "manifest_reload");
    let registers = || {
        let events = default.events();
        events
            .into_iter()
            .filter(|e| e["event"] == "register")
            .collect::<Vec<_>>()
    };
    until(&server, "default", |p| {
        p.n_idle == 1 && p.manifest_hash != before
    })
    .await;
    default.event(|_| registers().len() >= 2).await;
    assert_eq!(registers()[1]["endpoints"].as_array().unwrap().len(), 2);
    let widgets = server
        .client()
        .await
        .exchange(query("/widgets", "{}"))
        .await;
    assert_eq!(widgets.status.code(), 200);
    assert!(
        billed.events().iter().all(|e| e["event"] != "goodbye"),
        "an unchanged pool keeps its connections"
    );
}

#[tokio::test]
async fn drain_finishes_the_request_in_flight_then_says_goodbye_to_the_runtimes() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let mut server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &["--connections", "2"]);
    ready(&server, "default", 2).await;
    let mut client = server.client().await;
    client
        .send(query("/things", r#"{"mode": "slow-ok", "delay_ms": 300}"#))
        .await;
    until(&server, "default", |p| p.n_busy == 1).await;
    let stopped = server.begin_stop();
    let response = client.response().await;
    assert_eq!(response.status.code(), 200);
    // The drain began while the handler ran: the answer says the connection ends.
    assert_eq!(response.headers.get("Connection"), Some("close"));
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .unwrap()
        .unwrap();
    // Both connections are told; the second goodbye is the one to wait for.
    runtime
        .event(|_| {
            runtime
                .events()
                .iter()
                .filter(|e| e["event"] == "goodbye")
                .count()
                == 2
        })
        .await;
    let goodbyes: Vec<_> = runtime
        .events()
        .into_iter()
        .filter(|e| e["event"] == "goodbye")
        .collect();
    assert_eq!(goodbyes.len(), 2, "every connection: {goodbyes:?}");
    assert!(goodbyes.iter().all(|e| e["reason"] == "shutdown"));
    assert!(!site.socket.exists(), "the socket file is removed");
}
