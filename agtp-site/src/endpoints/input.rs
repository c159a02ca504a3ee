//! Request-time work on an endpoint: merging body, query and path into one input object,
//! and checking input and output against the compiled schemas.
//!
//! Merge order, lowest to highest: query string, body, path. The body wins over the query
//! (authoritative input lives in the body); the path wins over both, and a body that
//! contradicts the path is refused rather than silently overridden.
//!
//! Query and path values arrive as strings. Each is coerced to its parameter's declared
//! type when the text is unambiguous, and left a string otherwise (the schema then
//! refuses it, with a pointer to the field):
//! - `integer`: canonical decimal only: `-?(0|[1-9][0-9]*)`, within 64 bits (`042`, `+4`,
//!   `-0`, `4.0` stay strings);
//! - `number`: JSON number syntax, finite (`4.5`, `-1e3`; not `.5`, `042`, `NaN`);
//! - `boolean`: exactly `true` or `false`;
//! - `string`, `object`, `array`, undeclared names: left as the string.

use agtp_core::{AgtpError, Status};
use serde_json::{Map, Number, Value};

use super::endpoint::Endpoint;
use super::schema::{check, failure};
use super::spec::ParamType;

impl Endpoint {
    /// The validated input for a request: `params` from the route, `query` from the request
    /// line (decoded), `body` as received. Errors: 400 `invalid-json`, 422
    /// `input-validation-failed` (with `pointer` and `errors` details).
    pub fn build_input(
        &self,
        params: &[(String, String)],
        query: &[(String, String)],
        body: &[u8],
    ) -> Result<Value, AgtpError> {
        let body = self.parse_body(body)?;
        for (name, raw) in params {
            let Some(given) = body.get(name) else {
                continue;
            };
            if given != &self.coerce(name, raw) && given.as_str() != Some(raw.as_str()) {
                return Err(failure(
                    Status::UNPROCESSABLE,
                    "input-validation-failed",
                    &format!("input for `{}` is inconsistent", self.label()),
                    vec![(
                        format!("/{}", pointer_token(name)),
                        format!("`{name}` in the body differs from the path, which says `{raw}`"),
                    )],
                ));
            }
        }
        let mut input = Map::new();
        // Order matters: each source overwrites the one before it.
        for (name, raw) in query {
            input.insert(name.clone(), self.coerce(name, raw));
        }
        input.extend(body);
        for (name, raw) in params {
            input.insert(name.clone(), self.coerce(name, raw));
        }
        let input = Value::Object(input);
        check(
            &self.input_validator,
            &input,
            Status::UNPROCESSABLE,
            "input-validation-failed",
            &format!("input does not match the contract of `{}`", self.label()),
        )?;
        Ok(input)
    }

    /// `Ok` when a handler's answer satisfies the output schema; otherwise 500
    /// `output-validation-failed` with the pointer of the first failing field.
    pub fn validate_output(&self, output: &Value) -> Result<(), AgtpError> {
        check(
            &self.output_validator,
            output,
            Status::SERVER_ERROR,
            "output-validation-failed",
            &format!(
                "the handler of `{}` answered outside its contract",
                self.label()
            ),
        )
    }

    /// The body as a JSON object; no bytes (or only whitespace) is the empty object.
    fn parse_body(&self, body: &[u8]) -> Result<Map<String, Value>, AgtpError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            // Malformed, like invalid JSON: no schema can accept a body that is not an
            // object, since path and query parameters merge into it.
            Ok(other) => Err(AgtpError::new(
                Status::BAD_REQUEST,
                "invalid-body",
                format!(
                    "the body of `{}` must be a JSON object, not {}",
                    self.label(),
                    kind(&other)
                ),
            )),
            Err(error) => Err(AgtpError::new(
                Status::BAD_REQUEST,
                "invalid-json",
                format!("the body is not valid JSON: {error}"),
            )
            .with_detail("line", error.line())
            .with_detail("column", error.column())),
        }
    }

    /// `raw` as the declared type of `name`, when the text is unambiguous.
    pub(super) fn coerce(&self, name: &str, raw: &str) -> Value {
        let coerced = match self.param_types.get(name) {
            Some(ParamType::Integer) => integer(raw),
            Some(ParamType::Number) => number(raw),
            Some(ParamType::Boolean) => match raw {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Some(ParamType::String | ParamType::Object | ParamType::Array) | None => None,
        };
        coerced.unwrap_or_else(|| Value::from(raw))
    }
}

/// A canonical decimal integer: no sign but `-`, no leading zero, not `-0`.
fn integer(raw: &str) -> Option<Value> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && raw != "-0";
    if !canonical {
        return None;
    }
    if let Ok(n) = raw.parse::<i64>() {
        return Some(Value::from(n));
    }
    raw.parse::<u64>().ok().map(Value::from)
}

/// JSON number syntax, finite; integer-shaped text stays an integer.
fn number(raw: &str) -> Option<Value> {
    if !is_json_number(raw) {
        return None;
    }
    if let Some(n) = integer(raw) {
        return Some(n);
    }
    let x: f64 = raw.parse().ok()?;
    Number::from_f64(x).map(Value::Number)
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let start = i;
    match digits(&mut i) {
        0 => return false,
        1 => {}
        _ if bytes[start] == b'0' => return false,
        _ => {}
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

/// One JSON Pointer reference token (`~` and `/` escaped).
fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The JSON kind of `value`, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
