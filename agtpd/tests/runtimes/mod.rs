//! What the gateway tests share: a daemon with endpoint files and a temp gateway socket,
//! and real runtime processes (`misbehaving.py`) connected to it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agtp_core::Response;
use agtpd::config::Config;
use agtpd::gateway::{GatewayListener, PoolSnapshot};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::TestServer;

pub mod proxy;

pub const AGENT: &str = "7e5a9d1c3b2f4e6a8c0d2f4b6a8c0e2d4f6b8a0c2e4d6f8a0b2c4e6d8f0a2c4e";

pub const AGENT_DOCUMENT: &str = r#"{
  "agtp_version": "1.0", "document_version": "v2",
  "agent_id": "7e5a9d1c3b2f4e6a8c0d2f4b6a8c0e2d4f6b8a0c2e4d6f8a0b2c4e6d8f0a2c4e",
  "name": "gateway-tester", "role": "agent", "principal": "Tests",
  "principal_id": "tests@example.org", "description": "Drives the gateway tests.",
  "status": "active", "skills": ["Testing"],
  "requires": {"methods": ["QUERY", "BOOK", "FETCH"], "scopes": ["test:run"], "wildcards": false},
  "scopes_accepted": ["test:run"], "trust_tier": 2, "verification_path": "org-asserted",
  "owner_id": "example.org", "issued_at": "2026-05-01T09:00:00Z", "issuer": "example.org"
}"#;

/// One endpoint file: `method path`, served by `pool`, with a handler timeout. Each
/// `{param}` of the path is declared as a required string.
pub struct Endpoint<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub pool: &'a str,
    pub impact: &'a str,
    pub idempotent: bool,
    pub timeout: &'a str,
}

impl Endpoint<'_> {
    pub fn query(path: &str) -> Endpoint<'_> {
        Endpoint {
            method: "QUERY",
            path,
            pool: "default",
            impact: "informational",
            idempotent: true,
            timeout: "30s",
        }
    }

    pub fn toml(&self) -> String {
        let Endpoint {
            method,
            path,
            pool,
            impact,
            idempotent,
            timeout,
        } = self;
        let params: String = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                format!(
                    "[[endpoint.input.required]]\nname = \"{name}\"\ntype = \"string\"\ndescription = \"A path parameter.\"\n"
                )
            })
            .collect();
        format!(
            r#"[endpoint]
method = "{method}"
path = "{path}"
description = "Test endpoint."
[endpoint.semantic]
intent = "Exercise the gateway."
actor = "agent"
outcome = "The runtime answers."
capability = "retrieval"
confidence = 0.9
impact = "{impact}"
is_idempotent = {idempotent}
{params}[[endpoint.input.optional]]
name = "mode"
type = "string"
description = "How the test runtime behaves."
[[endpoint.input.optional]]
name = "delay_ms"
type = "integer"
description = "How long slow-ok sleeps."
[[endpoint.input.optional]]
name = "status"
type = "integer"
description = "The status ok answers."
[[endpoint.input.optional]]
name = "data"
type = "string"
description = "What sign signs."
[[endpoint.input.optional]]
name = "extra"
type = "object"
description = "What ok answers as its attribution_extra."
[[endpoint.output]]
name = "echoed"
type = "object"
description = "The input, echoed."
[endpoint.errors]
list = ["room_unavailable"]
[endpoint.handler]
type = "registered_function"
function = "tests.{pool}"
runtime = "{pool}"
timeout = "{timeout}"
"#
        )
    }
}

/// A directory of agents and endpoint files, and where the gateway socket goes.
pub struct Site {
    pub dir: TempDir,
    pub socket: PathBuf,
}

impl Site {
    pub fn new(endpoints: &[Endpoint<'_>]) -> Site {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("agents")).unwrap();
        std::fs::write(dir.path().join("agents/tester.agent.json"), AGENT_DOCUMENT).unwrap();
        std::fs::create_dir(dir.path().join("endpoints")).unwrap();
        Site::write_endpoints(dir.path(), endpoints);
        let socket = dir.path().join("gateway.sock");
        Site { dir, socket }
    }

    /// Replaces the endpoint files (for reload tests).
    pub fn write_endpoints(dir: &Path, endpoints: &[Endpoint<'_>]) {
        let files = dir.join("endpoints");
        for entry in std::fs::read_dir(&files).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (i, endpoint) in endpoints.iter().enumerate() {
            std::fs::write(files.join(format!("{i:02}.toml")), endpoint.toml()).unwrap();
        }
    }

    pub fn config(&self) -> Config {
        Config {
            agents_dir: Some(self.dir.path().join("agents")),
            endpoints_dir: Some(self.dir.path().join("endpoints")),
            gateway_socket: self.socket.clone(),
            ..Config::default()
        }
    }

    /// A daemon serving this site, its gateway on the temp socket.
    pub async fn serve(&self, config: Config) -> TestServer {
        let listener = GatewayListener::bind_unix(&self.socket, None).unwrap();
        TestServer::start_with_gateway(config, vec![listener]).await
    }

    /// Starts `misbehaving.py mode args...` against the socket.
    pub fn runtime(&self, mode: &str, args: &[&str]) -> Runtime {
        Runtime::spawn(self.socket.to_str().unwrap(), self.dir.path(), mode, args)
    }
}

/// A runtime process, killed when dropped.
pub struct Runtime {
    child: Child,
    log: PathBuf,
}

impl Runtime {
    pub fn spawn(target: &str, dir: &Path, mode: &str, args: &[&str]) -> Runtime {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/runtimes/misbehaving.py");
        let log = dir.join(format!("runtime-{}.log", fastrand::u64(..)));
        let child = Command::new("python3")
            .arg(script)
            .arg(mode)
            .args(args)
            .env("AGTP_GATEWAY_SOCKET", target)
            .env("RUNTIME_LOG", &log)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 runs");
        Runtime { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The events logged so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits until an event satisfies `pred` (at most 5 s) and returns it.
    pub async fn event(&self, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            if let Some(found) = self.events().into_iter().find(|e| pred(e)) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no such runtime event; got {:?}", self.events());
    }

    /// The exit status, waiting at most 5 s.
    pub async fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..500 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("runtime did not exit");
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn pool(server: &TestServer, name: &str) -> PoolSnapshot {
    server
        .daemon
        .gateway()
        .snapshot()
        .into_iter()
        .find(|p| p.pool == name)
        .unwrap_or_else(|| panic!("no pool `{name}`"))
}

/// Waits (at most 5 s) until `pool` satisfies `pred`.
pub async fn until(server: &TestServer, name: &str, pred: impl Fn(&PoolSnapshot) -> bool) {
    for _ in 0..500 {
        if server
            .daemon
            .gateway()
            .snapshot()
            .iter()
            .any(|p| p.pool == name && pred(p))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "pool `{name}` never got there: {:?}",
        server.daemon.gateway().snapshot()
    );
}

/// Waits until `pool` has `n` idle connections.
pub async fn ready(server: &TestServer, name: &str, n: usize) {
    until(server, name, |p| p.n_idle >= n).await;
}

/// `QUERY path` with `input` as the body, as the test agent.
pub fn query(path: &str, input: &str) -> String {
    format!(
        "AGTP/1.0 QUERY {path}\r\nAgent-ID: {AGENT}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{input}",
        input.len()
    )
}

pub fn body(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}
