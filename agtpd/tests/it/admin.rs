//! The admin listener through the real `agtpd` binary: `/healthz`, `/readyz` (runtimes
//! coming and going, drain), the exit codes of `agtpd health`, and the slow-request log.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use crate::AGTPD;
use agtpd::admin::client::get;
use agtpd_harness::admin::{readyz, readyz_until, status};
use agtpd_harness::{message, query, Client, Endpoint, Runtime, Site, TestDaemon};
use nix::sys::signal::Signal;
use tokio::net::TcpStream;

fn start(site: &Site, extra: &str) -> TestDaemon {
    TestDaemon::binary(AGTPD)
        .config(site.write_config(extra))
        .args(&["--admin-listen", "127.0.0.1:0"])
        .start()
}

fn agtpd(args: &[&str]) -> Output {
    Command::new(AGTPD)
        .args(args)
        .env_remove("AGTPD_ADMIN__LISTEN")
        .output()
        .unwrap()
}

fn health(admin: SocketAddr) -> Output {
    agtpd(&["health", "--admin", &admin.to_string()])
}

#[tokio::test]
async fn readyz_is_503_naming_the_pool_until_a_runtime_registers_and_health_follows_it() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let daemon = start(&site, "");
    let admin = daemon.admin();

    let (status, body) = get(admin, "/healthz").await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"ok\n"[..]));
    let body = readyz_until(admin, 503).await;
    assert!(
        body.contains("pool `default`: no registered runtime connection"),
        "{body}"
    );
    let refused = health(admin);
    assert_eq!(refused.status.code(), Some(1));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("503") && why.contains("pool `default`"),
        "{why}"
    );

    let runtime = site.runtime("ok", &["--connections", "1"]);
    assert_eq!(readyz_until(admin, 200).await, "ready\n");
    assert_eq!(health(admin).status.code(), Some(0));

    drop(runtime);
    readyz_until(admin, 503).await;
    drop(daemon);
    let gone = health(admin);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("cannot connect"));
}

#[tokio::test]
async fn agtpd_health_reads_the_admin_address_from_the_config_file_and_the_environment() {
    let site = Site::new(&[]);
    let daemon = start(&site, "");
    let admin = daemon.admin();
    let config = site.dir.path().join("probe.toml");
    std::fs::write(&config, format!("[admin]\nlisten = \"{admin}\"\n")).unwrap();
    let from_file = agtpd(&["health", "--config", config.to_str().unwrap()]);
    assert_eq!(from_file.status.code(), Some(0), "{from_file:?}");

    let empty = site.dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let from_env = Command::new(AGTPD)
        .args(["health", "--config", empty.to_str().unwrap()])
        .env("AGTPD_ADMIN__LISTEN", admin.to_string())
        .output()
        .unwrap();
    assert_eq!(from_env.status.code(), Some(0), "{from_env:?}");

    let unset = agtpd(&["health", "--config", empty.to_str().unwrap()]);
    assert_eq!(unset.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&unset.stderr).contains("no admin address"));
    drop(daemon);
}

#[tokio::test]
async fn health_live_asks_liveness_while_readiness_waits_for_a_runtime() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let daemon = start(&site, "");
    let admin = daemon.admin();
    readyz_until(admin, 503).await;
    assert_eq!(
        health(admin).status.code(),
        Some(1),
        "not ready: no runtime"
    );
    let live = agtpd(&["health", "--live", "--admin", &admin.to_string()]);
    assert_eq!(live.status.code(), Some(0), "{live:?}");
    drop(daemon);
    let gone = agtpd(&["health", "--live", "--admin", &admin.to_string()]);
    assert_eq!(gone.status.code(), Some(1));
}

