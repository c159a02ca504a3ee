//! Shared test harness: a fixed-seed Ed25519 [`TestSigner`], a module on a temp dir,
//! one-call exchanges through `on_complete`, and line-level helpers to tamper with a log
//! (including an independent canonical encoder to re-sign lines).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agtp_core::module::{Completion, Cx, Module, Signer};
use agtp_core::{Headers, Request, Response, Status};
use bytes::Bytes;
use ed25519_dalek::{Signer as _, SigningKey};
use mod_audit::{AuditConfig, AuditModule, FsyncPolicy};
use serde_json::{Map, Value};

/// A signer backed by a fixed seed.
pub struct TestSigner {
    key: SigningKey,
    kid: String,
}

impl TestSigner {
    pub fn new(seed: u8, kid: &str) -> Arc<TestSigner> {
        Arc::new(TestSigner {
            key: SigningKey::from_bytes(&[seed; 32]),
            kid: kid.to_owned(),
        })
    }
}

impl Signer for TestSigner {
    fn key_id(&self) -> &str {
        &self.kid
    }
    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// The daemon's key in these tests.
pub fn signer() -> Arc<TestSigner> {
    TestSigner::new(7, "test-key")
}

/// Some other key.
pub fn intruder() -> Arc<TestSigner> {
    TestSigner::new(9, "test-key")
}

pub fn public_key() -> [u8; 32] {
    signer().public_key()
}

/// A config on `dir/audit.log` with `fsync = "always"`.
pub fn config(dir: &Path) -> AuditConfig {
    let mut c = AuditConfig::new(dir.join("audit.log"));
    c.fsync = FsyncPolicy::Always;
    c
}

pub fn open(config: AuditConfig) -> AuditModule {
    AuditModule::open(config, signer(), "srv-test").expect("module opens")
}

/// A request as the parser would produce it.
pub fn request(method: &str, path: &str, agent: &str, body: &str) -> Request {
    let mut r = Request::new(method, Some(path));
    r.headers.append("Agent-ID", agent);
    r.headers.append("Request-ID", format!("req-{path}"));
    r.headers.append("Task-ID", "task-1");
    r.body = Bytes::from(body.to_owned());
    r
}

pub fn response(status: u16, body: &str) -> Response {
    let mut r = Response::new(Status::from_code(status).expect("valid status"));
    r.headers.append("Response-ID", "resp-0123456789ab");
    r.body = Bytes::from(body.to_owned());
    r
}

/// Runs `on_complete` for one exchange; returns the headers the module added.
pub async fn exchange(
    module: &dyn Module,
    request: Option<&Request>,
    response: &Response,
    cx: &Cx,
) -> Headers {
    let mut added = Headers::new();
    let mut done = Completion {
        request,
        response,
        added_headers: &mut added,
        cx,
        elapsed: Duration::from_millis(12),
    };
    module.on_complete(&mut done).await;
    added
}

/// `n` ordinary 200 exchanges.
pub async fn ok_exchanges(module: &dyn Module, n: usize) {
    let cx = Cx::default();
    for i in 0..n {
        let req = request(
            "BOOK",
            &format!("/rooms/{i}"),
            "agent-a",
            r#"{"guest":"x"}"#,
        );
        exchange(module, Some(&req), &response(200, r#"{"ok":true}"#), &cx).await;
    }
}

/// A closed log of `n` records in `dir`, with the given checkpoint spacing.
pub async fn closed_log(dir: &Path, n: usize, checkpoint_every: u64) -> PathBuf {
    let mut c = config(dir);
    c.checkpoint_every = checkpoint_every;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, n).await;
    drop(module);
    path
}

pub fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("log readable");
    text.lines().map(str::to_owned).collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("log writable");
}

pub fn parse(line: &str) -> Map<String, Value> {
    match serde_json::from_str(line).expect("line is json") {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Independent canonical encoding: sorted keys, no whitespace.
pub fn canonical(value: &Value) -> String {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// SHA-256 of the entry without `sig`: the entry hash as the crate docs define it.
pub fn entry_hash(line: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut m = parse(line);
    m.remove("sig");
    sha2::Sha256::digest(canonical(&Value::Object(m)).as_bytes()).into()
}

/// Re-signs `fields` (an entry, `sig` ignored) with `signer`; returns the line.
pub fn signed_line(mut fields: Map<String, Value>, signer: &dyn Signer) -> String {
    use base64::Engine as _;
    fields.remove("sig");
    let bytes = canonical(&Value::Object(fields.clone()));
    let sig = signer.sign(bytes.as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    fields.insert("sig".into(), sig.into());
    canonical(&Value::Object(fields))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 1-based line of the first entry whose `kind` is `kind`.
pub fn first_line_of_kind(lines: &[String], kind: &str) -> usize {
    1 + lines
        .iter()
        .position(|l| parse(l)["kind"] == kind)
        .expect("such a line")
}
