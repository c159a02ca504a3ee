//! Integration tests for `runtime-protocol`, one binary (see STYLE.md): frames, framing,
//! canonical JSON, golden bytes and property tests.

// Test helpers unwrap freely: a panic is a failed test (clippy.toml covers only `#[test]` fns).
#![allow(clippy::unwrap_used)]

mod blocking;
mod canonical;
mod codec;
mod frames;
mod golden;
mod props;
mod support;
mod type_position;
