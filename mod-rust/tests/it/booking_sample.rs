//! The booking sample on this SDK (`samples/booking/rust`) passes every check of the
//! runtime conformance checker, MessagePack included.

use std::process::Command;

use runtime_conformance::{evaluate, ConformanceArgs, Status};

#[tokio::test]
async fn the_rust_sample_passes_every_check_speaking_messagepack() {
    // Built by the same cargo that runs this test, into the shared target directory.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "booking-rust",
            "--message-format",
            "short",
        ])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "cargo build -p booking-rust failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // This test's executable is target/debug/deps/it-*; the sample is target/debug/.
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().unwrap().with_file_name("booking-rust");
    let args = ConformanceArgs::new(vec![binary.display().to_string()]);
    let report = evaluate(&args).await.unwrap();
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    assert!(failed.is_empty(), "{}", report.to_text());
}
