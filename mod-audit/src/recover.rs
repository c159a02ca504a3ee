//! Start-up: read the existing log and decide how to continue it.
//!
//! - no file, or an empty one: a new chain (genesis) in that file;
//! - entries whose chain can be followed: continue from the last one. Bytes after it
//!   (a torn line from a crash mid-write, or a zero-filled tail after a power loss) are
//!   left in place, reported with `tracing::warn!`, and the next entry starts on a fresh
//!   line carrying `recovery: {after: "torn_line", torn_bytes, torn_sha256}` so the
//!   verifier can tell them from tampering. If the last entry is not a shutdown checkpoint
//!   the next entry carries `recovery: {after: "unclean_shutdown"}` instead;
//! - a file signed with another key id, whose sequence numbers cannot be followed, or
//!   that ends before the tree head in `PATH.head` (entries were cut off), is renamed to
//!   `PATH.set-aside-TIMESTAMP` (never modified) and a new chain starts. Its first entry
//!   records why: `recovery: {after: "set_aside", file, bytes, sha256, reason}`, or
//!   `{after: "log_lost", reason}` when `PATH.head` shows entries but the file is empty or
//!   gone. `audit verify` fails on both unless told to accept them.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde_json::json;
use sha2::{Digest, Sha256};

use agtp_core::module::Signer;

use crate::canonical::hex;
use crate::chain::Chain;
use crate::entry::{check_signature, parse_hex_list, parse_line, Kind, ParsedEntry};
use crate::files::{head_path, sibling_name, LogFile, SET_ASIDE};
use crate::merkle::Frontier;
use crate::verify::TreeHead;

/// The per-agent `Audit-ID` heads kept for `previous_audit_id`.
pub(crate) type Heads = HashMap<String, String>;

/// An open log, ready for the writer.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) chain: Chain,
    pub(crate) file: LogFile,
    pub(crate) heads: Heads,
}

/// What a scan of an existing file found.
#[derive(Default)]
struct Scan {
    /// The tree after the last entry, if the chain could be followed.
    frontier: Option<Frontier>,
    last: Option<ParsedEntry>,
    since_checkpoint: u64,
    /// Why the file cannot be continued.
    unusable: Option<String>,
    /// Offset of the first byte after the last entry, when bytes follow it.
    junk_start: Option<u64>,
    len: u64,
    heads: Heads,
}

/// Opens the log at `path`, continuing the chain it holds when it can.
pub(crate) fn open_log(
    path: &Path,
    signer: &dyn Signer,
    max_heads: usize,
) -> io::Result<Recovered> {
    let scan = match File::open(path) {
        Ok(file) => scan(file, max_heads)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Scan::default(),
        Err(e) => return Err(e),
    };
    let other_key = scan.last.as_ref().and_then(|last| {
        let kid = last.str_field("kid").unwrap_or("");
        (kid != signer.key_id()).then(|| format!("its last entry is signed by key id {kid:?}"))
    });
    let size = scan.frontier.as_ref().map_or(0, Frontier::size);
    let behind_head = read_head(path)?
        .filter(|head| head.tree_size >= size)
        .map(|head| {
            format!(
                "it ends at tree size {size}, but {} records the tree head {head}",
                head_path(path).display()
            )
        });
    if let Some(reason) = scan.unusable.clone().or(other_key).or(behind_head) {
        return new_chain(path, &reason);
    }
    let mut file = LogFile::open(path)?;
    let mut chain = match (scan.frontier, &scan.last) {
        (Some(frontier), Some(last)) => Chain::resume(frontier, last.hash, scan.since_checkpoint),
        _ => Chain::genesis(),
    };
    if let Some(last) = &scan.last {
        if let Ok(key) = VerifyingKey::from_bytes(&signer.public_key()) {
            if let Err(problem) = check_signature(last, &key) {
                tracing::warn!(path = %path.display(), seq = last.seq, "the last audit entry does not verify ({problem}); continuing the chain, verification will report it");
            }
        }
    }
    if let Some(start) = scan.junk_start {
        let (torn_bytes, digest) = digest_range(path, start, scan.len)?;
        tracing::warn!(path = %path.display(), offset = start, torn_bytes, "audit log ends in a torn line; the next entry starts on a fresh line and records it");
        chain.recovery = Some(
            json!({"after": "torn_line", "torn_bytes": torn_bytes, "torn_sha256": hex(&digest)}),
        );
        file.start_on_fresh_line();
    } else if scan
        .last
        .as_ref()
        .is_some_and(|last| last.reason() != Some("shutdown"))
    {
        tracing::warn!(path = %path.display(), "audit log was not closed cleanly (no shutdown checkpoint); continuing the chain");
        chain.recovery = Some(json!({"after": "unclean_shutdown"}));
    }
    Ok(Recovered {
        chain,
        file,
        heads: scan.heads,
    })
}

