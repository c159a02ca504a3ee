//! [`EndpointProblem`]: each rule an endpoint file can break, as a message naming it.

use crate::path_grammar::PathGrammarError;

/// A rule an endpoint file breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EndpointProblem {
    /// The method is not in the verb catalog.
    #[error(
        "method `{method}` is not a verb of the AGTP catalog{}",
        suggest(suggestions)
    )]
    UnknownMethod {
        /// The method, upper-cased.
        method: String,
        /// Catalog verbs close to it.
        suggestions: Vec<String>,
    },
    /// The method is a legacy HTTP verb; endpoints are declared with AGTP verbs.
    #[error("method `{method}` is a legacy HTTP verb; declare the endpoint with `{replacement}`")]
    LegacyMethod {
        /// The method, upper-cased.
        method: String,
        /// The AGTP verb that replaces it.
        replacement: String,
    },
    /// The path breaks the path grammar.
    #[error(transparent)]
    Path(#[from] PathGrammarError),
    /// A path segment is a malformed `{param}` template.
    #[error("path segment `{segment}` {reason}")]
    Template {
        /// The segment as written.
        segment: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `{param}` of the path is not a required input parameter.
    #[error("path parameter `{name}` must be declared in `[[endpoint.input.required]]`")]
    UndeclaredPathParam {
        /// The parameter name.
        name: String,
    },
    /// A text field that must say something is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field, as a dotted key.
        field: &'static str,
    },
    /// `semantic.confidence` is outside 0..=1.
    #[error("`semantic.confidence` must be between 0 and 1, not {value}")]
    Confidence {
        /// The declared value.
        value: f64,
    },
    /// An input parameter or output field is malformed.
    #[error("parameter `{name}`: {reason}")]
    Param {
        /// The parameter name, as written.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A declared error name or required scope is malformed or repeated.
    #[error("{list} entry `{value}`: {reason}")]
    ListEntry {
        /// `errors` or `required_scopes`.
        list: &'static str,
        /// The entry.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The handler kind exists in AGTP but agtpd does not run it.
    #[error(
        "handler type `{kind}` is not supported by agtpd; use `registered_function` or `proxy`"
    )]
    UnsupportedHandler {
        /// The declared kind.
        kind: &'static str,
    },
    /// The handler table holds a value JSON cannot carry.
    #[error("`handler`: {reason}")]
    Handler {
        /// What is wrong.
        reason: String,
    },
    /// `handler.runtime` is not a pool name.
    #[error("`handler.runtime` `{runtime}` must be ASCII letters, digits, `-` or `_`")]
    Runtime {
        /// The declared name.
        runtime: String,
    },
    /// `handler.timeout` is zero or absurdly long.
    #[error("`handler.timeout` must be more than 0 and at most 1h, not {}", humantime_serde::re::humantime::format_duration(*timeout))]
    Timeout {
        /// The declared timeout.
        timeout: std::time::Duration,
    },
    /// A generated schema does not compile (an inline `schema` is usually why).
    #[error("the {which} schema does not compile: {reason}")]
    Schema {
        /// `input` or `output`.
        which: &'static str,
        /// The compiler's complaint.
        reason: String,
    },
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    format!(" (did you mean {}?)", crate::text::quoted_list(suggestions))
}
