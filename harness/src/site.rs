//! A test site: one agent, endpoint files, a gateway socket, in a temp dir, and the
//! requests tests send to it.

use std::path::{Path, PathBuf};

use agtp_core::Response;
use agtpd::config::Config;
use agtpd::gateway::GatewayListener;
use serde_json::Value;
use tempfile::TempDir;

use crate::daemon::{InProcess, TestDaemon};
use crate::runtime::Runtime;

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

    /// An in-process daemon for `config`, its gateway on the site's socket.
    pub fn daemon(&self, config: Config) -> InProcess {
        let listener = GatewayListener::bind_unix(&self.socket, None).unwrap();
        TestDaemon::in_process(config).gateway(listener)
    }

    /// [`Site::daemon`], started.
    pub async fn serve(&self, config: Config) -> TestDaemon {
        self.daemon(config).start().await
    }

    /// Starts `misbehaving.py mode args...` against the socket.
    pub fn runtime(&self, mode: &str, args: &[&str]) -> Runtime {
        Runtime::spawn(self.socket.to_str().unwrap(), self.dir.path(), mode, args)
    }

    /// Writes the site's `agtpd.toml` for the real binary: agents, endpoints and gateway
    /// socket, then `extra`; returns its path.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        write_config(self.dir.path(), &self.socket, extra)
    }
}

/// Writes `dir/agtpd.toml` for the test site in `dir` (`agents/`, `endpoints/`) with its
/// gateway on `socket` and `extra` appended; returns its path.
pub fn write_config(dir: &Path, socket: &Path, extra: &str) -> PathBuf {
    let config = format!(
        "agents_dir = {:?}\nendpoints_dir = {:?}\ngateway_socket = {:?}\n{extra}",
        dir.join("agents"),
        dir.join("endpoints"),
        socket,
    );
    let path = dir.join("agtpd.toml");
    std::fs::write(&path, config).unwrap();
    path
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
