//! mod-proxy in the real `agtpd` binary: `--check-config` and start-up with proxy
//! endpoints, and an upstream daemon killed with SIGKILL in the middle of a load (and the
//! module's samples on the daemon's `/metrics`).

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::proxy::{proxy_endpoint, uri};
use crate::AGTPD;
use agtpd_harness::admin::{sample, scrape};
use agtpd_harness::{body, query, Endpoint, Site, MISBEHAVING};
use agtpd_harness::{error_code, Client};
use agtpd_harness::{write_config, TestDaemon};
use nix::sys::signal::Signal;
use tokio::net::TcpStream;

/// A site whose `QUERY /things` is a proxy binding with `handler` lines, and its config
/// file with `extra` appended; the gateway socket path is in a directory that does not
/// exist, so a daemon that tried to open it would fail.
fn proxy_site(handler: &str, extra: &str) -> (Site, String) {
    let site = Site::new(&[]);
    let dir = site.dir.path();
    let file = proxy_endpoint(&Endpoint::query("/things"), handler);
    std::fs::write(dir.join("endpoints/things.toml"), file).unwrap();
    let path = write_config(dir, &dir.join("missing/gateway.sock"), extra);
    (site, path.display().to_string())
}

fn check(config: &str, args: &[&str]) -> Output {
    Command::new(AGTPD)
        .args(["--config", config, "--check-config"])
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_config_refuses_a_proxy_endpoint_unless_the_proxy_module_is_loaded() {
    let (_site, config) = proxy_site("upstream = \"agtp://127.0.0.1:4481\"", "");
    let refused = check(&config, &[]);
    assert_eq!(refused.status.code(), Some(78), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(message.contains("things.toml"), "{message}");
    assert!(
        message.contains("handler type `proxy` needs the `proxy` module"),
        "{message}"
    );
    let accepted = check(&config, &["--load-module", "proxy"]);
    assert_eq!(accepted.status.code(), Some(0), "{}", stderr(&accepted));
}

#[test]
fn check_config_refuses_bad_upstreams_in_an_endpoint_or_the_catch_all() {
    let (_site, config) = proxy_site("upstream = \"http://127.0.0.1:4481\"", "");
    let output = check(&config, &["--load-module", "proxy"]);
    assert_eq!(output.status.code(), Some(78));
    assert!(
        stderr(&output)
            .contains("module `proxy`: `handler.upstreams`: `http://`: not an AGTP URI scheme"),
        "{}",
        stderr(&output)
    );
    let (_site, config) = proxy_site(
        "upstream = \"agtp://127.0.0.1:4481\"",
        "[modules]\nload = [\"proxy\"]\n[modules.proxy]\ncatch_all = [\"agtp://a:1\", \"agtp://a:1\"]\n",
    );
    let output = check(&config, &[]);
    assert_eq!(output.status.code(), Some(78));
    assert!(
        stderr(&output).contains("module `proxy`: `catch_all`: `agtp://a:1` is listed twice"),
        "{}",
        stderr(&output)
    );
}

/// agtpd serving `QUERY /things` through a supervised `misbehaving.py ok` runtime.
fn origin(site: &Site) -> TestDaemon {
    let runtime = format!(
        "server_id = \"origin\"\n\n[[runtime]]\npool = \"default\"\ncommand = \"python3\"\n\
         args = [{MISBEHAVING:?}, \"ok\", \"--connections\", \"4\"]\n"
    );
    let path = write_config(site.dir.path(), &site.socket, &runtime);
    let path_var = std::env::var("PATH").unwrap();
    TestDaemon::binary(crate::AGTPD)
        .config(path.to_str().unwrap())
        .envs(&[("PATH", &path_var)])
        .args(&[])
        .start()
}

#[tokio::test]
async fn an_upstream_killed_mid_load_gives_each_request_one_answer_200_or_502_and_no_hang() {
    let origin_site = Site::new(&[Endpoint::query("/things")]);
    let origin = origin(&origin_site);
    let handler = format!("upstream = \"{}\"\ntimeout = \"5s\"", uri(origin.addr));
    let (_edge_site, edge_config) = proxy_site(&handler, "server_id = \"edge\"\n");
    // A proxy-only daemon opens no gateway socket (its directory does not even exist).
    let edge = TestDaemon::binary(crate::AGTPD)
        .config(&edge_config)
        .envs(&[])
        .args(&["--load-module", "proxy", "--admin-listen", "127.0.0.1:0"])
        .start();
    assert_eq!(edge.ready()["fields"]["modules"], "proxy");
    // Wait until the origin's runtime answers through the edge.
    let mut probe = edge.client().await;
    let started = Instant::now();
    while probe.exchange(query("/things", "{}")).await.status.code() != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "origin never ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let load_for = Duration::from_millis(1500);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let addr = edge.addr;
            tokio::spawn(async move {
                let mut client = Client::new(TcpStream::connect(addr).await.unwrap());
                let mut seen = Vec::new();
                let started = Instant::now();
                while started.elapsed() < load_for {
                    let answer = tokio::time::timeout(
                        Duration::from_secs(10),
                        client.exchange(query("/things", "{}")),
                    )
                    .await
                    .expect("every request is answered, none hangs");
                    let code = match answer.status.code() {
                        200 => "ok".to_owned(),
                        _ => format!("{} {}", answer.status.code(), error_code(&answer)),
                    };
                    seen.push(code);
                }
                seen
            })
        })
        .collect();
    // Killed once the load has been flowing through both daemons for a while.
    origin
        .until_events(100, |e| e["target"] == "agtpd::access")
        .await;
    origin.signal(Signal::SIGKILL);

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for worker in workers {
        for code in worker.await.unwrap() {
            *outcomes.entry(code).or_default() += 1;
        }
    }
    assert!(outcomes.get("ok").is_some_and(|n| *n > 0), "{outcomes:?}");
    let failed: usize = outcomes
        .iter()
        .filter(|(code, _)| code.as_str() != "ok")
        .map(|(code, n)| {
            let allowed = ["502 upstream-closed", "502 upstream-unreachable"];
            assert!(allowed.contains(&code.as_str()), "{outcomes:?}");
            *n
        })
        .sum();
    assert!(failed > 0, "{outcomes:?}");
    // The edge keeps serving: a fresh connection gets the 502 at once.
    let started = Instant::now();
    let after = edge.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(
        error_code(&after),
        "upstream-unreachable",
        "{:?}",
        body(&after)
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    // The daemon's /metrics carries the module's samples.
    let metrics = scrape(edge.admin()).await;
    let upstream = uri(origin.addr);
    let requests = sample(
        &metrics,
        "agtpd_proxy_requests_total",
        &[("upstream", &upstream)],
    );
    let total: usize = outcomes.values().sum();
    assert!(
        requests > total as f64,
        "{requests} attempts for {total} requests"
    );
    let refused = [("upstream", upstream.as_str()), ("reason", "connect")];
    assert!(sample(&metrics, "agtpd_proxy_upstream_failures_total", &refused) > 0.0);
    assert_eq!(sample(&metrics, "agtpd_proxy_upstreams_ejected", &[]), 1.0);
}
