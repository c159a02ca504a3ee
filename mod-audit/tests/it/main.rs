//! The audit module's integration tests, one binary: the module as the daemon sees it
//! (`module`), start-up after an unclean stop (`recovery`), rotation and reopening
//! (`rotation`), and tampering caught by the verifier (`tamper`); `common` holds the
//! shared signer, requests and log readers.

// `pub` marks what `common` offers the other modules of this test binary.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;
mod module;
mod recovery;
mod rotation;
mod tamper;
