//! The daemon's integration tests: one binary, every test a real daemon on loopback
//! (in process or the real binary, through `agtpd-harness`) with real sockets and, where
//! a process boundary matters, real runtime processes.

#![allow(clippy::unwrap_used)]

mod admin;
mod audit_binary;
mod binary;
mod cache;
mod connections;
mod gates;
mod gateway;
mod memory;
mod metrics;
mod modules;
mod mtls;
mod packaging;
mod proxy;
mod proxy_protocol;
mod reload;
mod supervisor;
mod telemetry;
mod tls;
mod wire;

/// The daemon binary under test.
const AGTPD: &str = env!("CARGO_BIN_EXE_agtpd");
