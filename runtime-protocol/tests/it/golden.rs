//! Byte-exact frames, and the hex examples in PROTOCOL.md kept in step with the code.

use runtime_protocol::*;

const PROTOCOL_MD: &str = include_str!("../../PROTOCOL.md");

fn ping() -> Frame {
    Frame::Ping(Ping {
        nonce: "p-1".into(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn framed(frame: &Frame, encoding: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, frame, encoding).unwrap();
    out
}

#[test]
fn a_json_ping_has_the_documented_bytes() {
    let bytes = framed(&ping(), Encoding::Json);
    let mut want = vec![0, 0, 0, 29];
    want.extend_from_slice(br#"{"type":"ping","nonce":"p-1"}"#);
    assert_eq!(bytes, want);
    assert!(
        PROTOCOL_MD.contains(&hex(&bytes)),
        "PROTOCOL.md lacks {}",
        hex(&bytes)
    );
}

#[test]
fn a_msgpack_ping_has_the_documented_bytes() {
    let bytes = framed(&ping(), Encoding::MessagePack);
    let mut want = vec![0, 0, 0, 21, 0x82, 0xa4];
    want.extend_from_slice(b"type");
    want.push(0xa4);
    want.extend_from_slice(b"ping");
    want.push(0xa5);
    want.extend_from_slice(b"nonce");
    want.push(0xa3);
    want.extend_from_slice(b"p-1");
    assert_eq!(bytes, want);
    assert!(
        PROTOCOL_MD.contains(&hex(&bytes)),
        "PROTOCOL.md lacks {}",
        hex(&bytes)
    );
}

#[test]
fn protocol_md_states_the_version_and_limits_the_code_uses() {
    assert!(PROTOCOL_MD.contains(&format!("`{PROTOCOL_VERSION}`")));
    assert!(PROTOCOL_MD.contains("16 MiB"));
    assert!(PROTOCOL_MD.contains("`deadline_ms`"));
    assert!(PROTOCOL_MD.contains("`default`"));
}
