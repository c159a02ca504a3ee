//! Dispatch and pool races that real runtimes cannot produce on demand: a connection
//! that closed between being lent and taking its request, and callers that give up.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use runtime_protocol::{Reply, ResponseEnvelope};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::pool::{Acquired, Job, NoLease, Outcome, Pool, Slot};
use super::super::{Call, Gateway};

fn slot(id: u64) -> (Slot, mpsc::Receiver<Job>) {
    let (jobs, rx) = mpsc::channel(1);
    (
        Slot {
            id,
            jobs,
            pid: None,
        },
        rx,
    )
}

/// A connection task stand-in that answers every request with `{"served_by": id}`.
fn answering(id: u64, mut jobs: mpsc::Receiver<Job>) {
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            let reply = Reply::new(serde_json::json!({ "served_by": id }));
            let _ = job
                .reply
                .send(Outcome::Answered(ResponseEnvelope::Reply(reply)));
        }
    });
}

fn call(idempotent: bool) -> Call<'static> {
    Call {
        pool: "default",
        request_id: "resp-000000000001".to_owned(),
        idempotent,
        deadline: Instant::now() + Duration::from_secs(5),
        envelope: serde_json::from_value(serde_json::json!({"method": "BOOK", "path": "/x"}))
            .unwrap_or_else(|e| panic!("{e}")),
        trust: None,
    }
}

#[tokio::test]
async fn a_request_never_written_is_retried_even_when_not_idempotent() {
    let gateway = Gateway::new();
    let pool = gateway.pool("default");
    let (closed, closed_rx) = slot(1);
    pool.join(closed);
    drop(closed_rx);
    let (open, open_rx) = slot(2);
    pool.join(open);
    answering(2, open_rx);
    let reply = gateway
        .call(call(false))
        .await
        .0
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(reply.body["served_by"], 2);
}

#[tokio::test]
async fn a_request_the_connection_wrote_before_dying_is_not_run_twice() {
    let gateway = Gateway::new();
    let pool = gateway.pool("default");
    let (dying, mut dying_rx) = slot(1);
    pool.join(dying);
    tokio::spawn(async move {
        if let Some(job) = dying_rx.recv().await {
            let frame = job.frame;
            let _ = job.reply.send(Outcome::Broken {
                written: true,
                frame,
            });
        }
    });
    let (healthy, mut healthy_rx) = slot(2);
    pool.join(healthy);
    let (result, _) = gateway.call(call(false)).await;
    assert!(
        matches!(result, Err(super::super::GatewayError::Failed)),
        "{result:?}"
    );
    assert!(
        healthy_rx.try_recv().is_err(),
        "the second connection saw nothing"
    );
    assert_eq!(pool.stats.n_failed.load(Relaxed), 1);
}

#[tokio::test]
async fn callers_that_give_up_leave_no_waiter_and_lose_no_connection() {
    let pool = Arc::new(Pool::new("p", super::super::empty()));
    let (only, _rx) = slot(1);
    pool.join(only);
    let Acquired::Ready(lease) = pool.acquire(4) else {
        panic!("idle connection expected")
    };
    let Acquired::Queued(ticket) = pool.acquire(4) else {
        panic!("queue expected")
    };
    assert_eq!(pool.snapshot().queue_depth, 1);
    drop(ticket);
    assert_eq!(pool.snapshot().queue_depth, 0);
    let Acquired::Queued(ticket) = pool.acquire(4) else {
        panic!("queue expected")
    };
    // The lease goes to the waiter, which is dropped before it looks: the connection
    // must come back to the idle list, not vanish with the waiter.
    drop(lease);
    drop(ticket);
    let snapshot = pool.snapshot();
    assert_eq!((snapshot.n_idle, snapshot.queue_depth), (1, 0));
    assert!(matches!(pool.acquire(4), Acquired::Ready(_)));
}

#[tokio::test]
async fn the_last_connection_leaving_fails_the_queue_at_once() {
    let pool = Arc::new(Pool::new("p", super::super::empty()));
    let (only, rx) = slot(1);
    pool.join(only);
    let Acquired::Ready(lease) = pool.acquire(4) else {
        panic!("idle connection expected")
    };
    let Acquired::Queued(ticket) = pool.acquire(4) else {
        panic!("queue expected")
    };
    // What a connection task does when it ends: close its channel, then leave.
    drop(rx);
    pool.leave(1);
    let started = Instant::now();
    assert!(matches!(
        ticket.wait(Duration::from_secs(5)).await,
        Err(NoLease::PoolGone)
    ));
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(lease);
    assert!(
        matches!(pool.acquire(4), Acquired::Unavailable),
        "no dead slot comes back"
    );
}
