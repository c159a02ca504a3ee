//! What the Debian package ships from this crate: the man pages `agtpd __man-pages`
//! writes, and the default configuration `packaging/agtpd.toml`. The package itself is
//! built, installed, run and purged by `.ci/deb.sh`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use agtpd::cli::Cli;
use agtpd::config::{self, Config};
use agtpd_harness::man::check_pages;
use clap::Parser;

use crate::AGTPD;

#[test]
fn every_flag_in_help_is_documented_in_a_man_page_of_its_command() {
    let pages = check_pages(
        AGTPD,
        &["agtpd.1", "agtpd-keygen.1", "agtpd-audit-verify.1"],
    );
    assert!(
        !pages.iter().any(|p| p.contains("__")),
        "internal subcommands get no page: {pages:?}"
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
    let packaged =
        config::load(&agtpd::commands::source(&cli)).expect("packaging/agtpd.toml loads");
    let mut expected = Config {
        agents_dir: Some(PathBuf::from("/etc/agtpd/agents")),
        endpoints_dir: Some(PathBuf::from("/etc/agtpd/endpoints")),
        ..Config::default()
    };
    expected.admin.listen = Some(SocketAddr::from(([127, 0, 0, 1], 4481)));
    assert_eq!(packaged, expected);
    assert!(packaged.listen.iter().all(|addr| addr.ip().is_loopback()));
}
