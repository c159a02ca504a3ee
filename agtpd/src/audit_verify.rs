//! `agtpd audit verify`: checks an audit log `mod-audit` wrote, offline.

use std::path::PathBuf;

use mod_audit::{TreeHead, VerifyError, VerifyOptions};

use crate::cli::AuditVerifyArgs;
use crate::ExitStatus;

/// `agtpd audit verify`: exit 0 with a summary, 65 naming the first bad line, 66 when
/// the log or the key cannot be read, 64 for a malformed `--witness`.
pub(crate) fn audit_verify(args: &AuditVerifyArgs) -> ExitStatus {
    let fail = |status, message: String| {
        eprintln!("agtpd audit verify: {message}");
        status
    };
    let witness = match args.witness.as_deref().map(TreeHead::parse) {
        None => None,
        Some(Some(head)) => Some(head),
        Some(None) => return fail(ExitStatus::Usage, "--witness: expected SIZE:HEXROOT".into()),
    };
    let key = match mod_audit::load_public_key(&args.key) {
        Ok(key) => key,
        Err(e) => {
            return fail(
                ExitStatus::NoInput,
                format!("`{}`: {e}", args.key.display()),
            )
        }
    };
    let files: Vec<PathBuf> = match mod_audit::chain_files(&args.path) {
        Ok(files) => files,
        Err(e) => {
            return fail(
                ExitStatus::NoInput,
                format!("`{}`: {e}", args.path.display()),
            )
        }
    };
    let options = VerifyOptions {
        allow_open_tail: args.open_tail,
        witness,
    };
    let report = match mod_audit::verify_with(&files, &key, &options) {
        Ok(report) => report,
        Err(error) => {
            let status = match &error {
                VerifyError::Bad { .. } => ExitStatus::DataErr,
                VerifyError::NoFiles | VerifyError::Io { .. } | VerifyError::InvalidKey => {
                    ExitStatus::NoInput
                }
            };
            let hint = match &error {
                VerifyError::Bad { .. } if !args.open_tail => {
                    " (a log still being written, or left by a killed daemon, ends unsealed: \
                     see --open-tail)"
                }
                _ => "",
            };
            return fail(status, format!("{error}{hint}"));
        }
    };
    println!(
        "ok: {} file(s), {} entries ({} records, {} checkpoints) from seq {}",
        files.len(),
        report.n_entries,
        report.n_records,
        report.n_checkpoints,
        report.first_seq
    );
    println!("tree head: {}", report.head);
    if report.sealed {
        println!("sealed: yes");
    } else {
        println!(
            "sealed: no: {} entries after the last checkpoint are unsealed (the daemon is \
             running or did not stop cleanly)",
            report.unsealed_entries
        );
    }
    if let Some(torn) = &report.torn_tail {
        println!("torn last line: {torn}");
    }
    for recovery in &report.recoveries {
        println!("recovered after an unclean stop: {}", recovery.at);
    }
    ExitStatus::Clean
}
