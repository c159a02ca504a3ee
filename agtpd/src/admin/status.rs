//! What `/readyz` and `/status` say, read from the gateway's and the supervisor's
//! snapshots at request time (no counter is kept twice).

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::Daemon;

/// `Ok` when every pool that an endpoint or a `[[runtime]]` section needs has at least one
/// registered connection and the daemon is not draining; otherwise every reason why not.
pub(crate) fn readiness(daemon: &Daemon) -> Result<(), Vec<String>> {
    let mut reasons = Vec::new();
    if daemon.is_draining() {
        reasons.push("draining: the daemon is shutting down".to_owned());
    }
    let supervised: BTreeSet<&str> = daemon.supervisor().pools().collect();
    let pools = daemon.gateway().snapshot();
    for pool in &pools {
        let needed = pool.n_endpoints > 0 || supervised.contains(pool.pool.as_str());
        if needed && pool.n_connections == 0 {
            reasons.push(format!(
                "pool `{}`: no registered runtime connection",
                pool.pool
            ));
        }
    }
    // A supervised pool no endpoint names has no gateway pool until a runtime joins it.
    for name in supervised {
        if !pools.iter().any(|p| p.pool == name) {
            reasons.push(format!("pool `{name}`: no registered runtime connection"));
        }
    }
    match reasons.is_empty() {
        true => Ok(()),
        false => Err(reasons),
    }
}

/// The `/status` document.
pub(crate) fn status(daemon: &Daemon) -> Value {
    let slots = daemon.supervisor().snapshot();
    let supervised: BTreeSet<&str> = daemon.supervisor().pools().collect();
    let pools: Vec<Value> = daemon
        .gateway()
        .snapshot()
        .into_iter()
        .map(|p| {
            let own: Vec<_> = slots.iter().filter(|s| s.pool == p.pool).collect();
            let processes: Vec<Value> = p
                .processes
                .iter()
                .map(|process| {
                    let slot = own.iter().find(|s| s.pid == Some(process.pid));
                    json!({
                        "pid": process.pid,
                        "connections": process.n_connections,
                        "served": process.n_served,
                        "slot": slot.map(|s| s.slot),
                        "restarts": slot.map(|s| s.n_restarts),
                    })
                })
                .collect();
            let slots: Vec<Value> = own
                .iter()
                .map(|s| {
                    json!({
                        "slot": s.slot,
                        "pid": s.pid,
                        "registered": s.registered,
                        "restarts": s.n_restarts,
                        "recycled": s.n_recycled,
                    })
                })
                .collect();
            json!({
                "pool": p.pool,
                "supervised": supervised.contains(p.pool.as_str()),
                "endpoints": p.n_endpoints,
                "manifest_hash": p.manifest_hash,
                "connections": { "total": p.n_connections, "busy": p.n_busy, "idle": p.n_idle },
                "queue_depth": p.queue_depth,
                "requests": {
                    "served": p.n_served,
                    "rejected_busy": p.n_rejected_busy,
                    "rejected_unavailable": p.n_rejected_unavailable,
                    "timeouts": p.n_timeouts,
                    "failed": p.n_failed,
                },
                "restarts": own.iter().map(|s| s.n_restarts).sum::<u64>(),
                "recycled": own.iter().map(|s| s.n_recycled).sum::<u64>(),
                "processes": processes,
                "slots": slots,
            })
        })
        .collect();
    let not_ready = readiness(daemon).err().unwrap_or_default();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": daemon.uptime().as_secs(),
        "ready": not_ready.is_empty(),
        "not_ready": not_ready,
        "draining": daemon.is_draining(),
        "config_hash": config_hash(&daemon.config()),
        "modules": daemon.module_names(),
        "pools": pools,
    })
}

/// `sha256:` and the hex digest of the effective configuration as JSON.
fn config_hash(config: &Config) -> String {
    let bytes = serde_json::to_vec(config).unwrap_or_default();
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// `agtpd status`: the `/status` document as a few aligned lines.
pub(crate) fn render(status: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let state = match (status["draining"].as_bool(), status["ready"].as_bool()) {
        (Some(true), _) => "draining",
        (_, Some(true)) => "ready",
        _ => "not ready",
    };
    let _ = writeln!(
        out,
        "agtpd {}  {state}  up {}s  config {}",
        status["version"].as_str().unwrap_or("?"),
        status["uptime_seconds"],
        status["config_hash"].as_str().unwrap_or("?"),
    );
    for reason in status["not_ready"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {}", reason.as_str().unwrap_or_default());
    }
    let modules: Vec<&str> = (status["modules"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let _ = writeln!(out, "modules: {}", modules.join(", "));
    let _ = writeln!(
        out,
        "{:<16} {:>5} {:>5} {:>5} {:>6} {:>10} {:>9} {:>9}",
        "POOL", "CONN", "BUSY", "IDLE", "QUEUE", "SERVED", "REJECTED", "RESTARTS"
    );
    for pool in status["pools"].as_array().into_iter().flatten() {
        let requests = &pool["requests"];
        let rejected = requests["rejected_busy"].as_u64().unwrap_or(0)
            + requests["rejected_unavailable"].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<16} {:>5} {:>5} {:>5} {:>6} {:>10} {:>9} {:>9}",
            pool["pool"].as_str().unwrap_or("?"),
            pool["connections"]["total"],
            pool["connections"]["busy"],
            pool["connections"]["idle"],
            pool["queue_depth"],
            requests["served"],
            rejected,
            pool["restarts"],
        );
        for process in pool["processes"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  pid {:<8} connections {:<3} served {:<10} restarts {}",
                process["pid"],
                process["connections"],
                process["served"],
                process["restarts"]
                    .as_u64()
                    .map_or("-".to_owned(), |n| n.to_string()),
            );
        }
    }
    out
}
