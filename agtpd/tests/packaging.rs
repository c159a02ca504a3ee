//! What the Debian package ships from this crate: the man pages `agtpd __man-pages`
//! writes, and the default configuration `packaging/agtpd.toml`. The package itself is
//! built, installed, run and purged by `.ci/deb.sh`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use agtpd::cli::Cli;
use agtpd::config::{self, Config};
use clap::Parser;

const AGTPD: &str = env!("CARGO_BIN_EXE_agtpd");
const AGTP: &str = env!("CARGO_BIN_EXE_agtp");

/// Runs `binary args...` and returns its stdout, failing the test on a non-zero exit.
fn stdout_of(binary: &str, args: &[&str]) -> String {
    let output = Command::new(binary)
        .args(args)
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{binary} {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// The `--long` flags a `--help` text names.
fn long_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| {
            let end = word.find(['=', '<', '.', ')']).unwrap_or(word.len());
            word[..end].to_owned()
        })
        .filter(|flag| flag.len() > 2)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// A man page's text with roff's escaped hyphens made plain.
fn page(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .replace("\\-", "-")
}

#[test]
fn every_flag_in_help_is_documented_in_a_man_page_of_its_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8 path");
    stdout_of(AGTPD, &["__man-pages", out]);

    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read the pages")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    for expected in [
        "agtpd.1",
        "agtpd-keygen.1",
        "agtpd-audit-verify.1",
        "agtp.1",
        "agtp-bench.1",
    ] {
        assert!(
            pages.iter().any(|name| name == expected),
            "no {expected} in {pages:?}"
        );
    }
    for name in &pages {
        // `agtpd-audit-verify.1` documents `agtpd audit verify`.
        let words: Vec<&str> = name.trim_end_matches(".1").split('-').collect();
        let binary = match words[0] {
            "agtpd" => AGTPD,
            "agtp" => AGTP,
            other => panic!("a page for an unknown command: {other}"),
        };
        let help = stdout_of(binary, &[&words[1..], &["--help"]].concat());
        let text = page(dir.path(), name);
        assert!(text.starts_with(".ie"), "{name} is not a roff page");
        let flags = long_flags(&help);
        assert!(flags.contains(&"--help".to_owned()), "{name}: {flags:?}");
        for flag in flags {
            assert!(text.contains(&flag), "{name} does not document {flag}");
        }
    }
    assert!(
        !dir.path().join("agtpd-__runtime-shim.1").exists()
            && !dir.path().join("agtpd-__man-pages.1").exists(),
        "internal subcommands get no page"
    );
}

#[test]
fn man_pages_into_a_missing_directory_fail_with_cant_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no/such/dir");
    let status = Command::new(AGTPD)
        .arg("__man-pages")
        .arg(&missing)
        .status()
        .expect("run agtpd");
    assert_eq!(status.code(), Some(73));
}

#[test]
fn the_packaged_config_is_the_built_in_defaults_plus_the_packaged_directories() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/agtpd.toml");
    let cli = Cli::try_parse_from(["agtpd", "--config", file.to_str().expect("utf-8 path")])
        .expect("flags");
    let packaged = config::load(&cli).expect("packaging/agtpd.toml loads");
    let mut expected = Config {
        agents_dir: Some(PathBuf::from("/etc/agtpd/agents")),
        endpoints_dir: Some(PathBuf::from("/etc/agtpd/endpoints")),
        ..Config::default()
    };
    expected.admin.listen = Some(SocketAddr::from(([127, 0, 0, 1], 4481)));
    assert_eq!(packaged, expected);
    assert!(packaged.listen.iter().all(|addr| addr.ip().is_loopback()));
}
