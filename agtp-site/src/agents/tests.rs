//! Loading agent documents: the samples, v1 migration, and every way a directory is refused.
//! Schema checks are tested in `schema_tests.rs`, the gates and DESCRIBE in `gate_tests.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;

/// The sample agents shipped in `samples/booking/agents/`.
pub(super) const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/booking/agents");

pub(super) const BOOKING_ID: &str =
    "d544c8b8c9420d3ee9c68f0049ebb412561a9e499c02a47a586417610ce4f12c";
pub(super) const FRONT_DESK_ID: &str =
    "4ea1b2078cdfcb38729e6b4e0c1881ac8e8167901f02f61243f15cefcdcf5987";

/// A sample document, parsed.
pub(super) fn sample(file: &str) -> Value {
    let text = fs::read_to_string(Path::new(SAMPLES).join(file)).expect("sample is readable");
    serde_json::from_str(&text).expect("sample is JSON")
}

/// The booking sample with `key` replaced (or added) at the top level.
pub(super) fn booking_with(key: &str, value: Value) -> Value {
    let mut document = sample("booking.agent.json");
    document[key] = value;
    document
}

/// A temporary directory holding `files` (name, contents).
fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, contents) in files {
        fs::write(dir.path().join(name), contents).expect("write test file");
    }
    dir
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("serializable")
}

fn load_error(dir: &Path) -> AgentLoadError {
    match AgentDirectory::load(dir) {
        Ok(_) => panic!("the directory should be refused"),
        Err(error) => error,
    }
}

fn assert_message_style(message: &str) {
    assert!(!message.ends_with('.'), "trailing period: {message}");
    assert!(
        message.starts_with(char::is_lowercase),
        "not lowercase: {message}"
    );
}

#[test]
fn the_samples_load_in_file_name_order_and_resolve_by_id_and_by_name() {
    let agents = AgentDirectory::load(Path::new(SAMPLES)).expect("samples load");
    assert_eq!(agents.len(), 2);
    let names: Vec<&str> = agents.iter().map(Agent::name).collect();
    assert_eq!(names, ["room-concierge", "front-desk"]);
    let booking = agents.resolve(BOOKING_ID).expect("booking by id");
    assert_eq!(booking.name(), "room-concierge");
    assert_eq!(booking.scopes(), ["bookings:read", "bookings:write"]);
    assert_eq!(booking.principal_id(), "front-office@harbourview.example");
    assert_eq!(booking.owner_id(), Some("harbourview.example"));
    assert_eq!(booking.lifecycle(), Lifecycle::Active);
    assert!(booking
        .source()
        .is_some_and(|p| p.ends_with("booking.agent.json")));
    assert_eq!(
        agents.by_name("room-concierge").map(Agent::id),
        Some(BOOKING_ID)
    );
    assert_eq!(
        agents.by_name(FRONT_DESK_ID).map(Agent::name),
        Some("front-desk")
    );
    assert!(agents.resolve("room-concierge").is_none());
    assert!(agents.by_name("nobody").is_none());
}

#[test]
fn a_v1_document_is_migrated_to_v2_on_load() {
    let agents = AgentDirectory::load(Path::new(SAMPLES)).expect("samples load");
    let front_desk = agents.resolve(FRONT_DESK_ID).expect("front desk");
    let document = front_desk.document();
    assert_eq!(document["document_version"], "v1-migrated");
    assert!(document.get("capabilities").is_none());
    assert_eq!(
        document["requires"],
        json!({"methods": ["QUERY", "SUMMARIZE"], "scopes": [], "wildcards": false})
    );
    assert_eq!(document["skills"], json!([document["description"].clone()]));
    assert_eq!(document["scopes_accepted"], json!(["frontdesk:read"]));
    assert!(front_desk.scopes().is_empty());
    assert!(front_desk.method_permitted("SUMMARIZE"));
    assert!(!front_desk.method_permitted("BOOK"));
    assert_eq!(front_desk.owner_id(), None);
}

#[test]
fn a_v1_document_with_a_blank_description_gets_no_skills() {
    let mut v1 = sample("front-desk.agent.json");
    v1["description"] = json!("   ");
    let agent = from_document(v1).expect("valid after migration");
    assert_eq!(agent.document()["skills"], json!([]));
}

#[test]
fn a_v2_document_is_kept_as_it_is() {
    let document = sample("booking.agent.json");
    let agent = from_document(document.clone()).expect("valid");
    assert_eq!(agent.document(), &document);
}

