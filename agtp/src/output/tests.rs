use agtp_core::Status;

use super::*;

#[test]
fn the_head_shows_the_status_headers_and_length() {
    let mut response = Response::new(Status::NOT_FOUND);
    response.headers.append("Server-ID", "agtpd");
    response.body = "{}".into();
    assert_eq!(
        head(&response),
        "AGTP/1.0 404 Not Found\nServer-ID: agtpd\nContent-Length: 2\n\n"
    );
}

#[test]
fn json_is_pretty_printed_for_a_terminal_and_anything_else_is_left_alone() {
    assert_eq!(
        body_for_terminal(br#"{"a":[1]}"#),
        b"{\n  \"a\": [\n    1\n  ]\n}\n"
    );
    assert_eq!(body_for_terminal(b"plain text"), b"plain text\n");
    assert_eq!(body_for_terminal(b""), b"");
}
