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
    // Building the daemon loads the catalog, agents, endpoints and modules; binds nothing.
    let (config, daemon) = match config::load(&cli).and_then(|c| Daemon::new(&c).map(|d| (c, d))) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("agtpd: configuration error: {error}");
            return exit(ExitStatus::Config);
        }
    };
    let filter = EnvFilter::new(&config.log_level);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agtpd: cannot start the async runtime: {error}");
            return exit(ExitStatus::Software);
        }
    };
    exit(runtime.block_on(agtpd::launch(cli, config, daemon)))
}

fn exit(status: ExitStatus) -> ExitCode {
    ExitCode::from(status as u8)
}
