//! RFC 8785 canonical JSON and the manifest hash.

use runtime_protocol::{canonical_json, manifest_hash};
use serde_json::{json, Value};

fn canon_text(text: &str) -> String {
    canonical_json(&serde_json::from_str::<Value>(text).unwrap())
}

#[test]
fn numbers_print_as_ecmascript_prints_the_double() {
    let cases: &[(&str, &str)] = &[
        ("0", "0"),
        ("-0.0", "0"),
        ("1.0", "1"),
        ("12.0", "12"),
        ("0.1", "0.1"),
        ("4.5", "4.5"),
        ("-7", "-7"),
        ("2e-3", "0.002"),
        ("1e-6", "0.000001"),
        ("1e-7", "1e-7"),
        ("-1.5e-10", "-1.5e-10"),
        ("1e20", "100000000000000000000"),
        ("1e21", "1e+21"),
        ("1.5e21", "1.5e+21"),
        ("123456789012345680000", "123456789012345680000"),
        ("333333333.33333329", "333333333.3333333"),
        ("9007199254740993", "9007199254740992"),
        ("18446744073709551615", "18446744073709552000"),
        ("-9223372036854775808", "-9223372036854776000"),
        ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
    ];
    for (input, want) in cases {
        assert_eq!(canon_text(input), *want, "input {input}");
    }
}

#[test]
fn non_ascii_strings_stay_literal_and_only_required_escapes_are_used() {
    let value = json!("Zoë 😀 € \u{2028} \u{7f} \"q\" \\ \n\t\r\u{8}\u{c} \u{1}\u{1f}");
    assert_eq!(
        canonical_json(&value),
        "\"Zoë 😀 € \u{2028} \u{7f} \\\"q\\\" \\\\ \\n\\t\\r\\b\\f \\u0001\\u001f\""
    );
}

#[test]
fn object_keys_sort_by_utf16_code_units_not_utf8_bytes() {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000 and U+FB33 in UTF-16
    // even though its UTF-8 form sorts after theirs.
    let text = r#"{"\ufb33":1,"\ue000":2,"\ud83d\ude00":3,"\u20ac":4,"\u00f6":5,"\u0080":6,
                  "1":7,"\r":8,"a":9,"B":10,"":11}"#;
    assert_eq!(
        canon_text(text),
        "{\"\":11,\"\\r\":8,\"1\":7,\"B\":10,\"a\":9,\"\u{80}\":6,\"ö\":5,\"€\":4,\
         \"😀\":3,\"\u{e000}\":2,\"\u{fb33}\":1}"
    );
}

#[test]
fn nesting_and_whitespace_are_normalised() {
    let text = " { \"b\" : [ 1 , { \"z\" : null , \"a\" : true } ] , \"a\" : \"x\" } ";
    assert_eq!(canon_text(text), r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#);
}

#[test]
fn the_manifest_hash_is_sha256_of_the_canonical_form_with_a_prefix() {
    assert_eq!(
        manifest_hash(&json!({})),
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    let a: Value = serde_json::from_str(r#"{"b": [1, 2.50], "a": "Zoë"}"#).unwrap();
    assert_eq!(
        manifest_hash(&a),
        "sha256:8dd563341ac626447ec00078ad1c12aa0f10af4429efeedd7c60c8b6d91dbb80"
    );
}

#[test]
fn equal_manifests_written_differently_hash_the_same() {
    let a: Value = serde_json::from_str(r#"{"x":1.0,"y":["é"]}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{ "y" : [ "\u00e9" ], "x" : 1 }"#).unwrap();
    assert_eq!(manifest_hash(&a), manifest_hash(&b));
    assert_ne!(
        manifest_hash(&a),
        manifest_hash(&json!({"x": 2, "y": ["é"]}))
    );
}
