//! Connection handling through the real server: timeouts (on paused time), slow
//! clients, the connection limit, and drain.

use std::time::Duration;

use agtp_core::Status;
use agtpd::config::Config;
use agtpd::timeouts::Timeouts;
use agtpd_harness::{error_code, TestDaemon};
use tokio::time::Instant;

const QUERY: &str = "AGTP/1.0 DISCOVER /methods\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn a_head_not_finished_within_the_header_timeout_gets_408() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    client.send("AGTP/1.0 QUERY /a\r\nAgent-ID: sl").await;
    let started = Instant::now();
    let response = client.response().await;
    assert_eq!(
        (response.status, error_code(&response).as_str()),
        (Status::TIMEOUT, "request-timeout")
    );
    assert_eq!(
        started.elapsed().as_secs(),
        Timeouts::default().header.as_secs()
    );
    assert!(client.is_closed().await);
}

#[tokio::test(start_paused = true)]
async fn a_body_not_finished_within_the_body_timeout_gets_408() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    client
        .send("AGTP/1.0 DISCOVER /methods\r\nContent-Length: 10\r\n\r\nabc")
        .await;
    let started = Instant::now();
    let response = client.response().await;
    assert_eq!(response.status, Status::TIMEOUT);
    assert!(agtpd_harness::error_message(&response).contains("body"));
    assert_eq!(
        started.elapsed().as_secs(),
        Timeouts::default().body.as_secs()
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_quietly_after_the_idle_timeout() {
    let server = TestDaemon::start(Config::default()).await;
    let mut client = server.client().await;
    assert_eq!(
        client
            .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
            .await
            .status,
        Status::OK
    );
    let started = Instant::now();
    assert!(
        client.try_response().await.is_none(),
        "no answer, just a close"
    );
    assert_eq!(started.elapsed().as_secs(), 60);
}

#[tokio::test]
async fn a_slow_client_never_delays_another() {
    let server = TestDaemon::start(Config::default()).await;
    let mut slow = server.client().await;
    slow.send("AGTP/1.0 DISCOVER /methods\r\nContent-Length: 100\r\n\r\npartial")
        .await;
    let mut silent = server.client().await;
    silent.send("AGTP/1.0 QU").await;
    let mut fast = server.client().await;
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        fast.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n"),
    )
    .await;
    assert_eq!(
        answered.expect("served while others stall").status,
        Status::OK
    );
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_politely_with_503() {
    let server = TestDaemon::start(Config {
        max_connections: 2,
        ..Config::default()
    })
    .await;
    let mut first = server.client().await;
    let mut second = server.client().await;
    // Both are accepted and served before the third arrives.
    assert_eq!(
        first
            .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
            .await
            .status,
        Status::OK
    );
    assert_eq!(
        second
            .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
            .await
            .status,
        Status::OK
    );
    let mut third = server.client().await;
    // Its request is never read: the refusal must still arrive, not a reset.
    third.send("AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
    let refused = third.response().await;
    assert_eq!(
        (refused.status, error_code(&refused).as_str()),
        (Status::UNAVAILABLE, "too-many-connections")
    );
    assert_eq!(refused.headers.get("Retry-After"), Some("1"));
    // An orderly close (FIN), not a reset, which could have destroyed the 503 unread.
    let mut rest = [0u8; 64];
    let after = tokio::io::AsyncReadExt::read(&mut third.stream, &mut rest).await;
    assert!(matches!(after, Ok(0)), "{after:?}");
    drop(first);
    // The slot frees once the server sees the close.
    agtpd_harness::wait::until("a freed slot is reused", Duration::from_secs(1), || async {
        let mut again = server.client().await;
        let response = again.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
        (response.status == Status::OK).then_some(())
    })
    .await;
}

#[tokio::test]
async fn drain_finishes_the_request_in_flight_then_closes() {
    let mut server = TestDaemon::start(Config::default()).await;
    let mut busy = server.client().await;
    let mut idle = server.client().await;
    assert_eq!(
        idle.exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
            .await
            .status,
        Status::OK
    );
    busy.send("AGTP/1.0 DISCOVER /methods\r\nContent-Length: 4\r\n\r\nab")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = server.begin_stop();
    // Idle connections are closed at once.
    assert!(idle.is_closed().await);
    // The request in flight completes and is told the connection ends.
    busy.send("cd").await;
    let response = busy.response().await;
    assert_eq!(response.status, Status::OK);
    assert_eq!(response.headers.get("Connection"), Some("close"));
    assert!(busy.is_closed().await);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("stops once drained")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_request_sent_on_an_idle_connection_as_the_drain_begins_is_answered() {
    // The request and the drain reach the daemon together; it must answer (with
    // `Connection: close`) rather than close the connection under the request.
    for round in 0..20 {
        let mut server = TestDaemon::start(Config::default()).await;
        let mut client = server.client().await;
        assert_eq!(client.exchange(QUERY).await.status, Status::OK);
        client.send(QUERY).await;
        let stopping = server.begin_stop();
        let response = client.try_response().await;
        let response = response.unwrap_or_else(|| panic!("round {round}: closed unanswered"));
        assert_eq!(response.status, Status::OK);
        assert_eq!(response.headers.get("Connection"), Some("close"));
        tokio::time::timeout(Duration::from_secs(5), stopping)
            .await
            .expect("stops once drained")
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn drain_cuts_connections_still_busy_at_the_deadline() {
    let mut server = TestDaemon::start(Config::default()).await;
    let mut stuck = server.client().await;
    stuck
        .send("AGTP/1.0 DISCOVER /methods\r\nContent-Length: 4\r\n\r\nab")
        .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = Instant::now();
    let stopping = server.begin_stop();
    tokio::time::timeout(Duration::from_secs(120), stopping)
        .await
        .expect("stops")
        .unwrap();
    // The body timeout (30 s) and the drain deadline (30 s) coincide; either ends it.
    assert!(started.elapsed() <= Timeouts::default().drain + Duration::from_secs(1));
    let _ = stuck.try_response().await;
}
