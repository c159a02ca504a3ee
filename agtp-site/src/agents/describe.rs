//! DESCRIBE of an agent: its document as JSON (the default), YAML, or a small HTML card,
//! chosen from the request's `Accept` (`accept.rs`).

use std::fmt::Write as _;

use agtp_core::{Response, Status};
use bytes::Bytes;
use serde_json::Value;

use super::accept::{self, Format};
use super::Agent;

/// The protocol's media type of an agent document as JSON.
pub const JSON_CONTENT_TYPE: &str = "application/vnd.agtp.identity+json";

/// The media type of the HTML card.
const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The 200 answer to DESCRIBE for `agent`, in the representation `accept` (the request's
/// `Accept` value, if any) prefers.
///
/// - `application/vnd.agtp.identity+json` (the default, also for a missing `Accept`,
///   `*/*`, or nothing acceptable) or `application/json` when that is what the client
///   asked for: the v2 document, pretty-printed;
/// - `application/vnd.agtp.identity+yaml`, or the aliases `application/yaml`, `text/yaml`
///   and `application/x-yaml`: the same document as YAML;
/// - `text/html`: a self-contained card (name, id, status, principal, description,
///   scopes, skills), every value HTML-escaped.
///
/// The response carries `Content-Type`, `Vary: Accept`, the agent's `Agent-ID` and
/// `X-AGTP-Document-Type: agtp.agent.document`. DESCRIBE is exempt from the lifecycle
/// gate: the document's `status` says whether the agent serves.
pub fn describe(agent: &Agent, accept: Option<&str>) -> Response {
    let (media_type, format) = accept::negotiate(accept);
    let (content_type, body) = match format {
        Format::Json => (media_type, json(agent.document())),
        // A `Value` always has a YAML form; should the serializer still fail, the client
        // gets the canonical JSON rather than an error.
        Format::Yaml => match serde_norway::to_string(agent.document()) {
            Ok(yaml) => (media_type, yaml),
            Err(_) => (JSON_CONTENT_TYPE, json(agent.document())),
        },
        Format::Html => (HTML_CONTENT_TYPE, card(agent)),
    };
    let mut response = Response::new(Status::OK);
    response.headers.append("Content-Type", content_type);
    response.headers.append("Vary", "Accept");
    response.headers.append("Agent-ID", agent.id());
    response
        .headers
        .append("X-AGTP-Document-Type", "agtp.agent.document");
    response.body = Bytes::from(body);
    response
}

/// The document as pretty-printed JSON.
fn json(document: &Value) -> String {
    format!("{document:#}")
}

/// The HTML card for `agent`.
fn card(agent: &Agent) -> String {
    let document = agent.document();
    let text = |key: &str| escape(document[key].as_str().unwrap_or_default());
    let name = escape(agent.name());
    let status = agent.lifecycle().as_str();
    let mut html = String::with_capacity(2048);
    // `write!` into a `String` cannot fail; the results are ignored on purpose.
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{name} (AGTP agent)</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <article class=\"agent\">\n<h1>{name}</h1>\n\
         <p class=\"status {status}\">{status}</p>\n<p>{description}</p>\n<dl>\n\
         <dt>Agent-ID</dt><dd><code>{id}</code></dd>\n\
         <dt>Principal</dt><dd>{principal} <code>{principal_id}</code></dd>\n\
         <dt>Scopes</dt><dd>{scopes}</dd>\n</dl>\n<h2>Skills</h2>\n{skills}\n\
         </article>\n</body>\n</html>\n",
        description = text("description"),
        id = escape(agent.id()),
        principal = text("principal"),
        principal_id = escape(agent.principal_id()),
        scopes = code_list(agent.scopes()),
        skills = item_list(&document["skills"]),
    );
    html
}

/// Inline style: the card must render with nothing else fetched.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
.agent{max-width:40rem;border:1px solid #ccc;border-radius:8px;padding:1rem 1.5rem}\
.status{display:inline-block;padding:0 .5rem;border-radius:4px;background:#eee}\
.active{background:#d4f7d4}.suspended{background:#fff1c2}\
.retired,.deprecated{background:#f7d4d4}dt{font-weight:bold}code{font-size:.9em}";

/// Scopes as comma-separated `<code>` items, or `none`.
fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|item| format!("<code>{}</code>", escape(item)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON array of strings as a `<ul>`, or a `none` paragraph.
fn item_list(items: &Value) -> String {
    let items: Vec<&str> = items
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        return "<p>none</p>".to_owned();
    }
    let mut list = String::from("<ul>\n");
    for item in items {
        let _ = writeln!(list, "<li>{}</li>", escape(item));
    }
    list.push_str("</ul>");
    list
}

/// `text` with the five HTML-significant characters escaped, safe in element content and
/// in quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}
