//! The booking sample end to end: the daemon with the sample's agents and endpoints, and
//! the sample's Python runtime (`samples/booking/python/runtime.py`) on the gateway.

use std::path::Path;
use std::process::{Command, Stdio};

use agtpd::config::Config;
use agtpd::gateway::GatewayListener;
use agtpd_harness::{body, ready};
use agtpd_harness::{error_code, TestDaemon};
use tempfile::TempDir;

const CONCIERGE: &str = "d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c";

fn ask(line: &str, json: &str) -> String {
    format!(
        "AGTP/1.0 {line}\r\nAgent-ID: {CONCIERGE}\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_python_booking_sample_serves_through_the_gateway() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/booking");
    let dir = TempDir::new().unwrap();
    let socket = dir.path().join("gateway.sock");
    let config = Config {
        agents_dir: Some(samples.join("agents")),
        endpoints_dir: Some(samples.join("endpoints")),
        gateway_socket: socket.clone(),
        ..Config::default()
    };
    let listener = GatewayListener::bind_unix(&socket, None).unwrap();
    let server = TestDaemon::in_process(config)
        .gateway(listener)
        .start()
        .await;
    let _runtime = Killed(
        Command::new("python3")
            .arg(samples.join("python/runtime.py"))
            .env("AGTP_GATEWAY_SOCKET", &socket)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    ready(&server, "default", 2).await;
    let mut client = server.client().await;
    let dates = r#"{"check_in": "2026-07-01", "check_out": "2026-07-03"}"#;
    let free = client
        .exchange(ask("QUERY /rooms/availability", dates))
        .await;
    assert_eq!(free.status.code(), 200, "{:?}", body(&free));
    assert!(!body(&free)["rooms"].as_array().unwrap().is_empty());
    let guest = r#"{"guest_name": "Ada", "check_in": "2026-07-01", "check_out": "2026-07-03"}"#;
    let booked = client.exchange(ask("BOOK /rooms/101", guest)).await;
    assert_eq!(booked.status.code(), 200, "{:?}", body(&booked));
    let id = body(&booked)["booking_id"].as_str().unwrap().to_owned();
    let again = client.exchange(ask("BOOK /rooms/101", guest)).await;
    assert_eq!(
        (again.status.code(), error_code(&again)),
        (422, "room_unavailable".into())
    );
    let fetched = client
        .exchange(ask(&format!("FETCH /bookings/{id}"), ""))
        .await;
    assert_eq!(body(&fetched)["booking_id"], id.as_str());
    let raised = client.exchange(ask("FETCH /bookings/__raise__", "")).await;
    assert_eq!(error_code(&raised), "handler-exception");
}
