//! `agtpd audit verify`, the offline check of a log this module wrote: what it prints and
//! the exit code it ends with, so the daemon's command line only passes its flags on.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::files::chain_files;
use crate::keys::load_public_key;
use crate::verify::report::TreeHead;
use crate::verify::{verify_with, VerifyError, VerifyOptions};

/// Exit code: the log verified.
pub const EXIT_OK: u8 = 0;
/// Exit code: a malformed `--witness` (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit code: the log failed verification (EX_DATAERR).
pub const EXIT_BAD_LOG: u8 = 65;
/// Exit code: the log or the key cannot be read (EX_NOINPUT).
pub const EXIT_NO_INPUT: u8 = 66;

/// One verification: the log at `path` (rotated predecessors beside it) against `key`.
#[derive(Debug, Clone, Copy)]
pub struct VerifyCommand<'a> {
    /// The current log file.
    pub path: &'a Path,
    /// The daemon's public key (`signing.pub`).
    pub key: &'a Path,
    /// Accept unsealed entries after the last checkpoint.
    pub open_tail: bool,
    /// A tree head seen earlier, `SIZE:HEXROOT`, that the log must extend.
    pub witness: Option<&'a str>,
}

impl VerifyCommand<'_> {
    /// Verifies, writes the summary to `out` or the failure to `err`, and returns the
    /// exit code.
    pub fn run(&self, out: &mut impl Write, err: &mut impl Write) -> u8 {
        match self.verify(out) {
            Ok(()) => EXIT_OK,
            Err((code, message)) => {
                let _ = writeln!(err, "agtpd audit verify: {message}");
                code
            }
        }
    }

    fn verify(&self, out: &mut impl Write) -> Result<(), (u8, String)> {
        let witness = match self.witness.map(TreeHead::parse) {
            None => None,
            Some(Some(head)) => Some(head),
            Some(None) => return Err((EXIT_USAGE, "--witness: expected SIZE:HEXROOT".into())),
        };
        let key = load_public_key(self.key)
            .map_err(|e| (EXIT_NO_INPUT, format!("`{}`: {e}", self.key.display())))?;
        let files: Vec<PathBuf> = chain_files(self.path)
            .map_err(|e| (EXIT_NO_INPUT, format!("`{}`: {e}", self.path.display())))?;
        let options = VerifyOptions {
            allow_open_tail: self.open_tail,
            witness,
        };
        let report = verify_with(&files, &key, &options).map_err(|error| {
            let code = match &error {
                VerifyError::Bad { .. } => EXIT_BAD_LOG,
                VerifyError::NoFiles | VerifyError::Io { .. } | VerifyError::InvalidKey => {
                    EXIT_NO_INPUT
                }
            };
            let hint = match &error {
                VerifyError::Bad { .. } if !self.open_tail => {
                    " (a log still being written, or left by a killed daemon, ends unsealed: \
                     see --open-tail)"
                }
                _ => "",
            };
            (code, format!("{error}{hint}"))
        })?;
        let mut lines = vec![
            format!(
                "ok: {} file(s), {} entries ({} records, {} checkpoints) from seq {}",
                files.len(),
                report.n_entries,
                report.n_records,
                report.n_checkpoints,
                report.first_seq
            ),
            format!("tree head: {}", report.head),
        ];
        lines.push(if report.sealed {
            "sealed: yes".to_owned()
        } else {
            format!(
                "sealed: no: {} entries after the last checkpoint are unsealed (the daemon is \
                 running or did not stop cleanly)",
                report.unsealed_entries
            )
        });
        if let Some(torn) = &report.torn_tail {
            lines.push(format!("torn last line: {torn}"));
        }
        for recovery in &report.recoveries {
            lines.push(format!("recovered after an unclean stop: {}", recovery.at));
        }
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        Ok(())
    }
}
