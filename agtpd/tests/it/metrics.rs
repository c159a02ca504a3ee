//! `/metrics` and `/status` of the real `agtpd` binary under load, with real runtimes:
//! the counters move as the traffic says, and the text parses with the Prometheus
//! project's own OpenMetrics parser (Python `prometheus_client`).

use std::process::Command;
use std::time::Duration;

use crate::AGTPD;
use agtpd_harness::admin::{readyz, readyz_until, sample, scrape, scrape_until, status};
use agtpd_harness::{error_code, Client};
use agtpd_harness::{query, Endpoint, Site};
use agtpd_harness::{TestDaemon, MISBEHAVING};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::net::TcpStream;

fn start(site: &Site, extra: &str) -> TestDaemon {
    TestDaemon::binary(AGTPD)
        .config(site.write_config(extra))
        .args(&["--admin-listen", "127.0.0.1:0"])
        .start()
}

#[tokio::test]
async fn requests_under_load_are_counted_by_method_status_class_and_endpoint() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let daemon = start(&site, "");
    let admin = daemon.admin();
    let _runtime = site.runtime("ok", &["--connections", "4"]);
    scrape_until(admin, |m| {
        sample(
            m,
            "agtpd_pool_connections",
            &[("pool", "default"), ("state", "idle")],
        ) == 4.0
    })
    .await;

    // 8 connections at once, 25 requests each.
    let mut load = Vec::new();
    for _ in 0..8 {
        let addr = daemon.addr;
        load.push(tokio::spawn(async move {
            let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
            for _ in 0..25 {
                let r = c.exchange(query("/things", "{}")).await;
                assert_eq!(r.status.code(), 200);
            }
        }));
    }
    for task in load {
        task.await.unwrap();
    }
    let mut c = daemon.client().await;
    let missing = c.exchange(query("/nothing-here", "{}")).await;
    assert_eq!(missing.status.code(), 404);
    let discover = c.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
    assert_eq!(discover.status.code(), 200);
    let broken = daemon
        .client()
        .await
        .exchange("GET / HTTP/1.1\r\n\r\n")
        .await;
    assert_eq!(broken.status.code(), 400);

    let m = scrape(admin).await;
    let things = [
        ("method", "QUERY"),
        ("status_class", "2xx"),
        ("endpoint", "/things"),
    ];
    assert_eq!(sample(&m, "agtpd_requests_total", &things), 200.0);
    let unrouted = [
        ("method", "QUERY"),
        ("status_class", "4xx"),
        ("endpoint", "unrouted"),
    ];
    assert_eq!(sample(&m, "agtpd_requests_total", &unrouted), 1.0);
    let discovery = [
        ("method", "DISCOVER"),
        ("status_class", "2xx"),
        ("endpoint", "unrouted"),
    ];
    assert_eq!(sample(&m, "agtpd_requests_total", &discovery), 1.0);
    let unparsed = [("method", "unparsed"), ("status_class", "4xx")];
    assert_eq!(sample(&m, "agtpd_requests_total", &unparsed), 1.0);
    let endpoint = [("endpoint", "/things")];
    assert_eq!(
        sample(&m, "agtpd_request_duration_seconds_count", &endpoint),
        200.0
    );
    let pool = [("pool", "default")];
    let served = [("pool", "default"), ("outcome", "served")];
    assert_eq!(sample(&m, "agtpd_gateway_requests_total", &served), 200.0);
    assert_eq!(
        sample(&m, "agtpd_gateway_round_trip_seconds_count", &pool),
        200.0
    );
    assert_eq!(sample(&m, "agtpd_queue_wait_seconds_count", &pool), 200.0);
    assert_eq!(sample(&m, "agtpd_queue_rejections_total", &pool), 0.0);
    assert_eq!(sample(&m, "agtpd_connections_accepted_total", &[]), 10.0);
    assert_eq!(
        sample(
            &m,
            "agtpd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let s = status(admin).await;
    let p = &s["pools"][0];
    assert_eq!(p["pool"], "default");
    assert_eq!(p["requests"]["served"], 200);
    assert_eq!(p["connections"]["total"], 4);
    assert_eq!(p["processes"][0]["served"], 200);
    assert!(s["config_hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(s["ready"], true);
}

#[tokio::test]
async fn a_full_queue_counts_a_rejection_and_shows_busy_connections_and_queue_depth() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let daemon = start(&site, "[gateway]\nqueue_length = 1\n");
    let admin = daemon.admin();
    let _runtime = site.runtime("hang", &["--connections", "1"]);
    let pool = [("pool", "default")];
    scrape_until(admin, |m| {
        sample(
            m,
            "agtpd_pool_connections",
            &[("pool", "default"), ("state", "idle")],
        ) == 1.0
    })
    .await;
    let mut hung = daemon.client().await;
    hung.send(query("/things", "{}")).await;
    scrape_until(admin, |m| {
        sample(
            m,
            "agtpd_pool_connections",
            &[("pool", "default"), ("state", "busy")],
        ) == 1.0
    })
    .await;
    let mut queued = daemon.client().await;
    queued.send(query("/things", "{}")).await;
    scrape_until(admin, |m| sample(m, "agtpd_pool_queue_depth", &pool) == 1.0).await;

    let refused = daemon.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(refused.status.code(), 503);
    assert_eq!(error_code(&refused), "runtime-busy");
    let m = scrape(admin).await;
    assert_eq!(sample(&m, "agtpd_queue_rejections_total", &pool), 1.0);
    let busy = [("pool", "default"), ("outcome", "rejected_busy")];
    assert_eq!(sample(&m, "agtpd_gateway_requests_total", &busy), 1.0);
    let class = [("status_class", "5xx"), ("endpoint", "/things")];
    assert_eq!(sample(&m, "agtpd_requests_total", &class), 1.0);
    let s = status(admin).await;
    assert_eq!(s["pools"][0]["queue_depth"], 1);
    assert_eq!(s["pools"][0]["connections"]["busy"], 1);
    assert_eq!(s["pools"][0]["requests"]["rejected_busy"], 1);
    // The admin listener answers while the pool is saturated.
    assert_eq!(readyz(admin).await, (200, "ready\n".to_owned()));
}

#[tokio::test]
async fn a_killed_supervised_runtime_counts_a_restart_and_readyz_follows_it() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let runtime = format!(
        "[[runtime]]\npool = \"default\"\ncommand = \"python3\"\nargs = [{MISBEHAVING:?}, \"ok\"]\nconnections = 1\n"
    );
    let daemon = start(&site, &runtime);
    let admin = daemon.admin();
    let pool = [("pool", "default")];
    readyz_until(admin, 200).await;
    let before = status(admin).await;
    let pid = before["pools"][0]["processes"][0]["pid"].as_u64().unwrap();
    assert_eq!(before["pools"][0]["supervised"], true);
    assert_eq!(before["pools"][0]["slots"][0]["pid"], pid);
    let m = scrape(admin).await;
    assert_eq!(sample(&m, "agtpd_runtime_restarts_total", &pool), 0.0);

    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let m = scrape_until(admin, |m| {
        sample(m, "agtpd_runtime_restarts_total", &pool) == 1.0
    })
    .await;
    assert_eq!(sample(&m, "agtpd_runtime_recycles_total", &pool), 0.0);
    // The replacement registers, and the pool is ready again.
    for _ in 0..200 {
        let s = status(admin).await;
        let now = s["pools"][0]["processes"][0]["pid"].as_u64();
        if s["ready"] == true && now.is_some_and(|p| p != pid) {
            assert_eq!(s["pools"][0]["restarts"], 1);
            assert_eq!(s["pools"][0]["processes"][0]["restarts"], 1);
            let r = daemon.client().await.exchange(query("/things", "{}")).await;
            assert_eq!(r.status.code(), 200);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no replacement registered: {:#}", status(admin).await);
}

#[tokio::test]
async fn reloads_are_counted_by_result_with_the_last_success_time() {
    let site = Site::new(&[]);
    let daemon = start(&site, "");
    let admin = daemon.admin();
    let first = scrape(admin).await;
    let started = sample(
        &first,
        "agtpd_config_last_reload_success_timestamp_seconds",
        &[],
    );
    assert!(started > 1.0e9);
    daemon.signal(Signal::SIGHUP);
    let m = scrape_until(admin, |m| {
        sample(m, "agtpd_config_reloads_total", &[("result", "success")]) == 1.0
    })
    .await;
    assert!(
        sample(
            &m,
            "agtpd_config_last_reload_success_timestamp_seconds",
            &[]
        ) > started
    );

    let config = site.dir.path().join("agtpd.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("max_connections = 0\n");
    std::fs::write(&config, text).unwrap();
    daemon.signal(Signal::SIGHUP);
    scrape_until(admin, |m| {
        sample(m, "agtpd_config_reloads_total", &[("result", "failure")]) == 1.0
    })
    .await;
}

#[tokio::test]
async fn audit_records_checkpoints_and_fsyncs_are_exported_from_the_module() {
    let dir = tempfile::TempDir::new().unwrap();
    let keygen = Command::new(AGTPD)
        .args(["keygen", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let config = dir.path().join("agtpd.toml");
    std::fs::write(
        &config,
        format!(
            "[signing]\nkey_file = \"{d}/signing.key\"\n[modules]\nload = [\"audit\"]\n\
             [modules.audit]\npath = \"{d}/audit.log\"\nfsync = \"always\"\ncheckpoint_every = 5\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let daemon = TestDaemon::binary(crate::AGTPD)
        .config(config.to_str().unwrap())
        .envs(&[])
        .args(&["--admin-listen", "127.0.0.1:0"])
        .start();
    let admin = daemon.admin();
    let mut c = daemon.client().await;
    for _ in 0..12 {
        let r = c.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
        assert_eq!(r.status.code(), 200);
    }
    let m = scrape_until(admin, |m| {
        sample(m, "agtpd_audit_records_total", &[]) == 12.0
    })
    .await;
    assert_eq!(sample(&m, "agtpd_audit_checkpoints_total", &[]), 2.0);
    assert!(sample(&m, "agtpd_audit_fsyncs_total", &[]) >= 1.0);
    assert_eq!(sample(&m, "agtpd_audit_records_lost_total", &[]), 0.0);
    assert_eq!(
        sample(&m, "agtpd_audit_rotations_total", &[("reason", "rotate")]),
        0.0
    );
    assert_eq!(sample(&m, "agtpd_audit_write_errors_total", &[]), 0.0);
    let s = status(admin).await;
    assert_eq!(s["modules"], serde_json::json!(["audit"]));
}

#[tokio::test]
async fn a_cache_hit_and_a_miss_count_in_the_cache_module_metrics() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let daemon = start(&site, "[modules]\nload = [\"cache\"]\n");
    let admin = daemon.admin();
    let _runtime = site.runtime("ok", &["--connections", "1"]);
    readyz_until(admin, 200).await;
    let mut c = daemon.client().await;
    let first = c.exchange(query("/things", r#"{"data": "x"}"#)).await;
    let again = c.exchange(query("/things", r#"{"data": "x"}"#)).await;
    assert_eq!((first.status.code(), again.status.code()), (200, 200));
    assert!(
        again
            .headers
            .get("Cache-Status")
            .unwrap()
            .starts_with("agtpd; hit"),
        "{:?}",
        again.headers.get("Cache-Status")
    );
    let m = scrape(admin).await;
    assert_eq!(sample(&m, "agtpd_cache_hits_total", &[]), 1.0);
    assert_eq!(sample(&m, "agtpd_cache_misses_total", &[]), 1.0);
    assert_eq!(sample(&m, "agtpd_cache_stores_total", &[]), 1.0);
    // Only the miss reached the runtime.
    let served = [("pool", "default"), ("outcome", "served")];
    assert_eq!(sample(&m, "agtpd_gateway_requests_total", &served), 1.0);
    let things = [
        ("method", "QUERY"),
        ("status_class", "2xx"),
        ("endpoint", "/things"),
    ];
    assert_eq!(sample(&m, "agtpd_requests_total", &things), 2.0);
}

#[tokio::test]
async fn connections_refused_at_max_connections_are_counted_and_the_admin_port_still_answers() {
    let site = Site::new(&[]);
    let daemon = start(&site, "max_connections = 1\n");
    let admin = daemon.admin();
    let mut held = daemon.client().await;
    let discover = held.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
    assert_eq!(discover.status.code(), 200);
    let refused = daemon
        .client()
        .await
        .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
        .await;
    assert_eq!(
        (refused.status.code(), error_code(&refused).as_str()),
        (503, "too-many-connections")
    );
    // The admin listener is outside max_connections.
    let m = scrape_until(admin, |m| {
        sample(m, "agtpd_connections_refused_total", &[]) == 1.0
    })
    .await;
    assert_eq!(sample(&m, "agtpd_connections_accepted_total", &[]), 1.0);
    assert_eq!(sample(&m, "agtpd_connections_open", &[]), 1.0);
}

#[tokio::test]
async fn a_max_requests_recycle_counts_in_runtime_recycles_total_not_in_restarts() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let runtime = format!(
        "[[runtime]]\npool = \"default\"\ncommand = \"python3\"\nargs = [{MISBEHAVING:?}, \"ok\"]\nmax_requests = 3\n"
    );
    let daemon = start(&site, &runtime);
    let admin = daemon.admin();
    let pool = [("pool", "default")];
    readyz_until(admin, 200).await;
    for _ in 0..3 {
        let r = daemon.client().await.exchange(query("/things", "{}")).await;
        assert_eq!(r.status.code(), 200);
    }
    let m = scrape_until(admin, |m| {
        sample(m, "agtpd_runtime_recycles_total", &pool) == 1.0
    })
    .await;
    assert_eq!(sample(&m, "agtpd_runtime_restarts_total", &pool), 0.0);
    let r = daemon.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(r.status.code(), 200, "the replacement serves");
}