#[tokio::test]
async fn metrics_listen_serves_metrics_and_nothing_else() {
    let site = Site::new(&[]);
    let daemon = start(&site, "[admin]\nmetrics_listen = \"127.0.0.1:0\"\n");
    let metrics: SocketAddr = daemon.ready()["fields"]["metrics"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the ready line names the metrics listener");
    assert_ne!(metrics, daemon.admin());
    let (code, body) = get(metrics, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).contains("# EOF"));
    for path in ["/status", "/healthz", "/readyz"] {
        assert_eq!(get(metrics, path).await.unwrap().0, 404, "{path}");
    }
    assert_eq!(get(daemon.admin(), "/status").await.unwrap().0, 200);
}

#[tokio::test]
async fn drain_delay_keeps_serving_new_connections_while_readyz_says_draining() {
    let site = Site::new(&[]);
    let daemon = start(&site, "[timeouts]\ndrain_delay = \"1s\"\n");
    let admin = daemon.admin();
    readyz_until(admin, 200).await;
    daemon.signal(Signal::SIGTERM);
    readyz_until(admin, 503).await;
    // Still accepting and answering as usual: no `Connection: close` yet.
    let mut late = daemon.client().await;
    let answer = late.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
    assert_eq!(answer.status.code(), 200);
    assert_eq!(answer.headers.get("Connection"), None);
    assert_eq!(daemon.wait(), Some(0));
}

/// Idle and slow sockets beyond the admin limit close the oldest connections, never the
/// newcomer, so a probe is answered however many a client holds open.
#[tokio::test]
async fn sockets_held_open_on_the_admin_listener_cannot_starve_a_probe() {
    use tokio::io::AsyncWriteExt;
    let site = Site::new(&[]);
    let daemon = start(&site, "");
    let admin = daemon.admin();
    let mut held = Vec::new();
    for i in 0..3 * agtpd::admin::MAX_CONNECTIONS {
        let mut stream = tokio::net::TcpStream::connect(admin).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        held.push(stream);
    }
    for _ in 0..5 {
        let probe = tokio::task::spawn_blocking(move || health(admin))
            .await
            .unwrap();
        assert_eq!(probe.status.code(), Some(0), "{probe:?}");
        assert_eq!(get(admin, "/healthz").await.map(|(code, _)| code), Ok(200));
    }
    drop(held);
    drop(daemon);
}

#[test]
fn a_non_loopback_admin_address_is_refused_by_check_config_unless_allowed() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("agtpd.toml");
    std::fs::write(&config, "[admin]\nlisten = \"0.0.0.0:4481\"\n").unwrap();
    let refused = agtpd(&["--config", config.to_str().unwrap(), "--check-config"]);
    assert_eq!(refused.status.code(), Some(78));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("`admin.listen`: 0.0.0.0:4481 is not a loopback address"),
        "{message}"
    );

    let by_flag = agtpd(&[
        "--config",
        config.to_str().unwrap(),
        "--admin-listen",
        "192.0.2.1:4481",
        "--check-config",
    ]);
    assert_eq!(by_flag.status.code(), Some(78));

    std::fs::write(
        &config,
        "[admin]\nlisten = \"0.0.0.0:4481\"\nallow_off_loopback = true\n",
    )
    .unwrap();
    let allowed = agtpd(&["--config", config.to_str().unwrap(), "--check-config"]);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
}

/// A daemon with `extra` config whose one runtime connection (in `mode`) is busy with a
/// request of `input` from the returned client.
async fn one_in_flight(
    site: &Site,
    extra: &str,
    mode: &str,
    input: &str,
) -> (TestDaemon, Runtime, Client<TcpStream>) {
    let daemon = start(site, extra);
    let admin = daemon.admin();
    let runtime = site.runtime(mode, &["--connections", "1"]);
    readyz_until(admin, 200).await;
    let mut client = daemon.client().await;
    client.send(query("/things", input)).await;
    agtpd_harness::wait::until(
        "the request is in flight",
        Duration::from_secs(5),
        || async { (status(admin).await["pools"][0]["connections"]["busy"] == 1).then_some(()) },
    )
    .await;
    (daemon, runtime, client)
}

