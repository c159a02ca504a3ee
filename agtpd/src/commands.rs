//! The one-off tasks `agtpd` runs instead of serving: `keygen`, `conformance`,
//! `audit verify`, `health`, `status`, the internal `__runtime-shim` and `__man-pages`,
//! `--list-modules` and `--check-config`.

use std::process::ExitCode;

use crate::cli::{AuditCommand, CertCommand, Cli, Command, KeygenArgs, ManPagesArgs, Overrides};
use crate::config::Source;
use crate::exit::ExitStatus;
use crate::server::Daemon;

/// Runs `command` and returns the process exit code.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Keygen(args) => exit(keygen(&args)),
        Command::Cert(command) => exit(cert(command)),
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

/// `agtpd cert ...`: prints what it wrote.
fn cert(command: CertCommand) -> ExitStatus {
    use crate::cert::{self, AgentSpec, Validity};
    let issued = match command {
        CertCommand::Ca {
            out,
            name,
            valid_days,
        } => cert::make_ca(&out, &name, Validity::days(valid_days)),
        CertCommand::Server {
            ca,
            out,
            names,
            valid_days,
        } => cert::issue_server(&ca, &out, &names, Validity::days(valid_days)),
        CertCommand::Agent(args) => {
            let base_name = args
                .out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let spec = AgentSpec {
                common_name: args
                    .common_name
                    .or(base_name)
                    .unwrap_or_else(|| "agent".into()),
                agent_id: args.agent_id,
                principal_id: args.principal_id,
                scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                zone: args.zone,
                trust_tier: args.trust_tier,
                archetype: args.archetype,
                activation_certificate_id: args.activation_certificate_id,
            };
            cert::issue_agent(&args.ca, &args.out, &spec, Validity::days(args.valid_days))
        }
    };
    match issued {
        Ok(issued) => {
            println!("certificate: {}", issued.cert.display());
            println!("key:         {}", issued.key.display());
            if let Some(agent_id) = issued.agent_id {
                println!("agent id:    {agent_id}");
            }
            ExitStatus::Clean
        }
        Err(error) => {
            eprintln!("agtpd cert: {error}");
            match error {
                cert::CertError::Invalid(_) => ExitStatus::DataErr,
                cert::CertError::Read { .. } => ExitStatus::NoInput,
                cert::CertError::Write(_) => ExitStatus::CantCreate,
            }
        }
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
