//! The real `agtpd` binary: flags, exit codes, configuration layers, signals.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::AGTPD;
use agtp_core::Status;
use agtpd_harness::TestDaemon;
use nix::sys::signal::Signal;
use tempfile::TempDir;

fn agtpd(args: &[&str]) -> Output {
    Command::new(AGTPD).args(args).env_clear().output().unwrap()
}

fn config_file(dir: &TempDir, toml: &str) -> String {
    let path = dir.path().join("agtpd.toml");
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_documents_every_flag_and_exits_zero() {
    let output = agtpd(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config",
        "--listen",
        "--check-config",
        "--log-format",
        "--server-id",
        "--insecure",
        "--gateway-socket",
        "--agents-dir",
        "--endpoints-dir",
        "--load-module",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    assert_eq!(agtpd(&["--frobnicate"]).status.code(), Some(64));
    assert_eq!(
        agtpd(&["--listen", "not-an-address"]).status.code(),
        Some(64)
    );
}

#[test]
fn an_unknown_module_is_a_usage_error_naming_it() {
    let output = agtpd(&["--load-module", "nope", "--check-config"]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr(&output).contains("unknown module `nope`"));
    assert!(stderr(&output).contains("known modules: audit, cache"));
}

#[test]
fn list_modules_prints_the_compiled_in_modules() {
    let output = agtpd(&["--list-modules"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "audit
cache
proxy
"
    );
}

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = TempDir::new().unwrap();
    let path = config_file(
        &dir,
        "server_id = \"edge-1\"\n[limits]\nmax_body = 2048\n[timeouts]\nidle = \"5s\"\n",
    );
    let output = agtpd(&["--config", &path, "--check-config"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("configuration ok"));
}

#[test]
fn check_config_refuses_bad_files_with_exit_78_and_a_reason() {
    let dir = TempDir::new().unwrap();
    let cases = [
        ("bogus_key = 1\n", "bogus_key"),
        ("[limits]\nmax_bodyy = 1\n", "max_bodyy"),
        ("[timeouts]\nidle = \"soon\"\n", "idle"),
        ("[timeouts]\nheader = \"0s\"\n", "timeouts.header"),
        ("max_connections = 0\n", "max_connections"),
        ("listen = [\"0.0.0.0:4480\"]\n", "not a loopback address"),
        (
            "listen = [\"0.0.0.0:4480\"]\n[tls]\nallow_plaintext_off_loopback = true\n",
            "--insecure",
        ),
        ("[modules]\nload = [\"nope\"]\n", "unknown module `nope`"),
        ("[modules.nope]\nx = 1\n", "no module `nope` is compiled in"),
        (
            "[modules]\nload = [\"audit\"]\n",
            "module `audit`: missing field `path`",
        ),
        (
            "[modules]\nload = [\"audit\"]\n[modules.audit]\npath = \"a.log\"\nbogus = 1\n",
            "module `audit`: unknown field `bogus`",
        ),
        (
            "[modules]\nload = [\"cache\"]\n[modules.cache]\nmax_entrie = 1\n",
            "module `cache`: unknown field `max_entrie`",
        ),
        (
            "[modules]\nload = [\"cache\"]\n[modules.cache.endpoints.\"QUERY /a\"]\nttl = \"0s\"\n",
            "module `cache`: `endpoints.\"QUERY /a\".ttl` must be more than 0",
        ),
        (
            "[modules]\nload = [\"audit\"]\n[modules.audit]\npath = \"a.log\"\n",
            "[signing] key_file",
        ),
        ("this is not toml", "agtpd.toml"),
    ];
    for (toml, reason) in cases {
        let path = config_file(&dir, toml);
        let output = agtpd(&["--config", &path, "--check-config"]);
        assert_eq!(output.status.code(), Some(78), "{toml:?}");
        assert!(
            stderr(&output).contains(reason),
            "{toml:?}: {}",
            stderr(&output)
        );
    }
    let output = agtpd(&["--config", "/nonexistent/agtpd.toml", "--check-config"]);
    assert_eq!(output.status.code(), Some(78));
    assert!(stderr(&output).contains("/nonexistent/agtpd.toml"));
}

#[test]
fn check_config_loads_the_agents_and_endpoints_and_names_a_broken_file() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/booking");
    let dir = TempDir::new().unwrap();
    let good =
        format!("agents_dir = \"{samples}/agents\"\nendpoints_dir = \"{samples}/endpoints\"\n");
    let output = agtpd(&["--config", &config_file(&dir, &good), "--check-config"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let endpoints = dir.path().join("endpoints");
    std::fs::create_dir(&endpoints).unwrap();
    std::fs::write(
        endpoints.join("typo.toml"),
        "[endpoint]\nmethod = \"QUERY\"\npath = \"/x\"\nsemantik = 1\n",
    )
    .unwrap();
    let broken = format!("endpoints_dir = \"{}\"\n", endpoints.display());
    let output = agtpd(&["--config", &config_file(&dir, &broken), "--check-config"]);
    assert_eq!(output.status.code(), Some(78));
    assert!(stderr(&output).contains("typo.toml"), "{}", stderr(&output));
    let agents = dir.path().join("agents");
    std::fs::create_dir(&agents).unwrap();
    std::fs::write(agents.join("bad.agent.json"), "{\"agent_id\": 1}").unwrap();
    let broken = format!("agents_dir = \"{}\"\n", agents.display());
    let output = agtpd(&["--config", &config_file(&dir, &broken), "--check-config"]);
    assert_eq!(output.status.code(), Some(78));
    assert!(
        stderr(&output).contains("bad.agent.json"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn plaintext_off_loopback_needs_both_the_config_key_and_insecure() {
    let dir = TempDir::new().unwrap();
    let path = config_file(&dir, "[tls]\nallow_plaintext_off_loopback = true\n");
    let flag_only = agtpd(&["--listen", "0.0.0.0:4480", "--insecure", "--check-config"]);
    assert_eq!(flag_only.status.code(), Some(78));
    let both = agtpd(&[
        "--config",
        &path,
        "--listen",
        "0.0.0.0:4480",
        "--insecure",
        "--check-config",
    ]);
    assert_eq!(both.status.code(), Some(0), "{}", stderr(&both));
    let ipv6_loopback = agtpd(&["--listen", "[::1]:4480", "--check-config"]);
    assert_eq!(ipv6_loopback.status.code(), Some(0));
}

/// The `Server-ID` `daemon` answers with.
async fn server_id(daemon: &TestDaemon) -> String {
    let response = daemon
        .client()
        .await
        .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
        .await;
    response.headers.get("Server-ID").unwrap().to_owned()
}

#[tokio::test]
async fn layers_apply_in_order_file_then_environment_then_flags() {
    let dir = TempDir::new().unwrap();
    let path = config_file(&dir, "server_id = \"from-file\"\n");
    let file = TestDaemon::binary(crate::AGTPD).config(&path).start();
    assert_eq!(server_id(&file).await, "from-file");
    let env = TestDaemon::binary(crate::AGTPD)
        .config(&path)
        .envs(&[("AGTPD_SERVER_ID", "from-env")])
        .args(&[])
        .start();
    assert_eq!(server_id(&env).await, "from-env");
    let flag = TestDaemon::binary(crate::AGTPD)
        .config(&path)
        .envs(&[("AGTPD_SERVER_ID", "from-env")])
        .args(&["--server-id", "from-flag"])
        .start();
    assert_eq!(server_id(&flag).await, "from-flag");
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_zero() {
    let dir = TempDir::new().unwrap();
    let running = TestDaemon::binary(crate::AGTPD)
        .config(config_file(&dir, ""))
        .start();
    let mut client = running.client().await;
    client
        .send("AGTP/1.0 DISCOVER /methods\r\nContent-Length: 4\r\n\r\nab")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.send("cd").await;
    let response = client.response().await;
    assert_eq!(response.status, Status::OK);
    assert_eq!(response.headers.get("Connection"), Some("close"));
    assert_eq!(
        tokio::task::spawn_blocking(move || running.wait())
            .await
            .unwrap(),
        Some(0)
    );
}

#[tokio::test]
async fn sighup_reloads_the_file_and_keeps_the_old_config_when_the_new_one_is_broken() {
    let dir = TempDir::new().unwrap();
    let path = config_file(&dir, "server_id = \"before\"\n");
    let running = TestDaemon::binary(crate::AGTPD).config(&path).start();
    assert_eq!(server_id(&running).await, "before");
    std::fs::write(Path::new(&path), "server_id = \"after\"\n").unwrap();
    running.signal(Signal::SIGHUP);
    running.wait_for(|e| agtpd_harness::message(e) == "configuration reloaded");
    assert_eq!(server_id(&running).await, "after");
    std::fs::write(
        Path::new(&path),
        "server_id = \"broken\"\nunknown_key = 1\n",
    )
    .unwrap();
    running.signal(Signal::SIGHUP);
    running.wait_for(|e| {
        agtpd_harness::message(e) == "reload refused; the running configuration stays"
    });
    assert_eq!(
        server_id(&running).await,
        "after",
        "a broken reload changes nothing"
    );
}

/// What agtpd writes to stderr in the human log format, run for a second and then
/// stopped with SIGTERM (by `timeout`); `pty` runs it on a terminal (`script`).
fn human_log(envs: &[(&str, &str)], pty: bool) -> String {
    let dir = TempDir::new().unwrap();
    let config = config_file(&dir, "listen = [\"127.0.0.1:0\"]\n");
    let agtpd = format!("timeout -s TERM 1 {AGTPD} --config {config} 2>&1");
    let mut command = match pty {
        true => Command::new("script"),
        false => Command::new("sh"),
    };
    match pty {
        true => command.args(["-qefc", &agtpd, "/dev/null"]),
        false => command.args(["-c", &agtpd]),
    };
    let output = command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn logs_are_coloured_on_a_terminal_only_and_never_under_no_color() {
    let piped = human_log(&[], false);
    assert!(
        piped.contains("agtpd ready") && piped.contains("stopped"),
        "{piped}"
    );
    assert!(
        !piped.contains('\u{1b}'),
        "no escapes into a pipe: {piped:?}"
    );
    let terminal = human_log(&[], true);
    assert!(terminal.contains("agtpd ready"), "{terminal}");
    assert!(
        terminal.contains('\u{1b}'),
        "colour on a terminal: {terminal:?}"
    );
    let no_color = human_log(&[("NO_COLOR", "1")], true);
    assert!(no_color.contains("agtpd ready"), "{no_color}");
    assert!(!no_color.contains('\u{1b}'), "NO_COLOR wins: {no_color:?}");
}
