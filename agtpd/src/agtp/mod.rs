//! The `agtp` command: send one AGTP/1.0 request and print the response, or load-test
//! a server with `agtp bench`. `src/bin/agtp.rs` only calls [`main`].
//!
//! Layout:
//! - `cli`: the flags, and the help text that documents URI forms, the plaintext/TLS
//!   rule and the exit codes;
//! - `request`: flags to a request, an origin and client settings (shared);
//! - `call`: one request and its output (`output`);
//! - `bench`: the load generator and its report;
//! - `exit`: the exit codes.
//!
//! All network work goes through [`agtp_core::client`]; nothing here speaks the wire.

mod bench;
mod call;
mod cli;
mod exit;
mod output;
mod request;

use std::process::ExitCode;

use clap::Parser;

use self::cli::{Cli, Command};
use self::exit::Exit;

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// The `agtp` flags as a clap command, for its man pages.
pub(crate) fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Runs `agtp` with `args` (the program name first).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            }
            .into();
        }
    };
    match cli.command {
        Some(Command::Bench(args)) => bench::run(args),
        None => call::run(cli.call),
    }
    .into()
}
