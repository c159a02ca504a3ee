//! `agtp`: send one AGTP/1.0 request and print the response, or load-test a server with
//! `agtp bench`.
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
        Some(Command::Bench(args)) => bench::run(*args),
        Some(Command::ManPages(args)) => man_pages(&args.dir),
        None => call::run(cli.call),
    }
    .into()
}

/// `agtp __man-pages DIR`: one page for `agtp` and one per visible subcommand, rendered
/// from the same clap definitions as `--help`.
fn man_pages(dir: &std::path::Path) -> Exit {
    let command = <Cli as clap::CommandFactory>::command();
    match clap_mangen::generate_to(command, dir) {
        Ok(()) => Exit::Success,
        Err(error) => {
            eprintln!(
                "agtp __man-pages: cannot write into {}: {error}",
                dir.display()
            );
            Exit::CantCreate
        }
    }
}
