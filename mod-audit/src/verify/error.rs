//! What verification reports when a log does not check out: the place ([`Location`]: file,
//! line, sequence number) and the [`Problem`] found there.

use std::fmt;
use std::path::PathBuf;

/// Where a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The log file.
    pub file: PathBuf,
    /// The 1-based line number in that file.
    pub line: u64,
    /// The entry's sequence number, when the line carries a readable one.
    pub seq: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
        match self.seq {
            Some(seq) => write!(f, " (seq {seq})"),
            None => Ok(()),
        }
    }
}

/// Why an entry, or the log around it, fails verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The line is not a canonical log entry and no signed torn-line marker accounts for it.
    #[error("not a log entry: {0}")]
    NotAnEntry(String),
    /// The last line has no newline: a write cut short (see
    /// `VerifyOptions::allow_open_tail`) or a cut through a line.
    #[error("torn line (no newline at the end of the file)")]
    TornLine,
    /// The entry uses a format version this crate does not know.
    #[error("unsupported entry version {0}")]
    UnsupportedVersion(u64),
    /// `alg` is not `EdDSA` (e.g. `none`) or the signature is missing or empty.
    #[error("unsigned entry (alg {alg:?}, signature missing, empty or malformed)")]
    Unsigned {
        /// The `alg` the entry claims.
        alg: String,
    },
    /// The signature does not verify with the given public key: an edit, or a record
    /// signed by another key.
    #[error("signature does not verify with the given public key (entry kid {kid:?})")]
    BadSignature {
        /// The `kid` the entry claims.
        kid: String,
    },
    /// The sequence number is not the next one: a deletion, an insertion or a reordering.
    #[error("sequence number {found}, expected {expected}")]
    SeqMismatch {
        /// The number the chain expects here.
        expected: u64,
        /// The number the entry carries.
        found: u64,
    },
    /// `prev` is not the hash of the entry before it.
    #[error("prev does not match the hash of the entry before it")]
    PrevMismatch,
    /// The first entry of the first file neither opens the chain (seq 0) nor carries a
    /// `file_start` marker to resume from.
    #[error("the first entry neither opens the chain nor carries a file_start marker")]
    NoStart,
    /// A file's first entry lacks `file_start`, or a later entry carries one.
    #[error("file_start marker {0}")]
    FileStart(&'static str),
    /// A checkpoint (or `file_start`) disagrees with the entries before it.
    #[error("checkpoint {0} does not match the entries before it")]
    CheckpointMismatch(&'static str),
    /// A torn-line marker does not describe the bytes in front of its entry.
    #[error("torn-line marker does not match the bytes before it")]
    TornMarkerMismatch,
    /// The file ends without a closing checkpoint (rotate, reopen or shutdown): its tail
    /// was truncated, or it is still being written (see `VerifyOptions::allow_open_tail`).
    #[error("truncated: the file does not end with a closing checkpoint ({0})")]
    Truncated(String),
    /// The chain starts over because the daemon set its predecessor aside (or found it
    /// gone); see `VerifyOptions::accept_set_aside`.
    #[error("the chain starts over: {0}")]
    SetAside(String),
    /// The log does not contain the tree head a witness recorded.
    #[error("witnessed tree head not matched: {0}")]
    Witness(String),
}

/// A failed verification.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No paths were given.
    #[error("no log files to verify")]
    NoFiles,
    /// The public key is not a valid Ed25519 point.
    #[error("the public key is not a valid ed25519 key")]
    InvalidKey,
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The first bad entry, and why.
    #[error("{at}: {problem}")]
    Bad {
        /// Where.
        at: Location,
        /// What.
        problem: Problem,
    },
}

impl VerifyError {
    /// The location of the first bad entry, if the failure is about one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            VerifyError::Bad { at, .. } => Some(at),
            VerifyError::NoFiles | VerifyError::InvalidKey | VerifyError::Io { .. } => None,
        }
    }

    /// The problem found, if the failure is about an entry.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            VerifyError::Bad { problem, .. } => Some(problem),
            VerifyError::NoFiles | VerifyError::InvalidKey | VerifyError::Io { .. } => None,
        }
    }
}
