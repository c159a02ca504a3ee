//! The booking runtime under test, and a handle on it while it runs.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use mod_rust::protocol::{EndpointSpec, Frame, GoodbyeReason};
use mod_rust::{Context, Error, HandlerError, Json, Reply, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::{endpoint, FakeDaemon, Peer, PATIENCE};

/// The three endpoints of the conformance registration: one plain, two with declared errors.
pub fn endpoints() -> Vec<EndpointSpec> {
    vec![
        endpoint("FETCH", "/bookings/{booking_id}", &[]),
        endpoint("BOOK", "/rooms/{room_id}", &["room_unavailable"]),
        endpoint("CANCEL", "/bookings/{booking_id}", &["not_found"]),
    ]
}

#[derive(Deserialize)]
pub struct BookInput {
    room_id: String,
    guest: String,
}

#[derive(Serialize)]
pub struct Booking {
    booking_id: String,
    guest: String,
    agent: String,
    room_param: Option<String>,
}

async fn book(ctx: Context, input: BookInput) -> Result<Json<Booking>, HandlerError> {
    if input.room_id == "13" {
        return Err(
            HandlerError::declared("room_unavailable", "room 13 is never free")
                .with_details(json!({ "room_id": input.room_id })),
        );
    }
    Ok(Json(Booking {
        booking_id: format!("b-{}", input.room_id),
        guest: input.guest,
        agent: ctx.agent_id().to_owned(),
        room_param: ctx.path_param("room_id").map(str::to_owned),
    }))
}

async fn fetch(ctx: Context) -> Reply<Value> {
    let body = json!({
        "path": ctx.path(),
        "endpoint": ctx.endpoint_path(),
        "principal": ctx.principal_id(),
        "session": ctx.session_id(),
        "scopes": ctx.authority_scope(),
        "trace": ctx.header("Trace-Parent"),
    });
    Reply::new(body).status(203).header("x-cache", "miss")
}

#[derive(Deserialize)]
pub struct CancelInput {
    booking_id: String,
}

async fn cancel(_ctx: Context, input: CancelInput) -> Result<Json<Value>, HandlerError> {
    match input.booking_id.as_str() {
        "boom" => Err(io::Error::other("the disk is on fire").into()),
        "panic" => panic!("cancel exploded"),
        "b-1" => Ok(Json(json!({ "cancelled": true }))),
        _ => Err(HandlerError::declared("not_found", "no such booking")),
    }
}

/// The booking runtime, pointed at `daemon`, one connection, its manifest cache in the
/// daemon's temp dir (never the developer's home).
pub fn booking(daemon: &FakeDaemon) -> Runtime {
    Runtime::new("booking")
        .version("1.2.3")
        .gateway_socket(daemon.socket())
        .manifest_cache(daemon.dir().join("manifest.json"))
        .connections(1)
        .handler("FETCH", "/bookings/{booking_id}", fetch)
        .handler("BOOK", "/rooms/{room_id}", book)
        .handler("CANCEL", "/bookings/{booking_id}", cancel)
}

/// A handler that waits until the test opens it, and reports whether it finished or was
/// dropped half-way (aborted).
pub struct Gate {
    open: Semaphore,
    finished: AtomicBool,
    dropped: AtomicBool,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            open: Semaphore::new(0),
            finished: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        }
    }

    /// Lets one waiting (or the next) call through.
    pub fn open(&self) {
        self.open.add_permits(1);
    }

    /// Whether a call was dropped before it finished.
    pub fn aborted(&self) -> bool {
        self.dropped.load(SeqCst) && !self.finished.load(SeqCst)
    }

    /// Waits until a call was aborted: an aborted task is dropped the next time the
    /// scheduler gets to it, not when `abort` returns.
    pub async fn wait_aborted(&self) {
        for _ in 0..100 {
            if self.aborted() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the handler was not aborted");
    }
}

struct DropFlag(Arc<Gate>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.dropped.store(true, SeqCst);
    }
}

/// `app` plus `WAIT /gate`, whose calls wait for the returned gate.
pub fn gated(app: Runtime) -> (Runtime, Arc<Gate>) {
    let gate = Arc::new(Gate::new());
    let handler_gate = gate.clone();
    let app = app.handler("WAIT", "/gate", move |_ctx: Context| {
        let gate = handler_gate.clone();
        // Made before the future, so that a future dropped unpolled counts as aborted too.
        let flag = DropFlag(gate.clone());
        async move {
            let _flag = flag;
            // The semaphore is never closed.
            gate.open.acquire().await.unwrap().forget();
            gate.finished.store(true, SeqCst);
            Json(json!({ "waited": true }))
        }
    });
    (app, gate)
}

/// The booking endpoints plus `WAIT /gate`.
pub fn gated_endpoints() -> Vec<EndpointSpec> {
    let mut endpoints = endpoints();
    endpoints.push(endpoint("WAIT", "/gate", &[]));
    endpoints
}

/// A runtime serving on its own task, stoppable like SIGTERM stops a process.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    pub fn start(app: Runtime) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(mod_rust::serve_with_shutdown(app, async move {
            let _ = stopped.await;
        }));
        Running {
            stop: Some(stop),
            task,
        }
    }

    /// Triggers the graceful stop without waiting for it.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// What `serve` returned; it must return without being told to stop.
    pub async fn finished(self) -> Result<(), Error> {
        let Running { stop: _keep, task } = self;
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("serve did not return")
            .unwrap()
    }

    /// Stops gracefully and returns what `serve` returned; for a runtime with no serving
    /// connection.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.signal_stop();
        self.finished().await
    }

    /// Stops gracefully while `peer` serves: checks that the runtime says `goodbye`
    /// (reason `shutdown`), closes like the daemon would, returns what `serve` returned.
    pub async fn stop_serving(mut self, mut peer: Peer) -> Result<(), Error> {
        self.signal_stop();
        match peer.recv().await {
            Frame::Goodbye(goodbye) => assert_eq!(goodbye.reason, Some(GoodbyeReason::Shutdown)),
            other => panic!("expected goodbye, got {other:?}"),
        }
        drop(peer);
        self.finished().await
    }
}
