//! The conformance checker against real runtime processes: the booking sample in Python,
//! Node.js and Go must pass every check (the Rust one is checked by `mod-rust`'s tests),
//! and runtimes broken on purpose must fail with what was expected and what came, and
//! exit code 1.
//!
//! Nothing is skipped when a language is missing: the test fails and says what to install.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use runtime_conformance::{evaluate, run, ConformanceArgs, Report, Status};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/booking")
        .canonicalize()
        .unwrap()
}

/// Panics with `install` unless `program --version` runs.
fn require(program: &str, install: &str) {
    let found = Command::new(program)
        .arg(if program == "go" {
            "version"
        } else {
            "--version"
        })
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(found, "`{program}` is not installed: {install}");
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Every check passes, except `messagepack` for a runtime that speaks JSON only.
/// Every check passes; `messagepack` may also be skipped: the samples' SDKs speak it only
/// when a MessagePack library can be loaded (`msgpack` for Python, `@msgpack/msgpack` for
/// Node.js), and the Go SDK speaks JSON only.
fn assert_conforms(report: &Report) {
    let report_text = report.to_text();
    println!("{report_text}"); // shown with --nocapture
    for check in &report.checks {
        let passed = match check.id {
            "messagepack" => matches!(check.status, Status::Pass | Status::Skip),
            _ => check.status == Status::Pass,
        };
        assert!(passed, "check `{}`:\n{report_text}", check.id);
    }
    assert_eq!(report.exit_code(), 0, "{report_text}");
}

#[tokio::test]
async fn the_python_sample_passes_every_check() {
    require("python3", "install python3 (3.8 or later)");
    let runtime = samples().join("python/runtime.py");
    let args = ConformanceArgs::new(vec!["python3".into(), text(&runtime)]);
    assert_conforms(&evaluate(&args).await.unwrap());
}

#[tokio::test]
async fn the_node_sample_passes_every_check() {
    require("node", "install Node.js 20 or later");
    let runtime = samples().join("node/runtime.js");
    let args = ConformanceArgs::new(vec!["node".into(), text(&runtime)]);
    assert_conforms(&evaluate(&args).await.unwrap());
}

#[tokio::test]
async fn the_go_sample_passes_every_check() {
    require(
        "go",
        "the Go sample needs Debian's golang-go: `apt-get update && apt-get install -y \
         golang-go` (CI installs it)",
    );
    // The binary itself, not `go run`, so that SIGTERM reaches the runtime.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let binary = tmp.join("booking-go");
    let built = Command::new("go")
        .args(["build", "-o", &text(&binary), "."])
        .current_dir(samples().join("go"))
        .env("GOCACHE", tmp.join("go-cache"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "go build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let args = ConformanceArgs::new(vec![text(&binary)]);
    assert_conforms(&evaluate(&args).await.unwrap());
}

/// A runtime that connects and then says nothing.
const SILENT_RUNTIME: &str = "\
import os, socket, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ['AGTP_GATEWAY_SOCKET'])
time.sleep(60)
";

#[tokio::test]
async fn a_runtime_that_never_sends_hello_fails_the_handshake_and_exits_1() {
    require("python3", "install python3 (3.8 or later)");
    let mut args = ConformanceArgs::new(vec!["python3".into(), "-c".into(), SILENT_RUNTIME.into()]);
    args.timeout = Duration::from_secs(1);
    let report = evaluate(&args).await.unwrap();
    let report_text = report.to_text();

    let handshake = report.check("handshake").unwrap();
    assert_eq!(handshake.status, Status::Fail, "{report_text}");
    assert!(
        handshake.problems[0]
            .expected
            .contains("a `hello` frame within 1.0 s"),
        "{report_text}"
    );
    assert_eq!(
        handshake.problems[0].got, "nothing within 1.0 s",
        "{report_text}"
    );
    // Nothing else can be checked without a registered connection, and the report says so.
    let request = report.check("request").unwrap();
    assert_eq!(request.status, Status::NotRun, "{report_text}");
    assert!(
        request.summary.contains("needs a registered connection"),
        "{report_text}"
    );
    assert!(
        report_text.contains("expected: a `hello` frame"),
        "{report_text}"
    );
    assert!(
        report_text.contains("got:      nothing within 1.0 s"),
        "{report_text}"
    );
    assert_eq!(report.exit_code(), 1);

    assert_eq!(run(args).await, 1);
}

#[tokio::test]
async fn a_runtime_that_answers_with_a_wrong_request_id_fails_naming_the_id_it_expected() {
    require("python3", "install python3 (3.8 or later)");
    // The gateway tests' misbehaving runtime, answering every request with another id.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/runtimes/misbehaving.py");
    let mut args = ConformanceArgs::new(vec!["python3".into(), text(&script), "wrong-id".into()]);
    args.timeout = Duration::from_secs(2);
    let report = evaluate(&args).await.unwrap();
    let report_text = report.to_text();
    println!("{report_text}"); // shown with --nocapture

    assert_eq!(
        report.check("handshake").unwrap().status,
        Status::Pass,
        "{report_text}"
    );
    assert_eq!(
        report.check("registration").unwrap().status,
        Status::Pass,
        "{report_text}"
    );
    let request = report.check("request").unwrap();
    assert_eq!(request.status, Status::Fail, "{report_text}");
    let problem = &request.problems[0];
    assert_eq!(
        problem.expected,
        "a `response` to QUERY /rooms/availability carrying request_id `conformance-1`",
        "{report_text}"
    );
    assert!(
        problem
            .got
            .starts_with("a `response` (request_id `conformance-1-wrong`) with a reply"),
        "{report_text}"
    );
    assert_eq!(report.exit_code(), 1, "{report_text}");
}

#[tokio::test]
async fn a_runtime_that_exits_at_once_is_reported_with_its_exit_status() {
    require("python3", "install python3 (3.8 or later)");
    let command = vec![
        "python3".into(),
        "-c".into(),
        "import sys; sys.exit(3)".into(),
    ];
    let mut args = ConformanceArgs::new(command);
    args.timeout = Duration::from_secs(1);
    let report = evaluate(&args).await.unwrap();
    let handshake = report.check("handshake").unwrap();
    assert_eq!(handshake.status, Status::Fail);
    assert_eq!(
        handshake.problems[0].got,
        "none; the runtime exited with status 3",
        "{}",
        report.to_text()
    );
    assert_eq!(report.exit_code(), 1);
}
