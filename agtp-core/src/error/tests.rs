use super::*;

#[test]
fn the_envelope_nests_code_message_and_details_under_error() {
    let body = AgtpError::new(Status::NOT_FOUND, "agent-not-found", "no agent `x`")
        .with_detail("agent_id", "x")
        .with_detail("code", "overwritten?")
        .body();
    assert_eq!(
        body,
        serde_json::json!({"error": {"code": "agent-not-found", "message": "no agent `x`", "agent_id": "x"}})
    );
}

#[test]
fn the_envelope_response_is_json() {
    let response = WireError::TransferEncoding.to_agtp_error().to_response();
    assert_eq!(response.status, Status::BAD_REQUEST);
    assert_eq!(
        response.headers.get("content-type"),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("chunked"));
}
