//! The per-agent gates (lifecycle, scopes, soft-deny) and DESCRIBE content negotiation.

use agtp_core::{Response, Status};
use serde_json::{json, Value};

use super::super::tests::{booking_with, sample};
use super::super::*;

fn booking() -> Agent {
    from_document(sample("booking.agent.json")).expect("sample is valid")
}

fn content_type(response: &Response) -> &str {
    response.headers.get("content-type").unwrap_or("")
}

fn body_text(response: &Response) -> &str {
    std::str::from_utf8(&response.body).expect("utf-8 body")
}

#[test]
fn each_lifecycle_state_maps_to_its_wire_answer() {
    let cases = [
        ("active", None),
        ("suspended", Some((503, "agent-suspended"))),
        ("retired", Some((410, "agent-retired"))),
        ("deprecated", Some((410, "agent-deprecated"))),
    ];
    for (status, expected) in cases {
        let agent = from_document(booking_with("status", json!(status))).expect("valid");
        assert_eq!(agent.lifecycle().as_str(), status);
        assert_eq!(agent.lifecycle().serves(), expected.is_none());
        let error = lifecycle_error(&agent);
        assert_eq!(
            error.as_ref().map(|e| (e.status.code(), e.code.as_ref())),
            expected,
            "{status}"
        );
        if let Some(error) = error {
            assert_eq!(error.details["agent_status"], status);
            assert_eq!(error.details["agent_id"], agent.id());
            assert_eq!(lifecycle_error(&agent), Some(error));
        }
    }
}

#[test]
fn claiming_a_subset_of_the_declared_scopes_passes() {
    let agent = booking();
    assert_eq!(scope_error(&agent, "bookings:read"), None);
    assert_eq!(scope_error(&agent, "bookings:write,bookings:read"), None);
}

#[test]
fn claiming_an_undeclared_scope_answers_262_with_the_invalid_and_declared_lists() {
    let error = scope_error(&booking(), "bookings:read, ledger:write, admin").expect("refused");
    assert_eq!(error.status, Status::AUTHORIZATION_REQUIRED);
    assert_eq!(error.code, "scope-required");
    assert_eq!(
        error.details["details"],
        json!({
            "code": "scope-claim-invalid",
            "invalid": ["ledger:write", "admin"],
            "declared": ["bookings:read", "bookings:write"],
        })
    );
    assert!(
        error.message.contains("`ledger:write`"),
        "{}",
        error.message
    );
    assert!(!error.message.ends_with('.'));
}

#[test]
fn an_empty_or_blank_authority_scope_header_claims_nothing() {
    let agent = booking();
    for header in ["", "   ", ",", " , ,"] {
        assert_eq!(scope_error(&agent, header), None, "{header:?}");
    }
    assert!(claimed_scopes(" , ").is_empty());
}

#[test]
fn whitespace_around_claimed_scopes_is_ignored_but_case_is_not() {
    let agent = booking();
    assert_eq!(
        claimed_scopes(" bookings:read ,\tbookings:write "),
        ["bookings:read", "bookings:write"]
    );
    assert_eq!(
        scope_error(&agent, "  bookings:read  ,bookings:write\t"),
        None
    );
    let error = scope_error(&agent, "Bookings:Read").expect("case matters");
    assert_eq!(
        error.details["details"]["invalid"],
        json!(["Bookings:Read"])
    );
}

#[test]
fn a_verb_the_agent_does_not_list_is_soft_denied_with_403() {
    let agent = booking();
    assert!(agent.method_permitted("BOOK"));
    assert!(agent.method_permitted("cancel"));
    assert_eq!(method_error(&agent, "RESERVE"), None);
    assert!(!agent.method_permitted("PURCHASE"));
    let error = method_error(&agent, "PURCHASE").expect("refused");
    assert_eq!(error.status, Status::FORBIDDEN);
    assert_eq!(error.code, "method-not-permitted-for-agent");
    assert_eq!(error.details["method"], "PURCHASE");
    assert_eq!(method_error(&agent, "PURCHASE"), Some(error));
}

