//! The v1 → v2 agent document conversion, done in memory while loading.
//!
//! A v1 document has `capabilities` and lacks v2's `skills` or `requires`. Converting it:
//! - `capabilities` is removed and becomes `requires.methods`, with `requires.scopes` `[]`
//!   and `requires.wildcards` `false` (v1 had neither); a `requires` already present wins;
//! - `skills`, when absent, is the trimmed `description` as a single entry, or `[]` when
//!   the description is blank;
//! - `document_version` is set to `v1-migrated`, so DESCRIBE shows where it came from;
//! - every other member is kept as it is; the schema then judges the result.
//!
//! The file on disk is never rewritten.

use serde_json::{json, Map, Value};

/// The `document_version` a converted document carries.
pub(super) const V1_MIGRATED: &str = "v1-migrated";

/// Whether `document` has the v1 shape.
fn is_v1(document: &Map<String, Value>) -> bool {
    document.contains_key("capabilities")
        && !(document.contains_key("skills") && document.contains_key("requires"))
}

/// Converts `document` to v2 in place if it is a v1 document; returns whether it was.
/// Anything that is not a JSON object is left alone for the schema to refuse.
pub(super) fn v1_to_v2(document: &mut Value) -> bool {
    let Some(object) = document.as_object_mut() else {
        return false;
    };
    if !is_v1(object) {
        return false;
    }
    let methods = object.remove("capabilities").unwrap_or_else(|| json!([]));
    if !object.contains_key("requires") {
        object.insert(
            "requires".to_owned(),
            json!({"methods": methods, "scopes": [], "wildcards": false}),
        );
    }
    if !object.contains_key("skills") {
        let skills: Vec<&str> = object
            .get("description")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|description| !description.is_empty())
            .into_iter()
            .collect();
        let skills = json!(skills);
        object.insert("skills".to_owned(), skills);
    }
    object.insert("document_version".to_owned(), json!(V1_MIGRATED));
    true
}
