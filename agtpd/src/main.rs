//! The `agtpd` launcher: flags, configuration, logging, then [`agtpd::launch`].

use std::process::ExitCode;

use agtpd::cli::Cli;
use agtpd::{config, Daemon, ExitStatus};
use clap::Parser;

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
    let source = agtpd::commands::source(&cli);
    let config = match config::load(&source) {
        Ok(config) => config,
        Err(error) => return config_error(&error),
    };
    // Logging first, so what building the daemon reports (an audit log's recovery) shows;
    // the span exporter, if any, flushes when this goes out of scope, after serving.
    let _spans = agtpd::logging::init(config.log_format, &config.log_level, &config.tracing);
    // Building the daemon loads the catalog, agents, endpoints and modules; binds nothing.
    let daemon = match Daemon::new(&config) {
        Ok(daemon) => daemon,
        Err(error) => return config_error(&error),
    };
    exit(agtpd::launch::serve_blocking(source, config, daemon))
}

fn config_error(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("agtpd: configuration error: {error}");
    exit(ExitStatus::Config)
}

fn exit(status: ExitStatus) -> ExitCode {
    ExitCode::from(status as u8)
}
