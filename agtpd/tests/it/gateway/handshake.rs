//! The handshake and registration (PROTOCOL.md §6, §7): version negotiation, timeouts,
//! which endpoints each pool's runtimes get, resume, refusal, and both encodings.
//! Raw peers here use runtime-protocol's blocking API on a plain thread.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use agtpd::gateway::config::GatewayConfig;
use agtpd_harness::error_code;
use agtpd_harness::{body, pool, query, ready, until, Endpoint, Site};
use runtime_protocol::{
    read_frame, write_frame, Encoding, ErrorCode, Frame, Hello, ModuleInfo, Ping, RegisterAck,
    Response, DEFAULT_MAX_FRAME_LEN,
};
use serde_json::json;

fn hello(versions: &[&str], pool: Option<&str>) -> Frame {
    Frame::Hello(Hello {
        gateway_versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        module: ModuleInfo {
            id: "raw-peer".into(),
            version: "0".into(),
            runtime: None,
            pid: None,
            pool: pool.map(str::to_owned),
        },
        capabilities: vec!["registered_function".into(), "teleport".into()],
        cached_manifest_hash: None,
    })
}

fn next(stream: &mut UnixStream) -> Option<(Frame, Encoding)> {
    read_frame(stream, DEFAULT_MAX_FRAME_LEN).unwrap()
}

/// Sends `first` on a fresh connection and returns what the daemon answered.
async fn first_frame(socket: &Path, first: Frame) -> Option<Frame> {
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(socket).unwrap();
        write_frame(&mut stream, &first, Encoding::Json).unwrap();
        next(&mut stream).map(|(frame, _)| frame)
    })
    .await
    .unwrap()
}

fn error_of(frame: Option<Frame>) -> ErrorCode {
    match frame {
        Some(Frame::Error(error)) => error.code,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[tokio::test]
async fn the_version_is_negotiated_and_an_unsupported_one_is_refused() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let _server = site.serve(site.config()).await;
    let refused = first_frame(&site.socket, hello(&["0.9", "2.0"], None)).await;
    assert_eq!(error_of(refused), ErrorCode::GatewayVersionUnsupported);
    match first_frame(&site.socket, hello(&["9.9", "1.0"], None)).await {
        Some(Frame::Welcome(welcome)) => {
            assert_eq!(welcome.gateway_version, "1.0");
            assert_eq!(
                welcome.capabilities,
                ["registered_function"],
                "only what both sides know"
            );
            assert_eq!(welcome.daemon.server_id, "agtpd");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_frame_before_hello_is_a_phase_violation_and_silence_times_out() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let config = agtpd::config::Config {
        gateway: GatewayConfig {
            handshake_timeout: Duration::from_millis(200),
            ..GatewayConfig::default()
        },
        ..site.config()
    };
    let _server = site.serve(config).await;
    let ping = Frame::Ping(Ping { nonce: "n".into() });
    assert_eq!(
        error_of(first_frame(&site.socket, ping).await),
        ErrorCode::PhaseViolation
    );
    let socket = site.socket.clone();
    let silent = tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        next(&mut stream).is_none()
    });
    assert!(silent.await.unwrap(), "closed without a frame");
}

#[tokio::test]
async fn each_runtime_gets_exactly_its_pools_endpoints_and_never_the_built_ins() {
    let billing = Endpoint {
        pool: "billing",
        ..Endpoint::query("/invoices")
    };
    let site = Site::new(&[Endpoint::query("/things"), billing]);
    let server = site.serve(site.config()).await;
    let default = site.runtime("ok", &[]);
    let billed = site.runtime("ok", &["--pool", "billing"]);
    let nobody = site.runtime("ok", &["--pool", "nobody"]);
    for (runtime, paths) in [
        (&default, vec!["/things"]),
        (&billed, vec!["/invoices"]),
        (&nobody, vec![]),
    ] {
        let register = runtime.event(|e| e["event"] == "register").await;
        let got: Vec<&str> = register["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(got, paths);
    }
    ready(&server, "nobody", 1).await;
    let response = server
        .client()
        .await
        .exchange(query("/invoices", "{}"))
        .await;
    assert_eq!(
        body(&response)["pid"],
        billed.pid(),
        "served by the billing runtime"
    );
}

#[tokio::test]
async fn register_resume_is_sent_exactly_when_the_cached_hash_matches() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let first = site.runtime("ok", &[]);
    let hash = first.event(|e| e["event"] == "register").await["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(hash, pool(&server, "default").manifest_hash);
    let resumed = site.runtime("ok", &["--cached-hash", &hash]);
    let resume = resumed.event(|e| e["event"] == "register_resume").await;
    assert_eq!(resume["hash"], hash.as_str());
    let stale = site.runtime("ok", &["--cached-hash", "sha256:00"]);
    stale.event(|e| e["event"] == "register").await;
    ready(&server, "default", 3).await;
}

#[tokio::test]
async fn a_refused_registration_closes_the_connection_and_serves_nothing() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let mut refusing = site.runtime("reject", &[]);
    assert_eq!(refusing.exit_code().await, Some(2));
    assert_eq!(pool(&server, "default").n_connections, 0);
    let response = server.client().await.exchange(query("/things", "{}")).await;
    assert_eq!(error_code(&response), "runtime-unavailable");
}

/// A MessagePack runtime on a thread: registers, then answers every request after 200 ms.
fn messagepack_peer(socket: &Path) {
    let mut stream = UnixStream::connect(socket).unwrap();
    let mp = Encoding::MessagePack;
    write_frame(&mut stream, &hello(&["1.0"], None), mp).unwrap();
    assert!(matches!(
        next(&mut stream),
        Some((Frame::Welcome(_), Encoding::MessagePack))
    ));
    assert!(matches!(next(&mut stream), Some((Frame::Register(_), _))));
    let ack = RegisterAck {
        ok: true,
        resolved: vec![],
        errors: vec![],
    };
    write_frame(&mut stream, &Frame::RegisterAck(ack), mp).unwrap();
    while let Some((frame, _)) = next(&mut stream) {
        if let Frame::Request(request) = frame {
            std::thread::sleep(Duration::from_millis(200));
            let body = json!({"echoed": request.envelope.input, "peer": "msgpack"});
            let response = Frame::Response(Response::ok(request.request_id, body));
            write_frame(&mut stream, &response, mp).unwrap();
        }
    }
}

#[tokio::test]
async fn json_and_messagepack_connections_serve_one_pool() {
    let site = Site::new(&[Endpoint::query("/things")]);
    let server = site.serve(site.config()).await;
    let _json = site.runtime("ok", &[]);
    let socket = site.socket.clone();
    std::thread::spawn(move || messagepack_peer(&socket));
    ready(&server, "default", 2).await;
    let slow = query("/things", r#"{"mode": "slow-ok", "delay_ms": 200}"#);
    let (mut a, mut b) = (server.client().await, server.client().await);
    let (a, b) = tokio::join!(a.exchange(&slow), b.exchange(&slow));
    let mut peers: Vec<String> = [a, b]
        .iter()
        .map(|r| {
            assert_eq!(r.status.code(), 200);
            match body(r)["peer"].as_str() {
                Some(peer) => peer.to_owned(),
                None => "json".to_owned(),
            }
        })
        .collect();
    peers.sort();
    assert_eq!(peers, ["json", "msgpack"]);
    until(&server, "default", |p| p.n_served == 2).await;
}
