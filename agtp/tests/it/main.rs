//! The `agtp` binary against real daemons on loopback (in process, through
//! `agtpd-harness`): every option, the URI forms, the exit codes, timeouts, TLS, the load
//! generator, and the man pages.

#![allow(clippy::unwrap_used)]

mod bench;
mod cli;

/// The binary under test.
const AGTP: &str = env!("CARGO_BIN_EXE_agtp");

#[test]
fn every_flag_in_help_is_documented_in_a_man_page_of_its_command() {
    agtpd_harness::man::check_pages(AGTP, &["agtp.1", "agtp-bench.1"]);
}
