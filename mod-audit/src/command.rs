//! `agtpd audit verify`, the offline check of a log this module wrote: what it prints and
//! the exit code it ends with, so the daemon's command line only passes its flags on.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::files::{chain_files, head_path, set_aside_files};
use crate::keys::load_public_key;
use crate::verify::report::TreeHead;
use crate::verify::{verify_with, Problem, VerifyError, VerifyOptions};

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
    /// A tree head seen earlier, `SIZE:HEXROOT`, that the log must extend; without one,
    /// the head the daemon keeps in `PATH.head`.
    pub witness: Option<&'a str>,
    /// Accept a chain that starts over, and set-aside files beside the log, reporting
    /// them instead of failing.
    pub accept_set_aside: bool,
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
        let no_input = |path: &Path, e: &dyn std::fmt::Display| {
            (EXIT_NO_INPUT, format!("`{}`: {e}", path.display()))
        };
        let (witness, witness_from) = match self.witness {
            Some(text) => match TreeHead::parse(text) {
                Some(head) => (Some(head), "--witness".to_owned()),
                None => return Err((EXIT_USAGE, "--witness: expected SIZE:HEXROOT".into())),
            },
            None => self.kept_head()?,
        };
        let key = load_public_key(self.key).map_err(|e| no_input(self.key, &e))?;
        let files: Vec<PathBuf> = chain_files(self.path).map_err(|e| no_input(self.path, &e))?;
        let set_aside = set_aside_files(self.path).map_err(|e| no_input(self.path, &e))?;
        if !set_aside.is_empty() && !self.accept_set_aside {
            let names: Vec<String> = set_aside.iter().map(|p| p.display().to_string()).collect();
            return Err((
                EXIT_BAD_LOG,
                format!(
                    "{} file(s) were set aside beside the log, so the chain does not cover \
                     everything written: {} (inspect them, then see --accept-set-aside)",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
        let options = VerifyOptions {
            allow_open_tail: self.open_tail,
            witness,
            accept_set_aside: self.accept_set_aside,
        };
        let report = verify_with(&files, &key, &options).map_err(|error| {
            let code = match &error {
                VerifyError::Bad { .. } => EXIT_BAD_LOG,
                VerifyError::NoFiles | VerifyError::Io { .. } | VerifyError::InvalidKey => {
                    EXIT_NO_INPUT
                }
            };
            let hint = match error.problem() {
                Some(Problem::Truncated(_) | Problem::TornLine) if !self.open_tail => {
                    " (a log still being written, or left by a killed daemon, ends unsealed: \
                     see --open-tail)"
                }
                Some(Problem::SetAside(_)) => " (see --accept-set-aside)",
                Some(Problem::Witness(_)) if self.witness.is_none() => {
                    " (the witness is the tree head the daemon keeps in PATH.head)"
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
        if let Some(head) = witness {
            lines.push(format!("witness: {head} ({witness_from}) is in the log"));
        }
        for recovery in &report.recoveries {
            lines.push(format!("recovered after an unclean stop: {}", recovery.at));
        }
        if let Some(start) = &report.new_chain {
            lines.push(format!("chain starts over at {}: {start}", start.at));
        }
        for file in &set_aside {
            lines.push(format!("set aside (not verified here): {}", file.display()));
        }
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        Ok(())
    }

    /// The tree head in `PATH.head`, and where it came from; none when the file is absent.
    fn kept_head(&self) -> Result<(Option<TreeHead>, String), (u8, String)> {
        let path = head_path(self.path);
        match std::fs::read_to_string(&path) {
            Ok(text) => match TreeHead::parse(&text) {
                Some(head) => Ok((Some(head), path.display().to_string())),
                None => Err((
                    EXIT_BAD_LOG,
                    format!("`{}` does not hold a tree head (SIZE:ROOT)", path.display()),
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, String::new())),
            Err(e) => Err((EXIT_NO_INPUT, format!("`{}`: {e}", path.display()))),
        }
    }
}
