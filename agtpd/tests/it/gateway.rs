//! The runtime gateway through the real daemon and real runtime processes: what the agent
//! gets for each thing a runtime does, pools, the listener, the handshake, signing, and
//! throughput under concurrency.

mod booking;
mod broken;
mod handshake;
mod listener;
mod pools;
mod signing;
mod status;
mod throughput;
