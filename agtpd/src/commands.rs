//! The one-off tasks `agtpd` runs instead of serving: `keygen` and `conformance`.

use std::process::ExitCode;

use crate::cli::{Command, KeygenArgs};
use crate::ExitStatus;

/// Runs `command` and returns the process exit code.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Keygen(args) => ExitCode::from(keygen(&args) as u8),
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
