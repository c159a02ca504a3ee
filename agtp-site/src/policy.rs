//! `[policies]` compiled against the verb catalog: the verb policy (allow, disallow,
//! legacy aliases, redirects) and the anonymous-discovery switch.

use std::collections::{BTreeMap, HashMap, HashSet};

use agtp_core::{AgtpError, Status};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::Catalog;
use crate::path_grammar::validate_path;

/// `[policies]`: what the server admits beyond the protocol's own rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policies {
    /// Whether a server-level DISCOVER may omit `Agent-ID` (262 otherwise).
    pub anonymous_discovery: bool,
    /// Verb policy.
    pub methods: MethodPolicy,
    /// Every agent must prove its identity with a client certificate (mTLS); an agent
    /// document can also demand it for itself (`policies.identity.require_certificate`).
    pub require_certificate: bool,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            anonymous_discovery: true,
            methods: MethodPolicy::default(),
            require_certificate: false,
        }
    }
}

/// `[policies.methods]`. Embedded verbs are never refused by this policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MethodPolicy {
    /// When not empty, only these verbs (plus the embedded ones) are admitted.
    pub allow: Vec<String>,
    /// Verbs refused with 405 `method-not-allowed-by-policy`.
    pub disallow: Vec<String>,
    /// Admit the legacy HTTP verbs, served as their AGTP replacements (GET as FETCH).
    pub legacy: bool,
    /// `"METHOD /path" = "METHOD /path"` rewrites, applied once, after the gates.
    pub redirects: BTreeMap<String, String>,
}

/// A `[policies]` value the catalog refuses: the dotted key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct PolicyError {
    /// The offending key, dotted (`policies.methods.allow`).
    pub key: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> PolicyError {
    PolicyError {
        key,
        message: message.into(),
    }
}

/// The policy, checked and ready for per-request lookups.
#[derive(Debug)]
pub struct Policy {
    /// Whether anonymous server-level discovery is answered.
    pub anonymous_discovery: bool,
    /// Whether every agent must present a client certificate.
    pub require_certificate: bool,
    allow: HashSet<String>,
    disallow: HashSet<String>,
    legacy: bool,
    redirects: HashMap<(String, String), (String, String)>,
}

impl Policy {
    /// Compiles `policies` against `catalog`: every verb it names must be approved, and
    /// every redirect target well formed.
    pub fn new(policies: &Policies, catalog: &Catalog) -> Result<Policy, PolicyError> {
        let verbs = |key: &'static str, list: &[String]| -> Result<HashSet<String>, PolicyError> {
            list.iter()
                .map(|verb| {
                    let upper = verb.to_ascii_uppercase();
                    if catalog.is_approved(&upper) {
                        Ok(upper)
                    } else {
                        Err(invalid(
                            key,
                            format!("`{verb}` is not a verb of the catalog"),
                        ))
                    }
                })
                .collect()
        };
        let allow = verbs("policies.methods.allow", &policies.methods.allow)?;
        let disallow = verbs("policies.methods.disallow", &policies.methods.disallow)?;
        let mut redirects = HashMap::new();
        for (from, to) in &policies.methods.redirects {
            redirects.insert(parse_target(from, catalog)?, parse_target(to, catalog)?);
        }
        Ok(Policy {
            anonymous_discovery: policies.anonymous_discovery,
            require_certificate: policies.require_certificate,
            allow,
            disallow,
            legacy: policies.methods.legacy,
            redirects,
        })
    }

    /// The verb a legacy HTTP verb is served as, when the policy admits legacy verbs.
    pub fn alias<'c>(&self, catalog: &'c Catalog, verb: &str) -> Option<&'c str> {
        self.legacy
            .then(|| catalog.legacy_replacement(verb))
            .flatten()
    }

    /// 405 `method-not-allowed-by-policy` when the policy refuses `verb`. Embedded verbs
    /// always pass, so no policy can take the server off-protocol.
    pub fn refusal(&self, catalog: &Catalog, verb: &str) -> Option<AgtpError> {
        if catalog.is_embedded(verb) {
            return None;
        }
        let refused =
            self.disallow.contains(verb) || (!self.allow.is_empty() && !self.allow.contains(verb));
        refused.then(|| {
            AgtpError::new(
                Status::METHOD_NOT_ALLOWED,
                "method-not-allowed-by-policy",
                format!("this server's policy does not admit `{verb}`"),
            )
            .with_detail("method", verb)
        })
    }

    /// Where `(method, path)` is redirected to, if anywhere. Single hop by construction.
    pub fn redirect(&self, method: &str, path: &str) -> Option<(&str, &str)> {
        self.redirects
            .get(&(method.to_owned(), path.to_owned()))
            .map(|(m, p)| (m.as_str(), p.as_str()))
    }

    /// The `policies` block of the Server Manifest, in the reference's shape: `methods`
    /// holds `allow` (`"*"` or the sorted verbs), and, when set, `disallow`, `aliases`
    /// (each legacy verb and what it is served as) and `redirects`.
    /// `scope_required_for_invocation` tells whether some endpoint requires scopes.
    pub fn manifest_block(&self, catalog: &Catalog, scopes_required: bool) -> Value {
        let sorted = |verbs: &HashSet<String>| {
            let mut verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
            verbs.sort_unstable();
            json!(verbs)
        };
        let mut methods = serde_json::Map::new();
        methods.insert(
            "allow".into(),
            if self.allow.is_empty() {
                json!("*")
            } else {
                sorted(&self.allow)
            },
        );
        if !self.disallow.is_empty() {
            methods.insert("disallow".into(), sorted(&self.disallow));
        }
        if self.legacy {
            let aliases: serde_json::Map<String, Value> = catalog
                .legacy_verbs()
                .into_iter()
                .map(|(verb, served_as)| (verb.to_owned(), json!(served_as)))
                .collect();
            methods.insert("aliases".into(), Value::Object(aliases));
        }
        if !self.redirects.is_empty() {
            let mut redirects: Vec<_> = self.redirects.iter().collect();
            redirects.sort_unstable();
            let redirects: Vec<Value> = redirects
                .into_iter()
                .map(|((from_method, from_path), (to_method, to_path))| {
                    json!({"from_method": from_method, "from_path": from_path,
                           "to_method": to_method, "to_path": to_path})
                })
                .collect();
            methods.insert("redirects".into(), json!(redirects));
        }
        json!({
            "anonymous_discovery": self.anonymous_discovery,
            "wildcards_accepted": true,
            "scope_required_for_invocation": scopes_required,
            "synthesis_enabled": false,
            "methods": methods,
        })
    }
}

/// Parses `"METHOD /path"` from a redirect entry.
fn parse_target(text: &str, catalog: &Catalog) -> Result<(String, String), PolicyError> {
    let key = "policies.methods.redirects";
    let (method, path) = text
        .split_once(' ')
        .ok_or_else(|| invalid(key, format!("`{text}`: expected `METHOD /path`")))?;
    let method = method.to_ascii_uppercase();
    if !catalog.is_approved(&method) {
        return Err(invalid(
            key,
            format!("`{text}`: `{method}` is not a verb of the catalog"),
        ));
    }
    validate_path(path, catalog).map_err(|e| invalid(key, format!("`{text}`: {e}")))?;
    Ok((method, path.to_owned()))
}
