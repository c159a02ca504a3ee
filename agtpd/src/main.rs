//! The `agtpd` launcher: flags, configuration, logging, then [`agtpd::launch`].

use std::process::ExitCode;

use agtpd::cli::{Cli, LogFormat};
use agtpd::{config, Daemon, ExitStatus};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return exit(if error.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Clean
            });
        }
    };
    if let Some(command) = cli.command.take() {
        return agtpd::commands::run(command);
    }
    if let Some(status) = agtpd::commands::preflight(&cli) {
        return exit(status);
    }
    if cli.check_config {
        return exit(agtpd::commands::check_config(&cli));
    }
    let config = match config::load(&cli) {
        Ok(config) => config,
        Err(error) => return config_error(&error),
    };
    // Logging first, so what building the daemon reports (an audit log's recovery) shows.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log_level))
        .with_ansi(colour())
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    // Building the daemon loads the catalog, agents, endpoints and modules; binds nothing.
    let daemon = match Daemon::new(&config) {
        Ok(daemon) => daemon,
        Err(error) => return config_error(&error),
    };
    exit(agtpd::serve_blocking(cli, config, daemon))
}

/// Colour only for a person at a terminal, and never under `NO_COLOR` (no-color.org).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

fn config_error(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("agtpd: configuration error: {error}");
    exit(ExitStatus::Config)
}

fn exit(status: ExitStatus) -> ExitCode {
    ExitCode::from(status as u8)
}
