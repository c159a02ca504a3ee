//! The `agtpd` launcher: flags, configuration, logging, then [`agtpd::launch`].

use std::process::ExitCode;

use agtpd::cli::{Cli, LogFormat};
use agtpd::{config, ExitStatus};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    if let Err(message) = agtpd::modules::check_names(&cli.load_module) {
        eprintln!("agtpd: --load-module: {message}");
        return exit(ExitStatus::Usage);
    }
    let config = match config::load(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("agtpd: configuration error: {error}");
            return exit(ExitStatus::Config);
        }
    };
    if cli.check_config {
        println!("agtpd: configuration ok");
        return exit(ExitStatus::Clean);
    }
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
    exit(runtime.block_on(agtpd::launch(cli, config)))
}

fn exit(status: ExitStatus) -> ExitCode {
    ExitCode::from(status as u8)
}
