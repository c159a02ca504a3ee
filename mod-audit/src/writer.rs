//! The single writer: a dedicated thread (`audit-writer`, with its own small tokio runtime
//! for timers) that owns the log file. It seals records in arrival order, appends them,
//! syncs by policy, writes checkpoints, rotates by size, reopens on request, and closes
//! the log with a shutdown checkpoint when the module is dropped.
//!
//! A failed append is retried with the very same line (the chain does not advance) with
//! a growing pause; meanwhile the queue fills and exchanges wait in `on_complete`. Only
//! at shutdown does the writer give up, counting what it could not write as lost.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{interval, sleep, Interval, MissedTickBehavior};

use agtp_core::module::Signer;

use crate::canonical::hex;
use crate::chain::Chain;
use crate::config::{AuditConfig, FsyncPolicy};
use crate::entry::{Kind, Sealed};
use crate::files::{head_path, sibling_name, timestamp, LogFile};

/// How many queued messages the writer handles before it syncs (`fsync = "always"`).
const BATCH: usize = 256;
/// After a failed rotation, how long before the next attempt.
const ROTATE_RETRY: Duration = Duration::from_secs(60);
/// Append attempts per entry once the module is shutting down.
const SHUTDOWN_ATTEMPTS: u32 = 5;

/// What `on_complete` and the module hand to the writer.
pub(crate) enum Msg {
    /// A record body (without chain fields), and with `fsync = "always"` whom to tell once
    /// it is synced.
    Record {
        body: Map<String, Value>,
        synced: Option<oneshot::Sender<()>>,
    },
    /// Sync, then answer: everything queued before is on disk.
    Flush(oneshot::Sender<()>),
}

/// State shared between the module and its writer.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) reopen: Notify,
    pub(crate) closing: AtomicBool,
    pub(crate) n_written: AtomicU64,
    pub(crate) n_lost: AtomicU64,
    pub(crate) n_checkpoints: AtomicU64,
    pub(crate) n_syncs: AtomicU64,
    /// Files closed by size (`rotate`) and after logrotate renamed them (`reopen`).
    pub(crate) n_rotated: AtomicU64,
    pub(crate) n_reopened: AtomicU64,
    /// Failed appends and syncs (an append is retried until it succeeds).
    pub(crate) n_write_errors: AtomicU64,
}

pub(crate) struct Writer {
    pub(crate) config: AuditConfig,
    pub(crate) server_id: String,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) chain: Chain,
    pub(crate) file: LogFile,
    pub(crate) shared: Arc<Shared>,
    pub(crate) rotate_after: Option<Instant>,
}