#[test]
fn invalid_json_is_refused_naming_the_file_line_and_column() {
    let dir = dir_with(&[("broken.agent.json", b"{\n  \"name\": \"x\",\n}\n")]);
    let error = load_error(dir.path());
    let message = error.to_string();
    assert!(message.contains("broken.agent.json"), "{message}");
    assert!(
        message.contains("invalid JSON at line 3, column 1"),
        "{message}"
    );
    assert!(matches!(
        error,
        AgentLoadError::Invalid {
            problem: AgentProblem::Json {
                line: 3,
                column: 1,
                ..
            },
            ..
        }
    ));
    assert_message_style(&message);
}

#[test]
fn a_schema_violation_is_refused_naming_the_file_and_the_json_pointer() {
    let mut document = sample("booking.agent.json");
    document["requires"]["methods"] = json!(["BOOK", "book"]);
    let dir = dir_with(&[("bad.agent.json", &bytes(&document))]);
    let message = load_error(dir.path()).to_string();
    assert!(message.contains("bad.agent.json"), "{message}");
    assert!(
        message.contains("schema violation at `/requires/methods/1`"),
        "{message}"
    );
    assert_message_style(&message);
}

#[test]
fn an_unreadable_directory_is_refused_naming_the_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing: PathBuf = dir.path().join("no-such-dir");
    let error = load_error(&missing);
    assert!(matches!(error, AgentLoadError::ReadDir { .. }));
    let message = error.to_string();
    assert!(message.contains("no-such-dir"), "{message}");
    assert_message_style(&message);
}

#[test]
fn a_duplicate_agent_id_is_refused_naming_both_files() {
    let copy = booking_with("name", json!("room-concierge-2"));
    let dir = dir_with(&[
        ("a.agent.json", &bytes(&sample("booking.agent.json"))),
        ("b.agent.json", &bytes(&copy)),
    ]);
    let message = load_error(dir.path()).to_string();
    assert!(message.contains("a.agent.json"), "{message}");
    assert!(message.contains("b.agent.json"), "{message}");
    assert!(
        message.contains(&format!("agent_id `{BOOKING_ID}`")),
        "{message}"
    );
    assert_message_style(&message);
}

#[test]
fn a_duplicate_name_is_refused_naming_both_files() {
    let other = booking_with("agent_id", json!("0".repeat(64)));
    let dir = dir_with(&[
        ("a.agent.json", &bytes(&sample("booking.agent.json"))),
        ("b.agent.json", &bytes(&other)),
    ]);
    let message = load_error(dir.path()).to_string();
    assert!(
        message.contains("a.agent.json") && message.contains("b.agent.json"),
        "{message}"
    );
    assert!(message.contains("name `room-concierge`"), "{message}");
}

#[test]
fn a_file_over_one_mebibyte_is_refused_before_it_is_parsed() {
    let mut huge = vec![b' '; usize::try_from(MAX_DOCUMENT_BYTES).expect("fits") + 1];
    huge[0] = b'{';
    let dir = dir_with(&[("huge.agent.json", &huge)]);
    let error = load_error(dir.path());
    assert!(matches!(
        error,
        AgentLoadError::Invalid {
            problem: AgentProblem::TooLarge {
                limit: MAX_DOCUMENT_BYTES
            },
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("huge.agent.json") && message.contains("larger than"),
        "{message}"
    );
}

#[test]
fn only_agent_json_files_directly_in_the_directory_are_loaded() {
    let booking = bytes(&sample("booking.agent.json"));
    let dir = dir_with(&[
        ("booking.agent.json", &booking),
        ("notes.json", b"not an agent"),
        ("README.md", b"# agents"),
        (".agent.json", b"{"),
    ]);
    fs::create_dir(dir.path().join("nested.agent.json")).expect("mkdir");
    fs::create_dir(dir.path().join("sub")).expect("mkdir");
    fs::write(dir.path().join("sub/other.agent.json"), b"{").expect("write");
    let agents = AgentDirectory::load(dir.path()).expect("loads");
    assert_eq!(agents.len(), 1);
}

#[test]
fn an_empty_directory_and_the_empty_directory_have_no_agents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = AgentDirectory::load(dir.path()).expect("loads");
    assert!(loaded.is_empty());
    assert_eq!(AgentDirectory::empty().len(), 0);
    assert!(AgentDirectory::empty().resolve(BOOKING_ID).is_none());
}
