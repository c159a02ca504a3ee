//! Real runtime processes for gateway tests: `misbehaving.py` (Python 3, standard library
//! only) serves a test site and misbehaves as asked (its docstring lists the modes), and
//! logs what it saw as JSON lines; and waiting on an in-process daemon's pools.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agtpd::gateway::PoolSnapshot;
use serde_json::Value;

use crate::daemon::TestDaemon;

/// The runtime script.
pub const MISBEHAVING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runtimes/misbehaving.py");

/// A runtime process, killed when dropped.
pub struct Runtime {
    child: Child,
    log: PathBuf,
}

impl Runtime {
    pub fn spawn(target: &str, dir: &Path, mode: &str, args: &[&str]) -> Runtime {
        let script = MISBEHAVING;
        let log = dir.join(format!("runtime-{}.log", fastrand::u64(..)));
        let child = Command::new("python3")
            .arg(script)
            .arg(mode)
            .args(args)
            .env("AGTP_GATEWAY_SOCKET", target)
            .env("RUNTIME_LOG", &log)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 runs");
        Runtime { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The events logged so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits until an event satisfies `pred` (at most 5 s) and returns it.
    pub async fn event(&self, pred: impl Fn(&Value) -> bool) -> Value {
        crate::wait::until(
            "a runtime event of the kind asked for",
            Duration::from_secs(5),
            || std::future::ready(self.events().into_iter().find(|e| pred(e))),
        )
        .await
    }

    /// The exit status, waiting at most 5 s.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let child = &mut self.child;
        let status = crate::wait::until("the runtime exits", Duration::from_secs(5), || {
            std::future::ready(child.try_wait().unwrap())
        })
        .await;
        status.code()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pool named `name` of an in-process daemon.
pub fn pool(server: &TestDaemon, name: &str) -> PoolSnapshot {
    server
        .daemon()
        .gateway()
        .snapshot()
        .into_iter()
        .find(|p| p.pool == name)
        .unwrap_or_else(|| panic!("no pool `{name}`"))
}

/// Waits (at most 5 s) until `pool` satisfies `pred`.
pub async fn until(server: &TestDaemon, name: &str, pred: impl Fn(&PoolSnapshot) -> bool) {
    let gateway = server.daemon().gateway();
    let what = format!("pool `{name}` in the state asked for");
    crate::wait::until_true(&what, Duration::from_secs(5), || {
        gateway.snapshot().iter().any(|p| p.pool == name && pred(p))
    })
    .await;
}

/// Waits until `pool` has `n` idle connections.
pub async fn ready(server: &TestDaemon, name: &str, n: usize) {
    until(server, name, |p| p.n_idle >= n).await;
}
