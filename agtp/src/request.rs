//! From flags to what goes on the wire: the request, the origin (with the plaintext/TLS
//! rule) and the client settings. Shared by a single request and `bench`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agtp_core::client::{ClientConfig, ClientIdentity, Origin, TlsOptions, Uri};
use agtp_core::Request;
use bytes::Bytes;

use super::cli::{TargetArgs, TlsArgs};
use super::exit::Failure;

/// The request `target` describes, with `body` (`JSON`, `@FILE` or `@-`).
pub(crate) fn build(target: &TargetArgs, body: Option<&str>) -> Result<(Uri, Request), Failure> {
    let uri = target
        .uri
        .clone()
        .ok_or_else(|| Failure::usage("a URI is required"))?;
    let (method, path) = match (target.method.as_deref(), target.path.as_deref()) {
        (Some(first), None) if first.starts_with('/') => ("DISCOVER", Some(first)),
        (Some(first), Some(_)) if first.starts_with('/') => {
            return Err(Failure::usage(format!(
                "`{first}` looks like a path, but it stands where the METHOD goes"
            )))
        }
        (method, path) => (method.unwrap_or("DISCOVER"), path),
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(Failure::usage(format!(
            "`{method}`: not a valid method name"
        )));
    }
    let mut request = uri.request(method);
    if let Some(path) = path {
        if let Some(from_uri) = uri.path() {
            return Err(Failure::usage(format!(
                "the URI already addresses `{from_uri}`; give either the URI path or PATH, not both"
            )));
        }
        let (path, query) = split_path(path)?;
        request.path = Some(path);
        request.query.extend(query);
    }
    if let Some(id) = &target.agent_id {
        match uri.agent_id() {
            Some(in_uri) if in_uri != id => {
                return Err(Failure::usage(format!(
                    "--agent-id `{id}` differs from the Agent-ID in the URI, `{in_uri}`"
                )))
            }
            Some(_) => {}
            None => {
                check_value("--agent-id", id)?;
                request.headers.append("Agent-ID", id.as_str());
            }
        }
    }
    for header in &target.headers {
        let (name, value) = parse_header(header)?;
        request.headers.append(name, value);
    }
    if let Some(body) = body {
        request.body = read_body(body)?;
        if !request.body.is_empty() && !request.headers.contains("Content-Type") {
            request.headers.append("Content-Type", "application/json");
        }
    }
    Ok((uri, request))
}

/// Where to connect. The rule: TLS unless the host is loopback; `--tls`, `--cacert` and
/// `--insecure` ask for TLS on loopback too.
pub(crate) fn origin(uri: &Uri, tls: &TlsArgs) -> Origin {
    let wants_tls = tls.tls || tls.cacert.is_some() || tls.insecure || tls.cert.is_some();
    uri.secure_origin(wants_tls)
}

/// Client settings: `timeout` bounds connecting and, separately, the response.
pub(crate) fn client_config(tls: &TlsArgs, timeout: Duration) -> Result<ClientConfig, Failure> {
    let mut options = TlsOptions {
        insecure: tls.insecure,
        ..TlsOptions::default()
    };
    if let Some(path) = &tls.cacert {
        options
            .add_pem_file(path)
            .map_err(|e| Failure::no_input(format!("--cacert: {}", strip_tls_prefix(&e))))?;
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        let identity = ClientIdentity::from_pem_files(cert, key)
            .map_err(|e| Failure::no_input(format!("--cert: {}", strip_tls_prefix(&e))))?;
        options.identity = Some(Arc::new(identity));
    }
    Ok(ClientConfig {
        connect_timeout: timeout,
        response_timeout: timeout,
        tls: options,
        ..ClientConfig::default()
    })
}

fn strip_tls_prefix(error: &agtp_core::client::ClientError) -> String {
    let text = error.to_string();
    text.strip_prefix("TLS with -: ")
        .map(str::to_owned)
        .unwrap_or(text)
}

fn split_path(target: &str) -> Result<(String, Vec<(String, String)>), Failure> {
    if !target.starts_with('/') {
        return Err(Failure::usage(format!(
            "`{target}`: the path must start with `/`"
        )));
    }
    if target.contains('#') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::usage(format!(
            "`{target}`: the path must be visible ASCII without `#`; percent-encode the rest"
        )));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Ok((path.to_owned(), query))
}

fn parse_header(header: &str) -> Result<(String, String), Failure> {
    let invalid = || Failure::usage(format!("-H `{header}`: expected `Name: value`"));
    let (name, value) = header.split_once(':').ok_or_else(invalid)?;
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(invalid());
    }
    let value = value.trim();
    check_value(&format!("-H `{name}`"), value)?;
    Ok((name.to_owned(), value.to_owned()))
}

fn check_value(what: &str, value: &str) -> Result<(), Failure> {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(Failure::usage(format!(
            "{what}: the value must not contain control characters"
        )));
    }
    Ok(())
}

fn read_body(body: &str) -> Result<Bytes, Failure> {
    match body.strip_prefix('@') {
        None => Ok(Bytes::copy_from_slice(body.as_bytes())),
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::no_input(format!("-d @-: cannot read stdin: {e}")))?;
            Ok(bytes.into())
        }
        Some(path) => std::fs::read(Path::new(path))
            .map(Bytes::from)
            .map_err(|e| Failure::no_input(format!("-d @{path}: {}", describe(&e)))),
    }
}

fn describe(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
