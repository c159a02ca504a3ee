//! The admin listener through the real `agtpd` binary: `/healthz`, `/readyz`, `/status`,
//! and the exit codes of `agtpd health`.

#![allow(clippy::unwrap_used)]

mod runtimes;
mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use agtpd::admin::client::get;
use runtimes::{Endpoint, Site};
use support::running::{Running, AGTPD};

/// agtpd serving `site` with its admin listener on a free loopback port.
fn start(site: &Site, extra: &str) -> (Running, SocketAddr) {
    let dir = site.dir.path();
    let config = format!(
        "agents_dir = {:?}\nendpoints_dir = {:?}\ngateway_socket = {:?}\n{extra}",
        dir.join("agents"),
        dir.join("endpoints"),
        site.socket,
    );
    let path = dir.join("agtpd.toml");
    std::fs::write(&path, config).unwrap();
    let running = Running::start(
        path.to_str().unwrap(),
        &[("PATH", env!("PATH"))],
        &["--admin-listen", "127.0.0.1:0"],
    );
    let admin = running.admin();
    (running, admin)
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

/// Polls `/readyz` (at most 10 s) until it answers `code`; returns the body.
async fn readyz_until(admin: SocketAddr, code: u16) -> String {
    let mut last = None;
    for _ in 0..200 {
        let (status, body) = get(admin, "/readyz").await.unwrap();
        if status == code {
            return String::from_utf8(body.to_vec()).unwrap();
        }
        last = Some((status, body));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never answered {code}; last: {last:?}");
}

#[tokio::test]
async fn readyz_is_503_naming_the_pool_until_a_runtime_registers_and_health_follows_it() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let (daemon, admin) = start(&site, "");

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
    let (daemon, admin) = start(&site, "");
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
