//! [`AuditModule`]: the pipeline side. `on_complete` builds the record (and, when
//! enabled, the attribution headers) on the request path — no disk I/O there — and hands
//! it to the writer through a bounded queue of [`QUEUE_CAPACITY`] records.
//!
//! Backpressure, not loss: when the queue is full, `on_complete` waits for room (the
//! response is written after `on_complete` returns, so a stalled disk stalls responses
//! rather than letting exchanges go unrecorded). With `fsync = "always"` it also waits
//! for the writer to sync the record (one sync for every record of a batch): no answer
//! leaves before its record is on disk, so a crash loses none that was answered. A record is lost only if the writer is
//! gone (it failed to start or the module is being dropped); each loss is counted
//! ([`AuditModule::n_lost`]) and logged with `tracing::error!`.
//!
//! Dropping the module (the last `Arc`) closes the queue, lets the writer append what is
//! queued, write the shutdown checkpoint and sync, and waits for it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::oneshot;

use agtp_core::module::{Completion, MetricKind, Module, ModuleMetric, Signer};

use crate::attribution::{Attribution, MAX_AGENT_HEADS};
use crate::capture::{agent_of, record_body};
use crate::config::{AuditConfig, FsyncPolicy};
use crate::files::timestamp;
use crate::recover::open_log;
use crate::writer::{Msg, Shared, Writer};

/// Records the queue holds before `on_complete` waits.
pub const QUEUE_CAPACITY: usize = 1024;

/// Why the module could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// The log file could not be read or opened.
    #[error("cannot open the audit log {}: {source}", path.display())]
    Open {
        /// The configured path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The writer thread could not start.
    #[error("cannot start the audit writer: {0}")]
    Writer(std::io::Error),
}

/// The audit module.
pub struct AuditModule {
    tx: Option<mpsc::Sender<Msg>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    include_bodies: bool,
    /// `fsync = "always"`: `on_complete` returns once its record is synced.
    durable: bool,
    attribution: Option<Attribution>,
    waiting: AtomicBool,
}

impl AuditModule {
    /// Opens (or continues) the log and starts the writer. `server_id` goes into
    /// checkpoints and attribution records.
    pub fn open(
        config: AuditConfig,
        signer: Arc<dyn Signer>,
        server_id: &str,
    ) -> Result<Self, AuditError> {
        config.validate().map_err(AuditError::Config)?;
        let recovered = open_log(&config.path, &*signer, MAX_AGENT_HEADS).map_err(|source| {
            AuditError::Open {
                path: config.path.clone(),
                source,
            }
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(AuditError::Writer)?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let attribution = config
            .attribution_headers
            .then(|| Attribution::new(Arc::clone(&signer), server_id, recovered.heads));
        let include_bodies = config.include_bodies;
        let durable = config.fsync == FsyncPolicy::Always;
        let writer = Writer {
            config,
            server_id: server_id.to_owned(),
            signer,
            chain: recovered.chain,
            file: recovered.file,
            shared: Arc::clone(&shared),
            rotate_after: None,
        };
        let handle = thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || runtime.block_on(writer.run(rx)))
            .map_err(AuditError::Writer)?;
        Ok(AuditModule {
            tx: Some(tx),
            shared,
            writer: Some(handle),
            include_bodies,
            durable,
            attribution,
            waiting: AtomicBool::new(false),
        })
    }

    /// Waits until every record handed over so far is appended and synced.
    pub async fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Records appended so far.
    pub fn n_written(&self) -> u64 {
        self.shared.n_written.load(Ordering::Relaxed)
    }

    /// Records that could not be written (the writer was gone, or the disk still failed
    /// at shutdown).
    pub fn n_lost(&self) -> u64 {
        self.shared.n_lost.load(Ordering::Relaxed)
    }

    /// Hands `body` to the writer; with `fsync = "always"`, returns only once it is
    /// synced, so that the answer it records is written after it.
    async fn enqueue(&self, body: Map<String, Value>) {
        let Some(tx) = &self.tx else {
            return self.lost();
        };
        let (synced, on_disk) = match self.durable {
            true => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        match tx.try_send(Msg::Record { body, synced }) {
            Ok(()) => self.waiting.store(false, Ordering::Relaxed),
            Err(TrySendError::Closed(_)) => return self.lost(),
            Err(TrySendError::Full(msg)) => {
                if !self.waiting.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        capacity = QUEUE_CAPACITY,
                        "audit queue full; exchanges wait for the writer"
                    );
                }
                if tx.send(msg).await.is_err() {
                    return self.lost();
                }
            }
        }
        // A writer that gave up on the record at shutdown counted it as lost.
        if let Some(on_disk) = on_disk {
            let _ = on_disk.await;
        }
    }

    fn lost(&self) {
        self.shared.n_lost.fetch_add(1, Ordering::Relaxed);
        tracing::error!("audit writer is not running; audit record lost");
    }
}

#[async_trait]
impl Module for AuditModule {
    fn name(&self) -> &'static str {
        "audit"
    }

    async fn on_complete(&self, done: &mut Completion<'_>) {
        let ts = timestamp();
        let agent = agent_of(done);
        let mut body = record_body(done, agent.as_deref(), &ts, self.include_bodies);
        if let Some(attribution) = &self.attribution {
            let issued = attribution.issue(done, agent.as_deref(), &ts);
            done.added_headers
                .set("Attribution-Record", issued.jws.as_str());
            done.added_headers.set("Audit-ID", issued.audit_id.as_str());
            body.insert("attribution".into(), issued.jws.into());
            body.insert("audit_id".into(), issued.audit_id.into());
        }
        self.enqueue(body).await;
    }

    fn reopen(&self) {
        self.shared.reopen.notify_one();
    }

    fn metrics(&self) -> Vec<ModuleMetric> {
        let s = &self.shared;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let counter = |name, help, labels, value| ModuleMetric {
            name,
            help,
            kind: MetricKind::Counter,
            labels,
            value,
        };
        vec![
            counter(
                "audit_records_total",
                "Audit records appended to the log.",
                Vec::new(),
                load(&s.n_written),
            ),
            counter(
                "audit_records_lost_total",
                "Audit records that could not be written.",
                Vec::new(),
                load(&s.n_lost),
            ),
            counter(
                "audit_checkpoints_total",
                "Signed checkpoints appended to the audit log.",
                Vec::new(),
                load(&s.n_checkpoints),
            ),
            counter(
                "audit_fsyncs_total",
                "Syncs of the audit log to disk.",
                Vec::new(),
                load(&s.n_syncs),
            ),
            counter(
                "audit_rotations_total",
                "Audit log files closed: by size (rotate) or after logrotate renamed them (reopen).",
                vec![("reason", "rotate".to_owned())],
                load(&s.n_rotated),
            ),
            counter(
                "audit_rotations_total",
                "Audit log files closed: by size (rotate) or after logrotate renamed them (reopen).",
                vec![("reason", "reopen".to_owned())],
                load(&s.n_reopened),
            ),
            counter(
                "audit_write_errors_total",
                "Failed appends (retried) and syncs of the audit log.",
                Vec::new(),
                load(&s.n_write_errors),
            ),
        ]
    }
}

impl Drop for AuditModule {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the audit writer panicked; the log has no shutdown checkpoint");
            }
        }
    }
}
