//! The one-off tasks `agtpd` runs instead of serving: `keygen`, `conformance`,
//! `audit verify`, `health`, `status`, the internal `__runtime-shim` and `__man-pages`,
//! `--list-modules` and `--check-config`.

use std::process::ExitCode;

use crate::cli::{AuditCommand, Cli, Command, KeygenArgs, ManPagesArgs};
use crate::{config, Daemon, ExitStatus};

/// Runs `command` and returns the process exit code.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Keygen(args) => ExitCode::from(keygen(&args) as u8),
        Command::RuntimeShim(args) => ExitCode::from(crate::runtime_shim(&args) as u8),
        Command::ManPages(args) => ExitCode::from(man_pages(&args) as u8),
        Command::Audit(AuditCommand::Verify(args)) => {
            ExitCode::from(crate::audit_verify::audit_verify(&args) as u8)
        }
        Command::Health(target) => ExitCode::from(crate::admin::client::health(&target) as u8),
        Command::Status(args) => ExitCode::from(crate::admin::client::status(&args) as u8),
        Command::Conformance(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => ExitCode::from(
                u8::try_from(runtime.block_on(crate::conformance::run(args))).unwrap_or(1),
            ),
            Err(error) => {
                eprintln!("agtpd conformance: cannot start the async runtime: {error}");
                ExitCode::from(ExitStatus::Software as u8)
            }
        },
    }
}

/// `--list-modules`, and the usage check of `--load-module`; `None` means: go on.
pub fn preflight(cli: &Cli) -> Option<ExitStatus> {
    if cli.list_modules {
        for name in crate::modules::known() {
            println!("{name}");
        }
        return Some(ExitStatus::Clean);
    }
    if let Err(message) = crate::modules::check_names(&cli.load_module) {
        eprintln!("agtpd: --load-module: {message}");
        return Some(ExitStatus::Usage);
    }
    None
}

/// `--check-config`: the configuration, the files it names and every module's table,
/// without opening any module file or socket.
pub fn check_config(cli: &Cli) -> ExitStatus {
    match config::load(cli).and_then(|c| Daemon::check(&c)) {
        Ok(()) => {
            println!("agtpd: configuration ok");
            ExitStatus::Clean
        }
        Err(error) => {
            eprintln!("agtpd: configuration error: {error}");
            ExitStatus::Config
        }
    }
}

/// `agtpd keygen`: writes a new Ed25519 key pair and prints where, with its key id.
fn keygen(args: &KeygenArgs) -> ExitStatus {
    match crate::gateway::keygen(&args.out) {
        Ok(key) => {
            println!("private key: {}", key.private_key.display());
            println!("public key:  {}", key.public_key.display());
            println!("key id:      {}", key.kid);
            ExitStatus::Clean
        }
        Err(error) => {
            eprintln!("agtpd keygen: {error}");
            ExitStatus::CantCreate
        }
    }
}

/// `agtpd __man-pages DIR`: one page per command and visible subcommand of `agtpd` and
/// `agtp`, rendered from the same clap definitions as `--help`.
fn man_pages(args: &ManPagesArgs) -> ExitStatus {
    use clap::CommandFactory;
    for command in [Cli::command(), crate::agtp::command()] {
        let name = command.get_name().to_owned();
        if let Err(error) = clap_mangen::generate_to(command, &args.dir) {
            eprintln!(
                "agtpd __man-pages: {name}: cannot write into {}: {error}",
                args.dir.display()
            );
            return ExitStatus::CantCreate;
        }
    }
    ExitStatus::Clean
}
