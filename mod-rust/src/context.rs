//! [`Context`]: what a handler knows about the call it serves (PROTOCOL.md §8.1), and its way
//! to ask the daemon for a signature (§9).

use std::collections::BTreeMap;
use std::sync::Arc;

use runtime_protocol::{RequestEnvelope, Trust};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::sign::{Signature, Signer, SigningError};

/// The parts of a valid `traceparent` a child keeps: `VERSION-TRACEID-PARENTID-FLAGS`,
/// lower-case hex; version `ff` is invalid, `00` has exactly four fields, later versions
/// may add fields; all-zero ids are invalid.
struct TraceParent<'a> {
    trace_id: &'a str,
    flags: &'a str,
}

impl<'a> TraceParent<'a> {
    fn parse(value: &'a str) -> Option<TraceParent<'a>> {
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let mut fields = value.splitn(5, '-');
        let (version, trace_id, parent_id, flags) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let more = fields.next().is_some();
        let valid = hex(version, 2)
            && version != "ff"
            && !(version == "00" && more)
            && hex(trace_id, 32)
            && hex(parent_id, 16)
            && hex(flags, 2)
            && trace_id.bytes().any(|b| b != b'0')
            && parent_id.bytes().any(|b| b != b'0');
        valid.then_some(TraceParent { trace_id, flags })
    }
}

/// `N` random bytes in lower-case hex, never all zero.
fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    while bytes.iter().all(|&b| b == 0) {
        getrandom::getrandom(&mut bytes).expect("the OS's random generator works");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request context handed to every handler: who is calling, for whom, under which
/// scopes, until when. Cheap to clone.
///
/// Identity and scopes were decided by the daemon before the call reached the runtime; take
/// them as given and do not re-authenticate.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The gateway's id for this call (the `request` frame's `request_id`).
    gateway_request_id: String,
    /// The envelope, its `input` moved out to the handler's argument.
    envelope: RequestEnvelope,
    trust: Option<Trust>,
    deadline: Instant,
    /// The declared path of the endpoint that matched, e.g. `/rooms/{room_id}`.
    endpoint_path: String,
    params: Vec<(String, String)>,
    signer: Option<Signer>,
}

impl Context {
    /// Everything about one call except its input. The connection task builds these.
    pub(crate) fn new(
        gateway_request_id: String,
        envelope: RequestEnvelope,
        trust: Option<Trust>,
        deadline: Instant,
        endpoint_path: String,
        params: Vec<(String, String)>,
        signer: Option<Signer>,
    ) -> Context {
        Context {
            inner: Arc::new(Inner {
                gateway_request_id,
                envelope,
                trust,
                deadline,
                endpoint_path,
                params,
                signer,
            }),
        }
    }

    /// The AGTP method, upper case.
    pub fn method(&self) -> &str {
        &self.inner.envelope.method
    }

    /// The path the agent called, e.g. `/rooms/42`.
    pub fn path(&self) -> &str {
        &self.inner.envelope.path
    }

    /// The declared path of the endpoint being served, e.g. `/rooms/{room_id}`.
    pub fn endpoint_path(&self) -> &str {
        &self.inner.endpoint_path
    }

    /// The value of the `{name}` segment of the path, percent-decoded. The daemon also merged
    /// path parameters into the input.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        let params = &self.inner.params;
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The calling agent; empty for anonymous calls.
    pub fn agent_id(&self) -> &str {
        &self.inner.envelope.agent_id
    }

    /// Whom the agent acts for; may be empty.
    pub fn principal_id(&self) -> &str {
        &self.inner.envelope.principal_id
    }

    /// Scopes the agent declared.
    pub fn agent_scopes(&self) -> &[String] {
        &self.inner.envelope.agent_scopes
    }

    /// Scopes claimed for this call (`Authority-Scope`).
    pub fn authority_scope(&self) -> &[String] {
        &self.inner.envelope.authority_scope
    }

    /// `Session-ID`, passed through.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.envelope.session_id.as_deref()
    }

    /// `Task-ID`, passed through.
    pub fn task_id(&self) -> Option<&str> {
        self.inner.envelope.task_id.as_deref()
    }

    /// The agent-visible request id, for log correlation.
    pub fn request_id(&self) -> &str {
        &self.inner.envelope.request_id
    }

    /// The id of this call on the gateway connection (usually equal to
    /// [`request_id`](Context::request_id)).
    pub fn gateway_request_id(&self) -> &str {
        &self.inner.gateway_request_id
    }

    /// Request headers, names in lower case.
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.inner.envelope.headers
    }

    /// One request header, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let headers = &self.inner.envelope.headers;
        match headers.get(name) {
            Some(value) => Some(value),
            None => headers.get(&name.to_ascii_lowercase()).map(String::as_str),
        }
    }

    /// The caller's `traceparent` (W3C Trace Context) when it is valid. With `[tracing]` on
    /// in the daemon it names the daemon's span for this call, so that spans this handler
    /// makes under it are that span's children; otherwise it is the agent's own.
    pub fn traceparent(&self) -> Option<&str> {
        let value = self.header("traceparent")?.trim();
        TraceParent::parse(value).map(|_| value)
    }

    /// The caller's `tracestate`, when its `traceparent` is valid.
    pub fn tracestate(&self) -> Option<&str> {
        self.traceparent()?;
        self.header("tracestate")
    }

    /// A `traceparent` for a call this handler makes: the caller's trace with a new span
    /// id, or a new sampled trace when the caller sent none.
    pub fn child_traceparent(&self) -> String {
        let parent = self.traceparent().and_then(TraceParent::parse);
        let (trace_id, flags) = match parent {
            Some(TraceParent { trace_id, flags }) => (trace_id.to_owned(), flags),
            None => (random_hex::<16>(), "01"),
        };
        format!("00-{trace_id}-{}-{flags}", random_hex::<8>())
    }

    /// Whether a verified client certificate matches [`agent_id`](Context::agent_id).
    pub fn agent_verified(&self) -> bool {
        self.inner.envelope.agent_verified
    }

    /// Hex SHA-256 of the agent's verified certificate, if any.
    pub fn agent_cert_fingerprint(&self) -> Option<&str> {
        self.inner.envelope.agent_cert_fingerprint.as_deref()
    }

    /// AGTP extensions from the agent's certificate; empty without one.
    pub fn agent_cert_extensions(&self) -> &Map<String, Value> {
        &self.inner.envelope.agent_cert_extensions
    }

    /// How the daemon established the agent's identity, when it said.
    pub fn trust(&self) -> Option<&Trust> {
        self.inner.trust.as_ref()
    }

    /// When the daemon stops waiting for this call. Work still running then is wasted: the
    /// daemon has answered the agent with a timeout, and the SDK aborts the handler.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline
    }

    /// Whether the daemon granted signing on this connection.
    pub fn can_sign(&self) -> bool {
        self.inner.signer.is_some()
    }

    /// Asks the daemon to sign `data` with its Ed25519 key. One operation runs at a time per
    /// connection; concurrent calls from one handler wait their turn.
    ///
    /// Fails with [`SigningError::Unavailable`] at once when the daemon did not grant the
    /// `sign_request` capability, and with [`SigningError::NotInFlight`] when called after
    /// the request was answered.
    pub async fn sign(&self, data: impl AsRef<[u8]>) -> Result<Signature, SigningError> {
        match &self.inner.signer {
            Some(signer) => signer.sign(data.as_ref().to_vec()).await,
            None => Err(SigningError::Unavailable(
                "the daemon did not grant `sign_request` on this connection".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