/// Sets the log at `path` aside (when it holds anything) and starts a new chain whose
/// first entry says why.
fn new_chain(path: &Path, reason: &str) -> io::Result<Recovered> {
    let len = fs::metadata(path).map_or(0, |m| m.len());
    let marker = if len == 0 {
        tracing::warn!(path = %path.display(), "audit log is empty or missing, yet {reason}; starting a new chain that records the loss");
        json!({"after": "log_lost", "reason": reason})
    } else {
        let aside = sibling_name(path, SET_ASIDE);
        let (bytes, digest) = digest_range(path, 0, len)?;
        tracing::warn!(path = %path.display(), set_aside = %aside.display(), "audit log cannot be continued ({reason}); setting it aside and starting a new chain that records it");
        fs::rename(path, &aside)?;
        let file = aside.file_name().map(|n| n.to_string_lossy().into_owned());
        json!({"after": "set_aside", "file": file, "bytes": bytes, "sha256": hex(&digest), "reason": reason})
    };
    let mut chain = Chain::genesis();
    chain.recovery = Some(marker);
    Ok(Recovered {
        chain,
        file: LogFile::open(path)?,
        heads: Heads::new(),
    })
}

/// The tree head in `PATH.head`, if there is one. One that cannot be read as a tree head
/// is an error: start-up refuses rather than lose the comparison.
fn read_head(path: &Path) -> io::Result<Option<TreeHead>> {
    let head = head_path(path);
    match fs::read_to_string(&head) {
        Ok(text) => TreeHead::parse(&text).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold a tree head (SIZE:ROOT)", head.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn scan(file: File, max_heads: usize) -> io::Result<Scan> {
    let mut reader = BufReader::new(file);
    let mut scan = Scan::default();
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let start = offset;
        offset += n as u64;
        let complete = line.last() == Some(&b'\n');
        let parsed = if complete {
            parse_line(&line[..n - 1]).ok()
        } else {
            None
        };
        let Some(entry) = parsed else {
            scan.junk_start.get_or_insert(start);
            continue;
        };
        scan.junk_start = None;
        if let Err(reason) = follow(&mut scan, &entry) {
            scan.unusable = Some(reason);
            break;
        }
        if let (Some(agent), Some(id)) = (entry.str_field("agent"), entry.str_field("audit_id")) {
            if scan.heads.len() < max_heads || scan.heads.contains_key(agent) {
                scan.heads.insert(agent.to_owned(), id.to_owned());
            }
        }
        scan.last = Some(entry);
    }
    scan.len = offset;
    Ok(scan)
}

/// Extends the scan's tree with `entry`, or says why the chain cannot be followed.
fn follow(scan: &mut Scan, entry: &ParsedEntry) -> Result<(), String> {
    let frontier = match scan.frontier.as_mut() {
        Some(f) if f.size() == entry.seq => f,
        Some(f) => {
            return Err(format!(
                "sequence number {} follows {}",
                entry.seq,
                f.size().wrapping_sub(1)
            ))
        }
        None if entry.seq == 0 => scan.frontier.insert(Frontier::default()),
        None => {
            let peaks = entry
                .map
                .get("file_start")
                .and_then(|fs| parse_hex_list(fs.get("frontier")))
                .and_then(|peaks| Frontier::from_parts(entry.seq, &peaks))
                .ok_or("its first entry neither opens a chain nor carries a file_start marker")?;
            scan.frontier.insert(peaks)
        }
    };
    frontier.push(&entry.hash);
    match entry.kind {
        Kind::Record => scan.since_checkpoint += 1,
        Kind::Checkpoint => scan.since_checkpoint = 0,
    }
    Ok(())
}

/// The length and SHA-256 of `path[start..end]`.
fn digest_range(path: &Path, start: u64, end: u64) -> io::Result<(u64, [u8; 32])> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = Sha256::new();
    let mut rest = file.take(end - start);
    let copied = io::copy(&mut rest, &mut hasher)?;
    Ok((copied, hasher.finalize().into()))
}
