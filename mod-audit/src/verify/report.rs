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
}

/// A recovery the daemon recorded after an unclean stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The entry carrying the marker.
    pub at: Location,
    /// The torn bytes it accounts for; `None` for an unclean shutdown without a torn line.
    pub torn_bytes: Option<u64>,
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
    /// A torn last line (only with `allow_open_tail`).
    pub torn_tail: Option<Location>,
}

impl VerifyReport {
    /// Whether the files start at the beginning of the chain.
    pub fn starts_at_genesis(&self) -> bool {
        self.first_seq == 0
    }
}
