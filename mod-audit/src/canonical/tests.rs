use super::*;
use serde_json::json;

#[test]
fn keys_are_sorted_and_nothing_is_padded() {
    let v = json!({"b": 1, "a": {"d": [true, null], "c": "é\n"}});
    assert_eq!(
        String::from_utf8(encode(&v)).unwrap(),
        r#"{"a":{"c":"é\n","d":[true,null]},"b":1}"#
    );
}

#[test]
fn hex_round_trips_thirty_two_bytes() {
    let bytes = sha256(b"abc");
    assert_eq!(unhex32(&hex(&bytes)), Some(bytes));
    assert_eq!(unhex32("zz"), None);
}
