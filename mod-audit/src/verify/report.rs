//! What a successful verification found, and the options that change what counts as
//! success.

use crate::canonical::{hex, unhex32};
use crate::verify::Location;

/// A tree head: the number of entries and the RFC 9162 root over their hashes. Every
/// checkpoint line carries one, and the writer logs each one (`audit checkpoint`,
/// `tree_size`, `root`) so a copy exists outside the log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Entries covered.
    pub tree_size: u64,
    /// The Merkle root.
    pub root: [u8; 32],
}

impl TreeHead {
    /// Reads `SIZE:HEXROOT`, the form [`TreeHead`] displays as.
    pub fn parse(text: &str) -> Option<TreeHead> {
        let (size, root) = text.trim().split_once(':')?;
        Some(TreeHead {
            tree_size: size.parse().ok()?,
            root: unhex32(root)?,
        })
    }
}

impl std::fmt::Display for TreeHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tree_size, hex(&self.root))
    }
}

/// How strict [`verify_with`](crate::verify_with) is.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Accept a last file that does not end with the shutdown checkpoint: a log still
    /// being written, one whose daemon crashed (a torn last line included), or archived
    /// files without the current one. What follows the last checkpoint is then reported
    /// as unsealed instead of refused.
    pub allow_open_tail: bool,
    /// A tree head recorded elsewhere (e.g. from the daemon's own log): the log must
    /// reach that size and have that root there. This is what detects a truncation back
    /// to an earlier clean shutdown.
    pub witness: Option<TreeHead>,
    /// Accept a chain that starts over because the daemon set the previous log aside (a
    /// key change, a cut or edited file) or found it emptied, and report it instead.
    pub accept_set_aside: bool,
}

/// A recovery the daemon recorded after an unclean stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The entry carrying the marker.
    pub at: Location,
    /// The torn bytes it accounts for; `None` for an unclean shutdown without a torn line.
    pub torn_bytes: Option<u64>,
}

/// The start of a chain whose predecessor was set aside or lost, as its first entry
/// records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChain {
    /// The entry carrying the marker.
    pub at: Location,
    /// The name the earlier log was renamed to, beside this one; `None` when the daemon
    /// found it empty or missing.
    pub set_aside: Option<String>,
    /// That file's length and SHA-256 when it was set aside.
    pub bytes: Option<u64>,
    /// See `bytes`.
    pub sha256: Option<String>,
    /// Why the daemon could not continue it.
    pub reason: String,
}

impl std::fmt::Display for NewChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.set_aside {
            Some(file) => write!(
                f,
                "the earlier log was set aside as {file} ({} bytes) because {}",
                self.bytes.unwrap_or(0),
                self.reason
            ),
            None => write!(f, "the earlier log was lost: {}", self.reason),
        }
    }
}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The first entry's sequence number (0 when the files start the chain).
    pub first_seq: u64,
    /// Entries checked (records and checkpoints).
    pub n_entries: u64,
    /// Records among them.
    pub n_records: u64,
    /// Checkpoints among them.
    pub n_checkpoints: u64,
    /// The tree head over every entry.
    pub head: TreeHead,
    /// The last file ends with a closing checkpoint (shutdown; or rotate/reopen, accepted
    /// only with `allow_open_tail`).
    pub sealed: bool,
    /// Entries after the last checkpoint (0 when sealed).
    pub unsealed_entries: u64,
    /// Unclean stops the daemon recorded, oldest first.
    pub recoveries: Vec<Recovery>,
    /// The chain starts over after a set-aside (only with `accept_set_aside`).
    pub new_chain: Option<NewChain>,
    /// A torn last line (only with `allow_open_tail`).
    pub torn_tail: Option<Location>,
}

impl VerifyReport {
    /// Whether the files start at the beginning of the chain.
    pub fn starts_at_genesis(&self) -> bool {
        self.first_seq == 0
    }
}
