//! RFC 9162 Merkle tree hashing over the entry hashes of one chain, kept as a compact
//! "frontier" so the writer extends the tree in O(log n) memory and the verifier can start
//! from any file that records one.
//!
//! - leaf hash: `SHA-256(0x00 || entry_hash)`;
//! - node hash: `SHA-256(0x01 || left || right)`;
//! - the frontier of a tree of `n` leaves is the list of roots of its perfect subtrees,
//!   left to right, one per set bit of `n` (largest first). Folding it right to left with
//!   the node hash gives the RFC 9162 tree head (`MTH`); the empty tree's head is
//!   `SHA-256("")`.

use sha2::{Digest, Sha256};

/// The right edge of a Merkle tree: enough to append leaves and compute the head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    size: u64,
    /// Perfect subtree roots, left to right, with their heights.
    peaks: Vec<(u32, [u8; 32])>,
}

/// `SHA-256(0x00 || leaf)`.
pub(crate) fn leaf_hash(leaf: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub(crate) fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

impl Frontier {
    /// Rebuilds a frontier from its size and peak hashes; `None` when the number of peaks
    /// does not match the size.
    pub(crate) fn from_parts(size: u64, peaks: &[[u8; 32]]) -> Option<Frontier> {
        if peaks.len() != size.count_ones() as usize {
            return None;
        }
        let heights = (0..64u32).rev().filter(|bit| size & (1u64 << bit) != 0);
        let peaks = heights.zip(peaks.iter().copied()).collect();
        Some(Frontier { size, peaks })
    }

    /// The number of leaves.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The peak hashes, left to right (what checkpoints and `file_start` record).
    pub(crate) fn peaks(&self) -> Vec<[u8; 32]> {
        self.peaks.iter().map(|(_, h)| *h).collect()
    }

    /// Appends the entry hash `leaf`.
    pub(crate) fn push(&mut self, leaf: &[u8; 32]) {
        let mut height = 0u32;
        let mut hash = leaf_hash(leaf);
        while let Some(&(h, left)) = self.peaks.last() {
            if h != height {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&left, &hash);
            height += 1;
        }
        self.peaks.push((height, hash));
        self.size += 1;
    }

    /// The RFC 9162 tree head over every leaf pushed so far.
    pub(crate) fn root(&self) -> [u8; 32] {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests;
