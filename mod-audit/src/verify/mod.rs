//! Offline verification of a log: every signature, the hash chain, sequence numbers,
//! `file_start` markers, checkpoints (tree size, root, frontier), torn-line markers, and
//! how each file ends. Files are read line by line; memory stays O(log n).
//!
//! The first problem stops verification and is reported with its file, line and seq.

mod checks;
mod error;
pub(crate) mod report;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

pub use error::{Location, Problem, VerifyError};
pub use report::{NewChain, Recovery, TreeHead, VerifyOptions, VerifyReport};

use crate::entry::{parse_line, GENESIS_PREV};
use crate::merkle::Frontier;

/// Checkpoint reasons that close a file.
const CLOSING: [&str; 3] = ["rotate", "reopen", "shutdown"];

/// Verifies the files of one chain, oldest first, strictly: every file must end with a
/// closing checkpoint and the last one with the shutdown checkpoint. See [`verify_with`].
pub fn verify(paths: &[PathBuf], public_key: &[u8; 32]) -> Result<VerifyReport, VerifyError> {
    verify_with(paths, public_key, &VerifyOptions::default())
}

/// Verifies the files of one chain, oldest first, with `options`.
pub fn verify_with(
    paths: &[PathBuf],
    public_key: &[u8; 32],
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let Some((last, earlier)) = paths.split_last() else {
        return Err(VerifyError::NoFiles);
    };
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| VerifyError::InvalidKey)?;
    let mut v = Verifier {
        key,
        options,
        frontier: None,
        prev: GENESIS_PREV,
        first_seq: 0,
        since_checkpoint: 0,
        counts: [0; 2],
        recoveries: Vec::new(),
        new_chain: None,
        witness_done: false,
        last_at: None,
    };
    for path in earlier {
        v.file(path, false)?;
    }
    let (sealed, torn_tail) = v.file(last, true)?;
    v.finish(sealed, torn_tail)
}

/// Lines that are not entries, waiting for a torn-line marker to account for them.
struct Junk {
    first: Location,
    problem: Problem,
    hasher: Sha256,
    len: u64,
}

struct Verifier<'a> {
    key: VerifyingKey,
    options: &'a VerifyOptions,
    frontier: Option<Frontier>,
    prev: [u8; 32],
    first_seq: u64,
    since_checkpoint: u64,
    /// Records, checkpoints.
    counts: [u64; 2],
    recoveries: Vec<Recovery>,
    new_chain: Option<NewChain>,
    witness_done: bool,
    last_at: Option<Location>,
}

fn bad(at: Location, problem: Problem) -> VerifyError {
    VerifyError::Bad { at, problem }
}

impl Verifier<'_> {
    /// Checks one file; returns whether it ends sealed, and its torn tail if allowed.
    fn file(
        &mut self,
        path: &Path,
        is_last: bool,
    ) -> Result<(bool, Option<Location>), VerifyError> {
        let io = |source| VerifyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io)?);
        let open_tail_ok = is_last && self.options.allow_open_tail;
        let mut buf = Vec::new();
        let mut line = 0u64;
        let mut junk: Option<Junk> = None;
        let mut last: Option<(Location, Option<String>)> = None;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            line += 1;
            let at = |seq| Location {
                file: path.to_owned(),
                line,
                seq,
            };
            let complete = buf.last() == Some(&b'\n');
            let content = if complete { &buf[..n - 1] } else { &buf[..] };
            let parsed = if complete {
                parse_line(content)
            } else {
                Err(Problem::TornLine)
            };
            match parsed {
                Ok(entry) => {
                    let here = at(Some(entry.seq));
                    self.entry(&entry, &here, junk.take(), last.is_none())?;
                    self.last_at = Some(here.clone());
                    last = Some((here, entry.reason().map(str::to_owned)));
                }
                Err(problem) => {
                    let j = junk.get_or_insert_with(|| Junk {
                        first: at(None),
                        problem,
                        hasher: Sha256::new(),
                        len: 0,
                    });
                    if j.first.line != line {
                        j.hasher.update(b"\n");
                        j.len += 1;
                    }
                    j.hasher.update(content);
                    j.len += content.len() as u64;
                }
            }
        }
        if let Some(j) = junk {
            if !open_tail_ok {
                return Err(bad(j.first, j.problem));
            }
            return Ok((false, Some(j.first)));
        }
        let Some((at, reason)) = last else {
            if open_tail_ok {
                return Ok((false, None));
            }
            let at = Location {
                file: path.to_owned(),
                line: 1,
                seq: None,
            };
            return Err(bad(
                at,
                Problem::Truncated("the file holds no entries".into()),
            ));
        };
        let closing = reason.as_deref().is_some_and(|r| CLOSING.contains(&r));
        let complete = if is_last {
            reason.as_deref() == Some("shutdown")
        } else {
            closing
        };
        match (complete, closing) {
            (true, _) => Ok((true, None)),
            (false, _) if open_tail_ok => Ok((closing, None)),
            (false, true) => Err(bad(
                at,
                Problem::Truncated("the log continues in a later file that is missing".into()),
            )),
            (false, false) => Err(bad(
                at,
                Problem::Truncated("its last entry is not a closing checkpoint".into()),
            )),
        }
    }
}
