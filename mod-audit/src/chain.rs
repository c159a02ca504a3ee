//! The writer's view of the chain: where it stands (tree, last hash), the markers the next
//! entry must carry, and the two-step append protocol — [`Chain::seal`] builds a line
//! without changing anything, [`Chain::commit`] advances once the line is on disk, so a
//! failed write can be retried with the very same line.

use serde_json::{json, Map, Value};

use agtp_core::module::Signer;

use crate::canonical::hex;
use crate::entry::{self, hex_list, Kind, Sealed, GENESIS_PREV};
use crate::merkle::Frontier;

/// The state the next entry is chained onto.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// The tree over every entry so far; its size is the next entry's `seq`.
    pub(crate) frontier: Frontier,
    /// The hash of the last entry (`GENESIS_PREV` before the first).
    pub(crate) prev: [u8; 32],
    /// Records since the last checkpoint.
    pub(crate) since_checkpoint: u64,
    /// The next entry opens a file: it carries `file_start`.
    pub(crate) file_start: bool,
    /// The next entry carries this `recovery` marker.
    pub(crate) recovery: Option<Value>,
}

impl Chain {
    /// A new chain: the first entry gets seq 0, `prev` of zeros and a `file_start`.
    pub(crate) fn genesis() -> Chain {
        Chain {
            frontier: Frontier::default(),
            prev: GENESIS_PREV,
            since_checkpoint: 0,
            file_start: true,
            recovery: None,
        }
    }

    /// A chain continuing after an existing entry.
    pub(crate) fn resume(frontier: Frontier, prev: [u8; 32], since_checkpoint: u64) -> Chain {
        Chain {
            frontier,
            prev,
            since_checkpoint,
            file_start: false,
            recovery: None,
        }
    }

    /// The sequence number the next entry gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.frontier.size()
    }

    /// The line for `body` (kind-specific fields and `ts`) as the next entry. Changes
    /// nothing: call [`Chain::commit`] once the line is written.
    pub(crate) fn seal(&self, mut body: Map<String, Value>, signer: &dyn Signer) -> Sealed {
        if self.file_start {
            let frontier = hex_list(&self.frontier.peaks());
            body.insert("file_start".into(), json!({ "frontier": frontier }));
        }
        if let Some(recovery) = &self.recovery {
            body.insert("recovery".into(), recovery.clone());
        }
        entry::seal(body, self.next_seq(), &self.prev, signer)
    }

    /// Advances past an entry that is now on disk.
    pub(crate) fn commit(&mut self, sealed: &Sealed, kind: Kind) {
        self.prev = sealed.hash;
        self.frontier.push(&sealed.hash);
        self.file_start = false;
        self.recovery = None;
        match kind {
            Kind::Record => self.since_checkpoint += 1,
            Kind::Checkpoint => self.since_checkpoint = 0,
        }
    }

    /// The body of a checkpoint over every entry before it.
    pub(crate) fn checkpoint_body(
        &self,
        reason: &str,
        server_id: &str,
        ts: &str,
    ) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("kind".into(), "checkpoint".into());
        body.insert("ts".into(), ts.into());
        body.insert("reason".into(), reason.into());
        body.insert("tree_size".into(), self.frontier.size().into());
        body.insert("root".into(), hex(&self.frontier.root()).into());
        body.insert("frontier".into(), hex_list(&self.frontier.peaks()));
        if !server_id.is_empty() {
            body.insert("server_id".into(), server_id.into());
        }
        body
    }
}
