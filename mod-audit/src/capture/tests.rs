use super::*;

#[test]
fn error_codes_come_from_the_envelope_only() {
    let body = br#"{"error":{"code":"output-invalid","message":"x"}}"#;
    assert_eq!(error_code(body).as_deref(), Some("output-invalid"));
    assert_eq!(error_code(b"not json"), None);
    assert_eq!(error_code(br#"{"code":"x"}"#), None);
}
