//! From a parsed file to an [`Endpoint`]: every rule the file format states, checked once,
//! and both schemas compiled once, so nothing at request time can find the file wrong.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Map;

use crate::catalog::{Catalog, MAX_SUGGESTIONS};
use crate::path_grammar::validate_path;

use super::endpoint::{Endpoint, HandlerBinding};
use super::problem::EndpointProblem;
use super::schema::{compile, object_schema, property_schema, toml_to_json};
use super::spec::{EndpointSpec, HandlerSpec, ParamSpec};
use super::template::{percent_decode, Segment};

/// The longest parameter name accepted.
const MAX_PARAM_NAME: usize = 64;

/// The longest handler timeout accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Checks `spec` and compiles its schemas.
pub(super) fn build(
    spec: EndpointSpec,
    source: &Path,
    catalog: &Catalog,
) -> Result<Endpoint, EndpointProblem> {
    let method = spec.method.trim().to_ascii_uppercase();
    check_method(&method, catalog)?;
    validate_path(&spec.path, catalog)?;
    let segments = parse_segments(&spec.path)?;

    let semantic = spec.semantic;
    if semantic.intent.trim().is_empty() {
        return Err(EndpointProblem::Empty {
            field: "semantic.intent",
        });
    }
    if semantic.outcome.trim().is_empty() {
        return Err(EndpointProblem::Empty {
            field: "semantic.outcome",
        });
    }
    if !(0.0..=1.0).contains(&semantic.confidence) {
        return Err(EndpointProblem::Confidence {
            value: semantic.confidence,
        });
    }

    let required = &spec.input.required;
    let optional = &spec.input.optional;
    let mut param_types = HashMap::new();
    let mut properties = Map::new();
    for param in required.iter().chain(optional) {
        check_param(param)?;
        if param_types.insert(param.name.clone(), param.ty).is_some() {
            return Err(param_problem(param, "is declared twice"));
        }
        properties.insert(param.name.clone(), property_schema(param)?);
    }
    for segment in &segments {
        let Segment::Param(name) = segment else {
            continue;
        };
        let Some(param) = required.iter().find(|param| &param.name == name) else {
            return Err(EndpointProblem::UndeclaredPathParam { name: name.clone() });
        };
        if !param.ty.is_scalar() {
            return Err(param_problem(
                param,
                "is a path parameter, so its type must be a string, integer, number or boolean",
            ));
        }
    }
    let required_names = required.iter().map(|param| param.name.clone()).collect();
    let input_schema = object_schema(properties, required_names, true);

    let mut output_properties = Map::new();
    for field in &spec.output {
        check_param(field)?;
        if output_properties
            .insert(field.name.clone(), property_schema(field)?)
            .is_some()
        {
            return Err(param_problem(
                field,
                "is declared twice in `[[endpoint.output]]`",
            ));
        }
    }
    let output_names = spec.output.iter().map(|field| field.name.clone()).collect();
    let output_schema = object_schema(output_properties, output_names, false);

    let errors = spec
        .errors
        .map(|errors| errors.into_names())
        .unwrap_or_default();
    check_list("errors", &errors, |c| c.is_ascii_graphic())?;
    check_list("required_scopes", &spec.required_scopes, |c| {
        c.is_ascii_graphic() && c != ','
    })?;

    Ok(Endpoint {
        handler: handler_binding(spec.handler)?,
        input_validator: compile(&input_schema, "input")?,
        output_validator: compile(&output_schema, "output")?,
        method,
        path: spec.path,
        description: spec.description.unwrap_or_default(),
        namespace: spec.namespace,
        semantic,
        errors,
        required_scopes: spec.required_scopes,
        input_schema,
        output_schema,
        param_types,
        segments,
        source_file: source.to_owned(),
    })
}

/// Approved verbs only: legacy HTTP verbs are refused too, since the catalog alone cannot
/// tell whether this server opts in to them.
fn check_method(method: &str, catalog: &Catalog) -> Result<(), EndpointProblem> {
    if let Some(replacement) = catalog.legacy_replacement(method) {
        return Err(EndpointProblem::LegacyMethod {
            method: method.to_owned(),
            replacement: replacement.to_owned(),
        });
    }
    if !catalog.is_approved(method) {
        return Err(EndpointProblem::UnknownMethod {
            method: method.to_owned(),
            suggestions: catalog.suggest(method, MAX_SUGGESTIONS),
        });
    }
    Ok(())
}

