//! The endpoint file as serde reads it, before any rule beyond its shape is checked.
//!
//! Every table refuses keys it does not know (`deny_unknown_fields`), so a misspelt key is
//! a load error rather than a silently absent setting. `build.rs` turns an
//! [`EndpointFile`] into an [`Endpoint`](super::Endpoint).

use std::time::Duration;

use serde::Deserialize;

use super::semantic::Semantic;

/// A whole endpoint file: exactly one `[endpoint]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndpointFile {
    pub(super) endpoint: EndpointSpec,
}

/// The `[endpoint]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndpointSpec {
    pub(super) method: String,
    pub(super) path: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    pub(super) semantic: Semantic,
    #[serde(default)]
    pub(super) input: InputSpec,
    #[serde(default)]
    pub(super) output: Vec<ParamSpec>,
    #[serde(default)]
    pub(super) errors: Option<ErrorsSpec>,
    #[serde(default)]
    pub(super) required_scopes: Vec<String>,
    pub(super) handler: HandlerSpec,
}

/// `[endpoint.input]`: the `required` and `optional` parameter lists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputSpec {
    #[serde(default)]
    pub(super) required: Vec<ParamSpec>,
    #[serde(default)]
    pub(super) optional: Vec<ParamSpec>,
}

/// One input parameter or output field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ParamSpec {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) ty: ParamType,
    pub(super) description: String,
    #[serde(default)]
    pub(super) format: Option<String>,
    #[serde(default, rename = "enum")]
    pub(super) allowed: Option<Vec<toml::Value>>,
    #[serde(default)]
    pub(super) schema: Option<toml::Table>,
}

/// The JSON type a parameter declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

impl ParamType {
    /// The JSON Schema `type` keyword value.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Object => "object",
            ParamType::Array => "array",
        }
    }

    /// Whether `value` is an instance of this type.
    pub(super) fn admits(self, value: &serde_json::Value) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Integer => value.is_i64() || value.is_u64(),
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::Object => value.is_object(),
            ParamType::Array => value.is_array(),
        }
    }

    /// Whether a value of this type can be written in one path segment or query value.
    pub(super) fn is_scalar(self) -> bool {
        match self {
            ParamType::String | ParamType::Integer | ParamType::Number | ParamType::Boolean => true,
            ParamType::Object | ParamType::Array => false,
        }
    }
}

/// The declared error names, in either accepted form: `errors = [...]` inside `[endpoint]`,
/// or an `[endpoint.errors]` table holding `list = [...]`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "`errors` must be an array of error names or a table with `list = [...]`"
)]
pub(super) enum ErrorsSpec {
    Bare(Vec<String>),
    Table(ErrorsTable),
}

/// `[endpoint.errors]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ErrorsTable {
    pub(super) list: Vec<String>,
}

impl ErrorsSpec {
    /// The names, whichever form declared them.
    pub(super) fn into_names(self) -> Vec<String> {
        match self {
            ErrorsSpec::Bare(names) | ErrorsSpec::Table(ErrorsTable { list: names }) => names,
        }
    }
}

/// `[endpoint.handler]`, chosen by its `type` key.
///
/// The kinds agtpd does not run are still recognised (their keys ignored) so that
/// `build.rs` can refuse them by name instead of reporting their keys as unknown.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum HandlerSpec {
    RegisteredFunction(RegisteredFunctionSpec),
    /// Forwarded by the `proxy` module, which checks the rest of the table.
    Proxy(toml::Table),
    Composition {},
    ExternalService {},
}

/// A `registered_function` handler: a name a runtime process resolves, the pool of
/// runtime processes that serves it, and how long one call may take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisteredFunctionSpec {
    pub(super) function: String,
    #[serde(default = "default_runtime")]
    pub(super) runtime: String,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub(super) timeout: Duration,
}

/// The runtime pool a handler runs in when its file names none.
pub(super) const DEFAULT_RUNTIME: &str = "default";

/// How long a handler call may take when its file says nothing.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn default_runtime() -> String {
    DEFAULT_RUNTIME.to_owned()
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}
