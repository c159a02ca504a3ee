//! Where runtimes connect: the Unix socket (stale files, live sockets, missing directory,
//! mode and group) and loopback TCP, in the library and through the real binary.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use agtpd::config::Config;
use agtpd::gateway::config::GatewayConfig;
use agtpd::gateway::{BindError, GatewayListener};
use agtpd_harness::TestDaemon;
use agtpd_harness::{query, ready, Endpoint, Runtime, Site};
use tempfile::TempDir;

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("gateway.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "left behind");
    let first = GatewayListener::bind_unix(&path, None).unwrap();
    match GatewayListener::bind_unix(&path, None) {
        Err(error @ BindError::InUse(_)) => assert!(error.to_string().contains("gateway.sock")),
        other => panic!("{other:?}"),
    }
    drop(first);
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "keep me").unwrap();
    assert!(matches!(
        GatewayListener::bind_unix(&file, None),
        Err(BindError::NotASocket(_))
    ));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[tokio::test]
async fn the_socket_is_mode_0660_and_takes_the_configured_group() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("gateway.sock");
    let gid = nix::unistd::getegid().as_raw();
    let _listener = GatewayListener::bind_unix(&path, Some(&gid.to_string())).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    let unknown = dir.path().join("other.sock");
    let error = GatewayListener::bind_unix(&unknown, Some("no-such-group-here")).unwrap_err();
    assert!(error.to_string().contains("no-such-group-here"), "{error}");
}

#[tokio::test]
async fn a_missing_socket_directory_is_named() {
    let error =
        GatewayListener::bind_unix("/nonexistent/agtpd/gateway.sock".as_ref(), None).unwrap_err();
    assert!(matches!(error, BindError::MissingDirectory(_)));
    assert!(
        error.to_string().contains("`/nonexistent/agtpd`"),
        "{error}"
    );
}

#[test]
fn the_binary_exits_71_naming_a_missing_socket_directory() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let output = Command::new(env!("CARGO_BIN_EXE_agtpd"))
        .args(["--listen", "127.0.0.1:0", "--endpoints-dir"])
        .arg(site.dir.path().join("endpoints"))
        .args(["--gateway-socket", "/nonexistent/agtpd/gateway.sock"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(71));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/agtpd"), "{stderr}");
}

#[test]
fn a_non_loopback_gateway_address_is_a_configuration_error() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("agtpd.toml");
    std::fs::write(&path, "[gateway]\ntcp_listen = \"0.0.0.0:4490\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_agtpd"))
        .args(["--check-config", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gateway.tcp_listen"), "{stderr}");
    let config = Config {
        gateway: GatewayConfig {
            tcp_listen: Some("[::1]:4490".parse().unwrap()),
            ..GatewayConfig::default()
        },
        ..Config::default()
    };
    config.validate(false).unwrap();
}

#[tokio::test]
async fn a_runtime_can_connect_over_ipv6_loopback_tcp_and_nowhere_else() {
    let public = GatewayListener::bind_tcp("0.0.0.0:0".parse().unwrap()).await;
    assert!(matches!(public, Err(BindError::NotLoopback(_))));
    let site = Site::new(&[Endpoint::query("/things")]);
    let listener = GatewayListener::bind_tcp("[::1]:0".parse().unwrap())
        .await
        .unwrap();
    let target = format!("tcp:{}", listener.describe());
    let server = TestDaemon::in_process(site.config())
        .gateway(listener)
        .start()
        .await;
    let _runtime = Runtime::spawn(&target, site.dir.path(), "ok", &[]);
    ready(&server, "default", 1).await;
    let response = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(response.status.code(), 200);
}
