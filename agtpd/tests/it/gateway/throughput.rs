//! Sequential requests through the gateway: every one is served on the same registered
//! connection, and the time per request is printed next to an in-process built-in
//! (`DISCOVER /methods`) for a rough cost ratio (`cargo test --release -- --nocapture`).

use std::time::{Duration, Instant};

use agtpd_harness::{pool, query, ready, Endpoint, Site};
use runtime_protocol::{
    read_frame, write_frame, Encoding, Frame, Hello, ModuleInfo, RegisterAck, Response,
};

const N: u32 = 300;

async fn per_request(
    client: &mut agtpd_harness::Client<tokio::net::TcpStream>,
    raw: &str,
) -> Duration {
    for _ in 0..20 {
        client.exchange(raw).await;
    }
    let started = Instant::now();
    for _ in 0..N {
        let response = client.exchange(raw).await;
        assert_eq!(response.status.code(), 200);
    }
    started.elapsed() / N
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_one_connection_and_their_cost_is_reported() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let runtime = site.runtime("ok", &[]);
    ready(&server, "default", 1).await;
    let mut client = server.client().await;
    let built_in = per_request(&mut client, "AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
    let gateway = per_request(&mut client, &query("/things", r#"{"status": 200}"#)).await;
    eprintln!(
        "{N} sequential requests: DISCOVER /methods {built_in:?} each, through the gateway \
         to a Python runtime {gateway:?} each, ratio {:.1}",
        gateway.as_secs_f64() / built_in.as_secs_f64()
    );
    assert_eq!(pool(&server, "default").n_served, u64::from(N + 20));
    let connections = runtime
        .events()
        .iter()
        .filter(|e| e["event"] == "welcome")
        .count();
    assert_eq!(connections, 1, "one connection served every request");
}

/// A minimal Rust runtime on a thread (runtime-protocol's blocking API): echoes the input.
fn rust_peer(socket: std::path::PathBuf, encoding: Encoding) {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    let hello = Hello {
        gateway_versions: vec!["1.0".into()],
        module: ModuleInfo {
            id: "rust-peer".into(),
            version: "0".into(),
            runtime: None,
            pid: None,
            pool: None,
        },
        capabilities: vec!["registered_function".into()],
        cached_manifest_hash: None,
    };
    write_frame(&mut stream, &Frame::Hello(hello), encoding).unwrap();
    let _welcome = read_frame(&mut stream, 1 << 24).unwrap();
    let _register = read_frame(&mut stream, 1 << 24).unwrap();
    let ack = RegisterAck {
        ok: true,
        resolved: vec![],
        errors: vec![],
    };
    write_frame(&mut stream, &Frame::RegisterAck(ack), encoding).unwrap();
    while let Ok(Some((frame, _))) = read_frame(&mut stream, 1 << 24) {
        if let Frame::Request(request) = frame {
            let body = serde_json::json!({ "echoed": request.envelope.input });
            let response = Frame::Response(Response::ok(request.request_id, body));
            write_frame(&mut stream, &response, encoding).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_runtime_over_messagepack_measures_the_daemons_own_cost() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let socket = site.socket.clone();
    std::thread::spawn(move || rust_peer(socket, Encoding::MessagePack));
    ready(&server, "default", 1).await;
    let mut client = server.client().await;
    let built_in = per_request(&mut client, "AGTP/1.0 DISCOVER /methods\r\n\r\n").await;
    let gateway = per_request(&mut client, &query("/things", r#"{"status": 200}"#)).await;
    eprintln!(
        "{N} sequential requests: DISCOVER /methods {built_in:?} each, through the gateway \
         to a Rust runtime (MessagePack) {gateway:?} each, ratio {:.1}",
        gateway.as_secs_f64() / built_in.as_secs_f64()
    );
    assert_eq!(pool(&server, "default").n_served, u64::from(N + 20));
}
