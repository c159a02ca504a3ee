//! The RFC 8785 canonicalizer behind the manifest hash: for any JSON value the canonical
//! form is valid JSON, and canonicalizing it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime_protocol::{canonical_json, manifest_hash};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let canonical = canonical_json(&value);
    let reparsed: serde_json::Value =
        serde_json::from_str(&canonical).expect("the canonical form is JSON");
    assert_eq!(
        canonical_json(&reparsed),
        canonical,
        "canonicalization is idempotent"
    );
    assert_eq!(manifest_hash(&reparsed), manifest_hash(&value));
});
