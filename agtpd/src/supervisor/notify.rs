//! `sd_notify` without a library: one datagram to `$NOTIFY_SOCKET` (a path, or an abstract
//! name written with a leading `@`). Without the variable (not under systemd's
//! `Type=notify`) nothing is sent.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Tells systemd `state` (`READY=1`, `STOPPING=1`); failures are logged, never fatal.
pub(crate) fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = target.as_bytes();
    let sent = UnixDatagram::unbound().and_then(|socket| match bytes.strip_prefix(b"@") {
        Some(name) => {
            let addr = SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)
        }
        None => socket.send_to(state.as_bytes(), &target),
    });
    if let Err(error) = sent {
        tracing::warn!(state, %error, "cannot notify systemd");
    }
}