#[test]
fn discovery_and_mechanics_verbs_are_never_soft_denied() {
    let agent = booking();
    assert!(!agent.methods().iter().any(|m| m == "DESCRIBE"));
    for verb in SOFT_DENY_EXEMPT {
        assert!(agent.method_permitted(verb), "{verb}");
    }
    assert!(agent.method_permitted("describe"));
}

#[test]
fn a_wildcard_agent_is_permitted_any_verb() {
    let mut document = sample("booking.agent.json");
    document["requires"]["wildcards"] = json!(true);
    let agent = from_document(document).expect("valid");
    assert!(agent.wildcards());
    assert!(agent.method_permitted("PURCHASE"));
    assert_eq!(method_error(&agent, "ANYTHING"), None);
}

#[test]
fn describe_answers_json_by_default_and_for_anything_it_cannot_make() {
    let agent = booking();
    for accept in [
        None,
        Some(""),
        Some("*/*"),
        Some("application/xml"),
        Some("nonsense"),
        Some("*/*;q=0"),
    ] {
        let response = describe(&agent, accept);
        assert_eq!(response.status, Status::OK);
        assert_eq!(content_type(&response), JSON_CONTENT_TYPE, "{accept:?}");
        let value: Value = serde_json::from_slice(&response.body).expect("JSON body");
        assert_eq!(&value, agent.document());
    }
    let plain = describe(&agent, Some("application/json"));
    assert_eq!(content_type(&plain), "application/json");
    assert_eq!(plain.headers.get("vary"), Some("Accept"));
}

#[test]
fn describe_in_yaml_parses_back_to_the_same_document() {
    let agent = booking();
    for accept in [
        "application/yaml",
        "text/yaml",
        "application/x-yaml",
        "application/json;q=0.4, application/yaml",
    ] {
        let response = describe(&agent, Some(accept));
        assert!(content_type(&response).contains("yaml"), "{accept}");
        let value: Value = serde_norway::from_str(body_text(&response)).expect("YAML body");
        assert_eq!(&value, agent.document(), "{accept}");
    }
}

#[test]
fn describe_follows_q_values_and_specificity() {
    let agent = booking();
    let chosen = |accept: &str| content_type(&describe(&agent, Some(accept))).to_owned();
    assert_eq!(
        chosen("text/html;q=0.5, application/yaml"),
        "application/yaml"
    );
    assert_eq!(chosen("application/yaml;q=0.2, text/*;q=0.9"), "text/yaml");
    assert_eq!(chosen("application/yaml, */*"), "application/yaml");
    assert_eq!(chosen("text/html;q=0, */*;q=0.1"), JSON_CONTENT_TYPE);
    assert_eq!(
        chosen("application/yaml;q=2, text/html"),
        "text/html; charset=utf-8"
    );
    assert_eq!(
        chosen("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        "text/html; charset=utf-8"
    );
}

#[test]
fn the_html_card_escapes_everything_it_shows() {
    let mut document = sample("booking.agent.json");
    document["description"] = json!("<script>alert('x')</script> & more");
    document["principal"] = json!("\"Quoted\" <b>Inc</b>");
    document["skills"] = json!(["<img src=x onerror=alert(1)>"]);
    document["requires"]["scopes"] = json!(["a<b"]);
    let agent = from_document(document).expect("valid");
    let response = describe(&agent, Some("text/html"));
    assert_eq!(content_type(&response), "text/html; charset=utf-8");
    let html = body_text(&response);
    assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(html.contains("&quot;Quoted&quot;"));
    assert!(html.contains("<code>a&lt;b</code>"));
    for shown in [
        agent.name(),
        agent.id(),
        "active",
        "front-office@harbourview.example",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
}
