//! The one-off tasks `agtpd` runs instead of serving: `keygen`, `conformance`,
//! `audit verify`, `health`, `status`, the internal `__runtime-shim` and `__man-pages`,
//! `--list-modules` and `--check-config`.

use std::process::ExitCode;

use crate::cli::{AuditCommand, Cli, Command, KeygenArgs, ManPagesArgs, Overrides};
use crate::config::Source;
use crate::exit::ExitStatus;
use crate::server::Daemon;

/// Runs `command` and returns the process exit code.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Keygen(args) => exit(keygen(&args)),
        Command::RuntimeShim(args) => exit(crate::supervisor::runtime_shim(&args)),
        Command::ManPages(args) => exit(man_pages(&args)),
        Command::Audit(AuditCommand::Verify(args)) => {
            ExitCode::from(crate::modules::audit_verify(&args))
        }
        Command::Health(args) => exit(crate::admin::client::health(&args)),
        Command::Status(args) => exit(crate::admin::client::status(&args)),
        Command::Conformance(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => ExitCode::from(
                u8::try_from(runtime.block_on(runtime_conformance::run(args))).unwrap_or(1),
            ),
            Err(error) => {
                eprintln!("agtpd conformance: cannot start the async runtime: {error}");
                exit(ExitStatus::Software)
            }
        },
    }
}

fn exit(status: ExitStatus) -> ExitCode {
    ExitCode::from(status as u8)
}

/// Where the configuration comes from: the file, the environment, and the flags.
pub fn source(cli: &Cli) -> Source<Overrides> {
    Source {
        file: cli.config.clone(),
        flags: cli.overrides(),
        insecure: cli.insecure,
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
    match crate::config::load(&source(cli)).and_then(|c| Daemon::check(&c)) {
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
    match crate::signing::keygen(&args.out) {
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

/// `agtpd __man-pages DIR`: one page for `agtpd` and one per visible subcommand,
/// rendered from the same clap definitions as `--help`.
fn man_pages(args: &ManPagesArgs) -> ExitStatus {
    use clap::CommandFactory;
    match clap_mangen::generate_to(Cli::command(), &args.dir) {
        Ok(()) => ExitStatus::Clean,
        Err(error) => {
            eprintln!(
                "agtpd __man-pages: cannot write into {}: {error}",
                args.dir.display()
            );
            ExitStatus::CantCreate
        }
    }
}
