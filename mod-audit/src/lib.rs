//! `mod-audit`: the `audit` operational module for agtpd — a tamper-evident audit log.
//! Every exchange (refused and unparseable ones included) becomes one signed, hash-chained
//! JSON line; signed checkpoints commit to a Merkle tree over the chain; [`verify()`] checks
//! a log offline and names the first bad line.
//!
//! Dependency rule: depends on `agtp-core` only among workspace crates (never on agtpd
//! or another module). Signing goes through `agtp_core::module::Signer`; the private key
//! never reaches this crate.
//!
//! # Layout
//! - [`config`]: the `[modules.audit]` table; [`factory`]: `FACTORY` (`"audit"`);
//! - [`module`]: `on_complete` → bounded queue; `writer`: the thread that owns the file;
//! - `capture` (record fields), `attribution` (`Attribution-Record`/`Audit-ID` headers);
//! - `entry` (one line: seal, parse), `chain`, `merkle` (RFC 9162), `canonical`;
//! - `recover` (start-up: continue the chain, torn lines), `files` (append, rotate names);
//! - [`verify`](mod@verify) (the offline checker), `command` ([`VerifyCommand`]: what
//!   `agtpd audit verify` prints and exits with) and [`load_public_key`].
//!
//! # Entries
//! One JSON object per line, in canonical form: no whitespace, keys sorted by their UTF-8
//! bytes, strings escaped as `serde_json` does (non-ASCII raw), integers only. Every entry:
//!
//! | key | meaning |
//! |---|---|
//! | `v` | format version, `1` |
//! | `kind` | `"record"` or `"checkpoint"` |
//! | `seq` | 0, 1, 2, ... across the whole chain (all files, records and checkpoints) |
//! | `prev` | hex entry hash of the previous entry; 64 zeros for seq 0 |
//! | `ts` | RFC 3339 UTC, milliseconds |
//! | `alg`, `kid` | `"EdDSA"` and the signer's key id |
//! | `sig` | base64url (no padding) Ed25519 signature |
//! | `file_start` | on (and only on) the first entry of each file: `{"frontier":[hex...]}`, the Merkle frontier before it |
//! | `recovery` | after an unclean stop: `{"after":"unclean_shutdown"}` or `{"after":"torn_line","torn_bytes":N,"torn_sha256":HEX}`; on the first entry of a chain that starts over: `{"after":"set_aside","file":NAME,"bytes":N,"sha256":HEX,"reason":TEXT}` or `{"after":"log_lost","reason":TEXT}` |
//!
//! **Canonical bytes**: the entry without its `sig` key, canonically encoded. The
//! signature is Ed25519 over those bytes; the **entry hash** is SHA-256 of those bytes;
//! `prev` links entry hashes; the Merkle leaves are entry hashes. A line must be byte for
//! byte the canonical encoding of itself (`sig` included), so re-formatting is tampering.
//!
//! A **record** adds: `method`, `path`, `agent` (`Cx::agent_id`, else the `Agent-ID`
//! header), `principal`, `client` (the client's address, a PROXY header's when trusted), `route` (endpoint template), `session_id`, `task_id`,
//! `request_id` (request headers), `status` (the status written on the wire),
//! `error_code` (`error.code` of a non-2xx body), `extra` (the handler's
//! `attribution_extra`), `duration_us`, `input_sha256`,
//! `output_sha256`, `response_id`; `unparsed: true` when the request never parsed;
//! `input_body`/`output_body` (or `..._b64` when not UTF-8) with `include_bodies`;
//! `attribution` (the JWS) and `audit_id` with `attribution_headers`. Absent values are
//! left out, never `null`.
//!
//! A **checkpoint** adds `reason` (`start`, `periodic`, `rotate`, `reopen`, `shutdown`),
//! `tree_size` (= its own `seq`: the entries before it), `root` (RFC 9162 tree head over
//! those entries' hashes: leaf `SHA-256(0x00||hash)`, node `SHA-256(0x01||l||r)`),
//! `frontier` and `server_id`. Periodic checkpoints follow every `checkpoint_every`
//! records (and every `checkpoint_interval`); a `rotate`/`reopen` checkpoint is the last
//! line of a file that was switched away from; `shutdown` ends the log when the module is
//! dropped; `start` is the first entry of a chain that starts over (it carries the
//! `set_aside`/`log_lost` marker at once). Each checkpoint's head is also logged
//! (`tracing::info!`, "audit checkpoint") and written to `PATH.head` (`SIZE:ROOT`).
//!
//! # What verification guarantees
//! [`verify()`] fails, naming file, line and seq of the first bad line, on: an edited line
//! (signature), a deleted, inserted or reordered line (seq / prev), an unsigned line
//! (`alg` other than `EdDSA`, missing or empty `sig`), a line signed by another key, a
//! wrong checkpoint or `file_start`, bytes that are not entries unless a signed
//! `torn_line` marker accounts for exactly those bytes — and **truncation**: every file
//! must end with a closing checkpoint (`rotate`, `reopen`), which the writer only ever
//! writes as a file's last line, and the last file with the `shutdown` checkpoint. So
//! cutting any suffix off any file, or leaving out the newest files, is reported.
//! Limits, stated plainly: cutting the log back to an earlier run's shutdown checkpoint
//! is indistinguishable from that run being the last one, and a log still being written
//! (or whose daemon crashed) has an unsealed tail ([`VerifyOptions::allow_open_tail`]
//! accepts it and reports `unsealed_entries`); both are caught only against a tree head
//! kept elsewhere ([`VerifyOptions::witness`]; `agtpd audit verify` uses `PATH.head`
//! when no witness is given, which catches a log cut back or emptied unless `PATH.head`
//! went with it). Crashes are visible, not hidden: the next run marks its first entry with
//! `recovery`, listed in [`VerifyReport::recoveries`]. A log the daemon could not continue
//! (another key, a broken chain, fewer entries than `PATH.head`) is set aside, never
//! modified, and the new chain's first entry records it: verification fails on it unless
//! [`VerifyOptions::accept_set_aside`], and `agtpd audit verify` also fails while
//! set-aside files lie beside the log ([`set_aside_files`]).
//!
//! # Durability
//! `on_complete` never touches the disk: it queues the record (waiting only while the
//! [`QUEUE_CAPACITY`]-record queue is full — backpressure, never a silent drop). The
//! writer appends each line with one `write` (a failed write is cut back and retried, so
//! earlier lines are never damaged) and syncs per `fsync`:
//! - `always`: durable. After every batch, and `on_complete` waits for its record's sync,
//!   so no answer is written before its record is on disk: a crash or power failure
//!   loses no answered exchange (one sync serves every exchange waiting in the batch);
//! - `interval` (the default): a process crash loses the records still queued (at most
//!   [`QUEUE_CAPACITY`], already answered); a power failure also loses up to
//!   `fsync_interval` (≤ 1 s) of appended lines;
//! - `never`: as `interval` for a crash; on power failure whatever the OS had not written.
//!
//! Rotation and shutdown always sync. The next start reports and marks a crash's unsealed
//! tail (see `recover`).
//!
//! # Files
//! Rotation by size renames `path` to `path.YYYYMMDDTHHMMSSZ` (`-N` when taken); after
//! logrotate renamed the file, [`Module::reopen`](agtp_core::module::Module::reopen)
//! continues in a new file at `path`. Logs are verified with the files in chain order:
//! [`chain_files`] lists them. New files are created with mode 0640.
#![warn(missing_docs)]

mod attribution;
mod canonical;
mod capture;
mod chain;
mod command;
pub mod config;
mod entry;
pub mod factory;
mod files;
mod keys;
mod merkle;
pub mod module;
mod recover;
pub mod verify;
mod writer;

pub use attribution::{audit_id, verify_attribution_record, AttributionError, MAX_AGENT_HEADS};
pub use command::{VerifyCommand, EXIT_BAD_LOG, EXIT_NO_INPUT, EXIT_OK, EXIT_USAGE};
pub use config::{AuditConfig, FsyncPolicy};
pub use entry::FORMAT_VERSION;
pub use factory::{AuditFactory, FACTORY};
pub use files::{chain_files, set_aside_files};
pub use keys::{load_public_key, parse_public_key, KeyError};
pub use module::{AuditError, AuditModule, QUEUE_CAPACITY};
pub use verify::{
    verify, verify_with, Location, NewChain, Problem, Recovery, TreeHead, VerifyError,
    VerifyOptions, VerifyReport,
};
