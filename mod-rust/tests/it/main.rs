//! Integration tests: the SDK against a fake daemon on a real Unix socket. One binary, one
//! file per theme; `support/` holds the fake daemon and the booking runtime.
// `pub` marks the harness's surface inside this test binary.
#![allow(unreachable_pub)]

mod booking_sample;
mod conformance;
mod lifecycle;
mod registration;
mod serving;
mod signing;
mod support;