#[tokio::test]
async fn readyz_is_503_draining_while_a_request_finishes_after_sigterm() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let slow = r#"{"mode": "slow-ok", "delay_ms": 3000}"#;
    let (daemon, _runtime, mut slow) = one_in_flight(&site, "", "ok", slow).await;
    let admin = daemon.admin();
    daemon.signal(Signal::SIGTERM);
    let mut answer = (0, String::new());
    for _ in 0..100 {
        answer = readyz(admin).await;
        if answer.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answer.0, 503);
    assert!(answer.1.contains("draining"), "{}", answer.1);
    assert_eq!(status(admin).await["draining"], true);
    let finished = slow.response().await;
    assert_eq!(finished.status.code(), 200);
    assert_eq!(daemon.wait(), Some(0));
}

#[tokio::test]
async fn a_request_still_in_flight_at_the_drain_deadline_gets_503_not_an_eof() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let drain = "[timeouts]\ndrain = \"300ms\"\n";
    let (daemon, _runtime, mut stuck) = one_in_flight(&site, drain, "hang", "{}").await;
    daemon.signal(Signal::SIGTERM);
    let cut = stuck.response().await;
    assert_eq!(cut.status.code(), 503);
    assert_eq!(agtpd_harness::error_code(&cut), "shutting-down");
    assert_eq!(cut.headers.get("Connection"), Some("close"));
    assert_eq!(cut.headers.get("Retry-After"), Some("1"));
    assert_eq!(daemon.wait(), Some(0));
}

#[tokio::test]
async fn a_request_slower_than_slow_request_is_logged_with_pool_pid_and_timing() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let daemon = start(&site, "[admin]\nslow_request = \"300ms\"\n");
    let runtime = site.runtime("ok", &["--connections", "1"]);
    let admin = daemon.admin();
    readyz_until(admin, 200).await;
    let mut c = daemon.client().await;
    let fast = c.exchange(query("/things", "{}")).await;
    assert_eq!(fast.status.code(), 200);
    let slow = c
        .exchange(query("/things", r#"{"mode": "slow-ok", "delay_ms": 700}"#))
        .await;
    assert_eq!(slow.status.code(), 200);
    daemon.wait_for(|e| e["target"] == "agtpd::slow");
    let logged = daemon.events(|e| e["target"] == "agtpd::slow");
    assert_eq!(logged.len(), 1, "only the slow request: {logged:?}");
    let line = &logged[0];
    assert_eq!(line["level"], "WARN");
    let f = &line["fields"];
    assert_eq!(f["message"], "slow request");
    assert_eq!(
        (f["method"].as_str(), f["path"].as_str()),
        (Some("QUERY"), Some("/things"))
    );
    assert_eq!(f["status"], 200);
    assert_eq!(f["pool"], "default");
    assert_eq!(f["pid"], runtime.pid());
    let gateway = f["gateway_us"].as_u64().unwrap();
    let total = f["total_us"].as_u64().unwrap();
    assert!(gateway >= 700_000 && total >= gateway, "{f}");
    assert_eq!(f["queue_wait_us"], 0);
    assert_eq!(f["modules_us"], 0);
}

#[tokio::test]
async fn a_changed_admin_address_waits_for_a_restart_and_the_old_one_keeps_answering() {
    let site = Site::new(&[]);
    let dir = site.dir.path();
    let config = dir.join("agtpd.toml");
    std::fs::write(&config, "[admin]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let daemon = TestDaemon::binary(crate::AGTPD)
        .config(config.to_str().unwrap())
        .start();
    let admin = daemon.admin();
    std::fs::write(&config, "[admin]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    let restart_only = |e: &serde_json::Value| {
        e["fields"]["key"] == "admin.listen"
            && e["fields"]["message"]
                == "changed in the configuration; takes effect after a restart"
    };
    daemon.wait_for(|e| message(e) == "configuration reloaded");
    assert_eq!(daemon.events(restart_only).len(), 1);
    assert_eq!(get(admin, "/healthz").await.unwrap().0, 200);
}