/// The path's segments. A `{param}` fills its whole segment and is named like a
/// parameter; literal text is stored percent-decoded so requests compare decoded.
fn parse_segments(path: &str) -> Result<Vec<Segment>, EndpointProblem> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    let mut segments = Vec::new();
    for raw in rest.split('/') {
        let template = |reason| EndpointProblem::Template {
            segment: raw.to_owned(),
            reason,
        };
        match raw
            .strip_prefix('{')
            .and_then(|inner| inner.strip_suffix('}'))
        {
            Some(name) => {
                if !is_param_name(name) {
                    return Err(template("must name a parameter in lowercase snake_case"));
                }
                if !seen.insert(name) {
                    return Err(template("repeats a parameter earlier in the path"));
                }
                segments.push(Segment::Param(name.to_owned()));
            }
            None if raw.contains(['{', '}']) => {
                return Err(template("mixes literal text and a `{param}` template"));
            }
            None => segments.push(Segment::Literal(percent_decode(raw))),
        }
    }
    Ok(segments)
}

/// `[a-z][a-z0-9_]*`, at most [`MAX_PARAM_NAME`] bytes.
fn is_param_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_PARAM_NAME
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn param_problem(param: &ParamSpec, reason: &str) -> EndpointProblem {
    EndpointProblem::Param {
        name: param.name.clone(),
        reason: reason.to_owned(),
    }
}

/// The per-entry rules shared by inputs and outputs.
fn check_param(param: &ParamSpec) -> Result<(), EndpointProblem> {
    if !is_param_name(&param.name) {
        return Err(param_problem(
            param,
            "the name must be lowercase snake_case (`[a-z][a-z0-9_]*`, at most 64 bytes)",
        ));
    }
    if param.description.trim().is_empty() {
        return Err(param_problem(param, "`description` must not be empty"));
    }
    if param
        .format
        .as_deref()
        .is_some_and(|format| format.trim().is_empty())
    {
        return Err(param_problem(param, "`format` must not be empty"));
    }
    if let Some(allowed) = &param.allowed {
        if allowed.is_empty() {
            return Err(param_problem(param, "`enum` must list at least one value"));
        }
        for value in allowed {
            let fits = toml_to_json(value).is_ok_and(|value| param.ty.admits(&value));
            if !fits {
                return Err(param_problem(
                    param,
                    &format!(
                        "`enum` value `{value}` is not of type `{}`",
                        param.ty.as_str()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Entries are non-empty, made of characters `ok` accepts, and listed once.
fn check_list(
    list: &'static str,
    entries: &[String],
    ok: impl Fn(char) -> bool,
) -> Result<(), EndpointProblem> {
    let mut seen = HashSet::new();
    for entry in entries {
        let reason = if entry.is_empty() || !entry.chars().all(&ok) {
            "must be non-empty visible ASCII without spaces"
        } else if !seen.insert(entry.as_str()) {
            "is listed twice"
        } else {
            continue;
        };
        return Err(EndpointProblem::ListEntry {
            list,
            value: entry.clone(),
            reason,
        });
    }
    Ok(())
}

fn handler_binding(spec: HandlerSpec) -> Result<HandlerBinding, EndpointProblem> {
    let spec = match spec {
        HandlerSpec::RegisteredFunction(spec) => spec,
        HandlerSpec::Proxy(table) => {
            let config = toml_to_json(&toml::Value::Table(table))
                .map_err(|reason| EndpointProblem::Handler { reason })?;
            return Ok(HandlerBinding::Proxy { config });
        }
        HandlerSpec::Composition {} => {
            return Err(EndpointProblem::UnsupportedHandler {
                kind: "composition",
            })
        }
        HandlerSpec::ExternalService {} => {
            return Err(EndpointProblem::UnsupportedHandler {
                kind: "external_service",
            })
        }
    };
    if spec.function.trim().is_empty() {
        return Err(EndpointProblem::Empty {
            field: "handler.function",
        });
    }
    let pool_name = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if spec.runtime.is_empty() || !spec.runtime.bytes().all(pool_name) {
        return Err(EndpointProblem::Runtime {
            runtime: spec.runtime,
        });
    }
    if spec.timeout.is_zero() || spec.timeout > MAX_TIMEOUT {
        return Err(EndpointProblem::Timeout {
            timeout: spec.timeout,
        });
    }
    Ok(HandlerBinding::RegisteredFunction {
        function: spec.function,
        runtime: spec.runtime,
        timeout: spec.timeout,
    })
}

#[cfg(test)]
mod tests;
