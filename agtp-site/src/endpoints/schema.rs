//! JSON Schemas built from the declared parameters, and validation failures turned into
//! the error envelope.
//!
//! The input schema is closed (`additionalProperties: false`) so a misspelt field in the
//! body or the query string is refused; the output schema is open, so a handler may add
//! fields, but every declared output field is required. `format` is an annotation
//! (2020-12's default): it is published, not enforced.

use agtp_core::{AgtpError, Status};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{json, Map, Value};

use super::problem::EndpointProblem;
use super::spec::ParamSpec;

/// The dialect every generated schema declares.
pub(super) const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// How many failures one error answer lists at most.
pub(super) const MAX_REPORTED_ERRORS: usize = 10;

/// The property schema of one parameter. An inline `schema` is taken as written, with the
/// declared `type` and `description` filled in when it has none; otherwise the schema is
/// built from `type`, `description`, `format` and `enum`.
pub(super) fn property_schema(param: &ParamSpec) -> Result<Value, EndpointProblem> {
    let problem = |reason: String| EndpointProblem::Param {
        name: param.name.clone(),
        reason,
    };
    if let Some(inline) = &param.schema {
        if param.format.is_some() || param.allowed.is_some() {
            return Err(problem(
                "`format` and `enum` go inside `schema` when `schema` is given".into(),
            ));
        }
        let Value::Object(mut schema) = toml_to_json(&toml::Value::Table(inline.clone()))
            .map_err(|reason| problem(format!("`schema`: {reason}")))?
        else {
            return Err(problem("`schema` must be a table".into()));
        };
        match schema.get("type") {
            None => {
                schema.insert("type".into(), Value::from(param.ty.as_str()));
            }
            Some(Value::String(ty)) if ty == param.ty.as_str() => {}
            Some(other) => {
                return Err(problem(format!(
                    "`type` is `{}` but `schema` declares type {other}",
                    param.ty.as_str()
                )))
            }
        }
        schema
            .entry("description")
            .or_insert_with(|| Value::from(param.description.as_str()));
        let schema = Value::Object(schema);
        jsonschema::draft202012::new(&schema).map_err(|error| {
            problem(format!(
                "invalid `schema`: {}",
                lowercase_first(&error.to_string())
            ))
        })?;
        return Ok(schema);
    }
    let mut schema = Map::new();
    schema.insert("type".into(), Value::from(param.ty.as_str()));
    schema.insert(
        "description".into(),
        Value::from(param.description.as_str()),
    );
    if let Some(format) = &param.format {
        schema.insert("format".into(), Value::from(format.as_str()));
    }
    if let Some(allowed) = &param.allowed {
        let values = allowed
            .iter()
            .map(toml_to_json)
            .collect::<Result<Vec<Value>, String>>()
            .map_err(|reason| problem(format!("`enum`: {reason}")))?;
        schema.insert("enum".into(), Value::Array(values));
    }
    Ok(Value::Object(schema))
}

/// An object schema over `properties`; `required` lists the mandatory names.
pub(super) fn object_schema(
    properties: Map<String, Value>,
    required: Vec<String>,
    closed: bool,
) -> Value {
    let mut schema = json!({
        "$schema": DIALECT,
        "type": "object",
        "properties": properties,
        "required": required,
    });
    if let (true, Some(map)) = (closed, schema.as_object_mut()) {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    schema
}

/// Compiles a generated schema; `which` is `input` or `output`.
pub(super) fn compile(schema: &Value, which: &'static str) -> Result<Validator, EndpointProblem> {
    jsonschema::draft202012::new(schema).map_err(|error| EndpointProblem::Schema {
        which,
        reason: lowercase_first(&error.to_string()),
    })
}

/// `Ok` when `instance` satisfies `validator`; otherwise `status`/`code` with a `pointer`
/// to the first failing field and up to [`MAX_REPORTED_ERRORS`] `errors`.
pub(super) fn check(
    validator: &Validator,
    instance: &Value,
    status: Status,
    code: &'static str,
    what: &str,
) -> Result<(), AgtpError> {
    if validator.is_valid(instance) {
        return Ok(());
    }
    let mut failures: Vec<(String, String)> = Vec::new();
    for error in validator.iter_errors(instance) {
        failures.extend(describe(&error));
        if failures.len() >= MAX_REPORTED_ERRORS {
            break;
        }
    }
    failures.truncate(MAX_REPORTED_ERRORS);
    Err(failure(status, code, what, failures))
}

/// The error answer for `failures` (pointer, message); the first names the field.
pub(super) fn failure(
    status: Status,
    code: &'static str,
    what: &str,
    failures: Vec<(String, String)>,
) -> AgtpError {
    let (pointer, first) = failures.first().cloned().unwrap_or_default();
    let at = if pointer.is_empty() {
        "/"
    } else {
        pointer.as_str()
    };
    let errors: Vec<Value> = failures
        .into_iter()
        .map(|(pointer, message)| json!({"pointer": pointer, "message": message}))
        .collect();
    AgtpError::new(status, code, format!("{what}: at `{at}`: {first}"))
        .with_detail("pointer", pointer)
        .with_detail("errors", Value::Array(errors))
}

/// Pointer and message for one validation error. A missing property is reported at the
/// property (`/guest_id`), not at the object lacking it; each unexpected property gets
/// its own entry. Messages never echo the offending value.
fn describe(error: &ValidationError<'_>) -> Vec<(String, String)> {
    let base = error.instance_path().as_str();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![(
                child_pointer(base, name),
                format!("required property `{name}` is missing"),
            )]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                (
                    child_pointer(base, name),
                    format!("property `{name}` is not allowed"),
                )
            })
            .collect(),
        _ => vec![(
            base.to_owned(),
            lowercase_first(&error.masked_with("value").to_string()),
        )],
    }
}

/// `base` extended by one JSON Pointer token (`~` and `/` escaped).
fn child_pointer(base: &str, name: &str) -> String {
    format!("{base}/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Library messages start with a capital; ours do not.
pub(super) fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A TOML value as JSON: datetimes become their RFC 3339 text; non-finite floats, which
/// JSON cannot carry, are refused.
pub(super) fn toml_to_json(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(text) => Value::from(text.as_str()),
        toml::Value::Integer(n) => Value::from(*n),
        toml::Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(Value::Number)
            .ok_or_else(|| format!("`{x}` is not a finite number"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(datetime) => Value::from(datetime.to_string()),
        toml::Value::Array(items) => {
            Value::Array(items.iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(key, item)| Ok((key.clone(), toml_to_json(item)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}
