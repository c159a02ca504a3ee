//! The checks one entry must pass (torn-line marker, signature, `file_start`, sequence,
//! `prev`, checkpoint fields, witness) and the final report.

use std::path::PathBuf;

use serde_json::Value;
use sha2::Digest;

use super::{
    bad, Junk, Location, NewChain, Problem, Recovery, TreeHead, Verifier, VerifyError, VerifyReport,
};
use crate::canonical::hex;
use crate::entry::{check_signature, parse_hex_list, Kind, ParsedEntry, GENESIS_PREV};
use crate::merkle::Frontier;

impl Verifier<'_> {
    pub(super) fn entry(
        &mut self,
        e: &ParsedEntry,
        at: &Location,
        junk: Option<Junk>,
        first_in_file: bool,
    ) -> Result<(), VerifyError> {
        let recovery = e.map.get("recovery");
        let after = recovery
            .and_then(|r| r.get("after"))
            .and_then(Value::as_str);
        let torn = (after == Some("torn_line")).then(|| {
            let bytes = recovery
                .and_then(|r| r.get("torn_bytes"))
                .and_then(Value::as_u64);
            let digest = recovery
                .and_then(|r| r.get("torn_sha256"))
                .and_then(Value::as_str);
            (bytes, digest)
        });
        match (junk, torn) {
            (Some(j), Some((bytes, digest))) => {
                let matches =
                    bytes == Some(j.len) && digest == Some(hex(&j.hasher.finalize()).as_str());
                if check_signature(e, &self.key).is_err() {
                    return Err(bad(j.first, j.problem));
                }
                if !matches {
                    return Err(bad(j.first, Problem::TornMarkerMismatch));
                }
            }
            (Some(j), None) => return Err(bad(j.first, j.problem)),
            (None, Some(_)) => return Err(bad(at.clone(), Problem::TornMarkerMismatch)),
            (None, None) => {}
        }
        check_signature(e, &self.key).map_err(|p| bad(at.clone(), p))?;
        let file_start = e.map.get("file_start");
        match (first_in_file, file_start.is_some()) {
            (true, false) => {
                return Err(bad(
                    at.clone(),
                    Problem::FileStart("missing on the first entry of a file"),
                ))
            }
            (false, true) => {
                return Err(bad(
                    at.clone(),
                    Problem::FileStart("on an entry that does not open a file"),
                ))
            }
            _ => {}
        }
        let start_peaks = file_start.map(|fs| parse_hex_list(fs.get("frontier")));
        let frontier = match self.frontier.as_mut() {
            Some(f) => {
                if e.seq != f.size() {
                    return Err(bad(
                        at.clone(),
                        Problem::SeqMismatch {
                            expected: f.size(),
                            found: e.seq,
                        },
                    ));
                }
                if e.prev != self.prev {
                    return Err(bad(at.clone(), Problem::PrevMismatch));
                }
                if let Some(peaks) = start_peaks {
                    if peaks != Some(f.peaks()) {
                        return Err(bad(
                            at.clone(),
                            Problem::CheckpointMismatch("file_start frontier"),
                        ));
                    }
                }
                f
            }
            None => {
                let start = match start_peaks.flatten() {
                    Some(peaks) => Frontier::from_parts(e.seq, &peaks),
                    None => None,
                };
                let Some(start) = start else {
                    return Err(bad(at.clone(), Problem::NoStart));
                };
                if e.seq == 0 && e.prev != GENESIS_PREV {
                    return Err(bad(at.clone(), Problem::PrevMismatch));
                }
                self.first_seq = e.seq;
                self.frontier.insert(start)
            }
        };
        if e.kind == Kind::Checkpoint {
            let field = |k: &str| e.map.get(k);
            if field("tree_size").and_then(Value::as_u64) != Some(frontier.size()) {
                return Err(bad(at.clone(), Problem::CheckpointMismatch("tree_size")));
            }
            if field("root").and_then(Value::as_str) != Some(hex(&frontier.root()).as_str()) {
                return Err(bad(at.clone(), Problem::CheckpointMismatch("root")));
            }
            if parse_hex_list(field("frontier")) != Some(frontier.peaks()) {
                return Err(bad(at.clone(), Problem::CheckpointMismatch("frontier")));
            }
            let known = ["start", "periodic", "rotate", "reopen", "shutdown"];
            if !e.reason().is_some_and(|r| known.contains(&r)) {
                return Err(bad(at.clone(), Problem::CheckpointMismatch("reason")));
            }
        }
        if let Some(w) = self
            .options
            .witness
            .filter(|w| w.tree_size == frontier.size())
        {
            if frontier.root() != w.root {
                return Err(bad(
                    at.clone(),
                    Problem::Witness(format!("the root at tree size {} differs", w.tree_size)),
                ));
            }
            self.witness_done = true;
        }
        frontier.push(&e.hash);
        self.prev = e.hash;
        match e.kind {
            Kind::Record => {
                self.counts[0] += 1;
                self.since_checkpoint += 1;
            }
            Kind::Checkpoint => {
                self.counts[1] += 1;
                self.since_checkpoint = 0;
            }
        }
        match after {
            None => {}
            Some("set_aside" | "log_lost") => self.new_chain(e, at)?,
            Some(after) => {
                let torn_bytes = torn.and_then(|(bytes, _)| bytes);
                if after != "unclean_shutdown" && torn_bytes.is_none() {
                    return Err(bad(
                        at.clone(),
                        Problem::NotAnEntry(format!("unknown recovery marker {after:?}")),
                    ));
                }
                self.recoveries.push(Recovery {
                    at: at.clone(),
                    torn_bytes,
                });
            }
        }
        Ok(())
    }

    /// A chain that starts over after its predecessor was set aside or lost: only the
    /// chain's first entry may say so, and it fails verification unless accepted.
    fn new_chain(&mut self, e: &ParsedEntry, at: &Location) -> Result<(), VerifyError> {
        let marker = &e.map["recovery"];
        let text = |k: &str| marker.get(k).and_then(Value::as_str).map(str::to_owned);
        let start = NewChain {
            at: at.clone(),
            set_aside: text("file"),
            bytes: marker.get("bytes").and_then(Value::as_u64),
            sha256: text("sha256"),
            reason: text("reason").unwrap_or_default(),
        };
        if e.seq != 0 {
            return Err(bad(
                at.clone(),
                Problem::NotAnEntry("a new-chain marker after the chain's first entry".into()),
            ));
        }
        if !self.options.accept_set_aside {
            return Err(bad(at.clone(), Problem::SetAside(start.to_string())));
        }
        self.new_chain = Some(start);
        Ok(())
    }

    pub(super) fn finish(
        self,
        sealed: bool,
        torn_tail: Option<Location>,
    ) -> Result<VerifyReport, VerifyError> {
        let frontier = self.frontier.unwrap_or_default();
        let head = TreeHead {
            tree_size: frontier.size(),
            root: frontier.root(),
        };
        if let Some(w) = self.options.witness.filter(|_| !self.witness_done) {
            let matched = w.tree_size == head.tree_size && w.root == head.root;
            let at = self.last_at.clone().unwrap_or_else(|| Location {
                file: PathBuf::new(),
                line: 0,
                seq: None,
            });
            if !matched {
                let why = if w.tree_size > head.tree_size {
                    format!(
                        "the log ends at tree size {}, before the witnessed size {}",
                        head.tree_size, w.tree_size
                    )
                } else if w.tree_size < self.first_seq {
                    format!(
                        "the witnessed size {} precedes the first entry verified",
                        w.tree_size
                    )
                } else {
                    format!("the root at tree size {} differs", w.tree_size)
                };
                return Err(bad(at, Problem::Witness(why)));
            }
        }
        Ok(VerifyReport {
            first_seq: self.first_seq,
            n_entries: self.counts[0] + self.counts[1],
            n_records: self.counts[0],
            n_checkpoints: self.counts[1],
            head,
            sealed,
            unsealed_entries: self.since_checkpoint,
            recoveries: self.recoveries,
            new_chain: self.new_chain,
            torn_tail,
        })
    }
}