impl Writer {
    /// Runs until every sender is gone, then closes the log.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut fsync_tick = (self.config.fsync == FsyncPolicy::Interval)
            .then(|| ticker(self.config.fsync_period()));
        let mut checkpoint_tick = self.config.checkpoint_interval.map(ticker);
        if self.chain.next_seq() == 0 && self.chain.recovery.is_some() {
            // A chain that starts over says why at once, not with its first record.
            self.write_checkpoint("start").await;
            self.sync();
        }
        let shared = Arc::clone(&self.shared);
        loop {
            // Biased: a requested reopen is handled before the records queued after it.
            tokio::select! {
                biased;
                () = shared.reopen.notified() => self.reopen().await,
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    // Group commit: every record of the batch waits for one sync.
                    let mut synced = Vec::new();
                    let mut more = self.handle(msg, &mut synced).await;
                    for _ in 1..BATCH {
                        if !more {
                            break;
                        }
                        let Ok(msg) = rx.try_recv() else { break };
                        more = self.handle(msg, &mut synced).await;
                    }
                    if self.config.fsync == FsyncPolicy::Always {
                        self.sync();
                    }
                    for waiter in synced {
                        let _ = waiter.send(());
                    }
                }
                () = tick(&mut fsync_tick) => self.sync(),
                () = tick(&mut checkpoint_tick) => {
                    if self.chain.since_checkpoint > 0 {
                        self.write_checkpoint("periodic").await;
                    }
                }
            }
        }
        self.write_checkpoint("shutdown").await;
        self.sync();
    }

    /// Handles one message, keeping its waiter in `synced`; returns false after a flush,
    /// which ends the batch so that a reopen requested after it is handled before anything
    /// queued later.
    async fn handle(&mut self, msg: Msg, synced: &mut Vec<oneshot::Sender<()>>) -> bool {
        match msg {
            Msg::Record {
                body,
                synced: waiter,
            } => {
                self.write_record(body).await;
                synced.extend(waiter);
                true
            }
            Msg::Flush(done) => {
                self.sync();
                let _ = done.send(());
                false
            }
        }
    }

    fn sync(&mut self) {
        self.shared.n_syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.file.sync() {
            self.shared.n_write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, path = %self.config.path.display(), "cannot sync the audit log");
        }
    }

    async fn write_record(&mut self, body: Map<String, Value>) {
        let mut sealed = self.chain.seal(body.clone(), &*self.signer);
        if self.should_rotate(sealed.line.len()) && self.switch_file("rotate").await {
            sealed = self.chain.seal(body, &*self.signer);
        }
        let counter = if self.write_entry(sealed, Kind::Record).await {
            &self.shared.n_written
        } else {
            &self.shared.n_lost
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.chain.since_checkpoint >= self.config.checkpoint_every {
            self.write_checkpoint("periodic").await;
        }
    }

    /// Whether the file must be rotated before a line of `n` bytes.
    fn should_rotate(&self, n: usize) -> bool {
        let has_entries = !self.chain.file_start;
        let too_big = self.file.len().saturating_add(n as u64) > self.config.max_file_size;
        let allowed = self.rotate_after.map_or(true, |t| Instant::now() >= t);
        has_entries && too_big && allowed
    }

    /// Writes a checkpoint over every entry so far, and logs its tree head, so the head
    /// also lives outside the file (journal, log shipper) as a witness.
    async fn write_checkpoint(&mut self, reason: &'static str) {
        let body = self
            .chain
            .checkpoint_body(reason, &self.server_id, &timestamp());
        let tree_size = self.chain.frontier.size();
        let root = hex(&self.chain.frontier.root());
        let sealed = self.chain.seal(body, &*self.signer);
        if self.write_entry(sealed, Kind::Checkpoint).await {
            self.shared.n_checkpoints.fetch_add(1, Ordering::Relaxed);
            tracing::info!(tree_size, root = %root, reason, path = %self.config.path.display(), "audit checkpoint");
            self.write_head(&format!("{tree_size}:{root}\n"));
        }
    }

    /// Replaces `PATH.head` with `head` (write, then rename: never half a head).
    fn write_head(&self, head: &str) {
        let path = head_path(&self.config.path);
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        if let Err(e) = fs::write(&tmp, head).and_then(|()| fs::rename(&tmp, &path)) {
            self.shared.n_write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, path = %path.display(), "cannot record the audit tree head");
        }
    }

    /// Appends `sealed`, retrying until it is written (or, once shutting down, a few
    /// times). Returns whether it was written.
    async fn write_entry(&mut self, sealed: Sealed, kind: Kind) -> bool {
        let mut failures = 0u32;
        loop {
            match self.file.append(&sealed.line) {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(failures, "audit log writable again");
                    }
                    self.chain.commit(&sealed, kind);
                    return true;
                }
                Err(e) => {
                    failures += 1;
                    self.shared.n_write_errors.fetch_add(1, Ordering::Relaxed);
                    if failures == 1 {
                        tracing::error!(error = %e, path = %self.config.path.display(), "cannot append to the audit log; retrying, exchanges wait meanwhile");
                    }
                    if self.shared.closing.load(Ordering::Acquire) && failures >= SHUTDOWN_ATTEMPTS
                    {
                        tracing::error!(error = %e, seq = self.chain.next_seq(), "audit entry lost at shutdown");
                        return false;
                    }
                    sleep(Duration::from_millis(100 << failures.min(6))).await;
                }
            }
        }
    }

    /// After logrotate renamed the file: close the old one with a checkpoint, continue in
    /// a new file at the configured path. Nothing happens if the path is still ours.
    async fn reopen(&mut self) {
        if self.file.is_at(&self.config.path) {
            tracing::debug!(path = %self.config.path.display(), "audit log still in place; nothing to reopen");
            return;
        }
        self.switch_file("reopen").await;
    }

    /// Moves on to a new file at the configured path: renames the current one first when
    /// rotating by size; writes the closing checkpoint into the old file only once the new
    /// one is open, so a closing checkpoint is always its file's last line.
    async fn switch_file(&mut self, reason: &'static str) -> bool {
        let path = self.config.path.clone();
        if reason == "rotate" && self.file.is_at(&path) {
            let target: PathBuf = sibling_name(&path, "");
            if let Err(e) = fs::rename(&path, &target) {
                tracing::warn!(error = %e, path = %path.display(), "cannot rotate the audit log; trying again later");
                self.rotate_after = Some(Instant::now() + ROTATE_RETRY);
                return false;
            }
        }
        let new = match LogFile::open(&path) {
            Ok(file) => file,
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "cannot open a new audit log file; still writing to the old one");
                self.rotate_after = Some(Instant::now() + ROTATE_RETRY);
                return false;
            }
        };
        if new.len() > 0 {
            tracing::warn!(path = %path.display(), "the new audit log file is not empty; verification will report its first lines");
        }
        self.write_checkpoint(reason).await;
        self.sync();
        self.file = new;
        self.chain.file_start = true;
        self.rotate_after = None;
        let counter = match reason {
            "rotate" => &self.shared.n_rotated,
            _ => &self.shared.n_reopened,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn ticker(period: Duration) -> Interval {
    let mut t = interval(period);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

async fn tick(t: &mut Option<Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
