//! The audit-log verifier: any file is a report or a located problem, never a panic,
//! strict or with `--open-tail`; a log that verifies strictly also verifies open-tailed,
//! with the same tree head. The seeds are real logs signed by `seeds/audit.pub`'s key.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mod_audit::{parse_public_key, verify_with, VerifyOptions};

fn setup() -> &'static (PathBuf, [u8; 32]) {
    static SETUP: OnceLock<(PathBuf, [u8; 32])> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("agtpd-fuzz-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let key = parse_public_key(include_str!("../seeds/audit.pub")).expect("the seed key");
        (dir.join("audit.log"), key)
    })
}

fuzz_target!(|data: &[u8]| {
    let (path, key) = setup();
    std::fs::write(path, data).expect("the scratch log is writable");
    let paths = std::slice::from_ref(path);
    let strict = verify_with(paths, key, &VerifyOptions::default());
    let open = VerifyOptions {
        allow_open_tail: true,
        ..VerifyOptions::default()
    };
    let open_tail = verify_with(paths, key, &open);
    if let Ok(report) = strict {
        let open_report = open_tail.expect("a sealed log also verifies open-tailed");
        assert_eq!(open_report.head, report.head);
    }
});
