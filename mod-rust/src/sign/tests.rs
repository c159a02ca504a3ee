use super::*;

fn response(signature_b64: &str) -> SignResponse {
    SignResponse {
        operation_id: "s-1".into(),
        kid: "k1".into(),
        alg: "Ed25519".into(),
        signature_b64: signature_b64.into(),
    }
}

#[test]
fn a_64_byte_signature_decodes() {
    let b64 = encode_data(&[7u8; 64]);
    let sig = from_response(response(&b64)).unwrap();
    assert_eq!(sig.signature, [7u8; 64]);
    assert_eq!(sig.kid, "k1");
}

#[test]
fn a_short_or_invalid_signature_is_malformed_not_a_panic() {
    let short = encode_data(&[1u8; 10]);
    assert!(matches!(
        from_response(response(&short)),
        Err(SigningError::Malformed(m)) if m.contains("10 bytes")
    ));
    assert!(matches!(
        from_response(response("***")),
        Err(SigningError::Malformed(_))
    ));
}

#[test]
fn data_is_base64url_without_padding() {
    assert_eq!(encode_data(&[0xfb, 0xff]), "-_8");
}
