use super::*;

#[test]
fn agtp_specific_codes_carry_their_draft_names() {
    assert_eq!(Status::METHOD_VIOLATION.reason(), "Method Violation");
    assert_eq!(Status::ENDPOINT_VIOLATION.reason(), "Endpoint Violation");
    assert_eq!(
        Status::AUTHORIZATION_REQUIRED.to_string(),
        "262 Authorization Required"
    );
    assert_eq!(Status::from_code(299).map(Status::reason), Some("Unknown"));
}

#[test]
fn codes_outside_three_digits_are_refused() {
    assert_eq!(Status::from_code(99), None);
    assert_eq!(Status::from_code(1000), None);
}
