//! `[tracing]`: OpenTelemetry spans for every exchange, exported by OTLP/HTTP (protobuf)
//! when `otlp_endpoint` is set, and W3C Trace Context from the agent to the runtime.
//!
//! ```toml
//! [tracing]
//! otlp_endpoint = "http://127.0.0.1:4318/v1/traces"   # unset: no spans, no exporter
//! service_name = "agtpd"
//! sample_ratio = 1.0        # for traces that start here; an agent's sampled flag decides its own
//! export_timeout = "10s"
//! ```
//!
//! The spans of one exchange, each a `tracing` span of target [`TARGET`] that the
//! `tracing-opentelemetry` layer turns into an OpenTelemetry span:
//!
//! - `agtp.connection`, one per client connection, with a `tls_handshake` child; a trace
//!   of its own, to which every request span on it links;
//! - `AGTP {METHOD}`, the request (kind server): a child of the agent's `traceparent`
//!   when it sent a valid one, else a new trace;
//!   - `gates` (steps 1 to 11);
//!   - `{module} on_request`, `on_response`, `on_complete`, one per module and hook;
//!   - `gateway` (a runtime call, with its pool), with `queue_wait` when the call waited
//!     for a connection and one `round_trip` (kind client) per attempt. The runtime's
//!     envelope carries the round trip's `traceparent` (and the agent's `tracestate`), so
//!     the handler's own spans are its children.
//!
//! With no endpoint the layer is not installed and the log filter never enables
//! [`TARGET`], so each span site costs one check of a disabled callsite, and the agent's
//! `traceparent` reaches the runtime unchanged, as every header does.

use std::collections::BTreeMap;
use std::time::Duration;

use agtp_core::{Headers, Request, Status};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::error::{invalid, ConfigError};
use crate::restart::Pinned;

/// The target of every span this module's helpers make; the log filter turns it off.
pub(crate) const TARGET: &str = "agtpd::span";

/// A span of [`TARGET`] at INFO, named `$name`, with `tracing` fields.
macro_rules! span {
    ($($rest:tt)+) => {
        tracing::info_span!(target: $crate::telemetry::TARGET, $($rest)+)
    };
}
pub(crate) use span;

/// `[tracing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP traces URL (`http://HOST:4318/v1/traces`). Unset: off.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    pub service_name: String,
    /// The share of the traces that start here which are sampled (0 to 1). A trace the
    /// agent started follows its `traceparent`'s sampled flag.
    pub sample_ratio: f64,
    /// How long one export may take before it is dropped.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            otlp_endpoint: None,
            service_name: "agtpd".to_owned(),
            sample_ratio: 1.0,
            export_timeout: Duration::from_secs(10),
        }
    }
}

impl TracingConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let uri: hyper::Uri = endpoint
                .parse()
                .map_err(|e| invalid("tracing.otlp_endpoint", format!("{e}")))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err(invalid(
                    "tracing.otlp_endpoint",
                    "must be an http:// URL with a host, such as http://127.0.0.1:4318/v1/traces \
                     (send to a collector beside the daemon; it may forward over TLS)",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(invalid("tracing.sample_ratio", "must be between 0 and 1"));
        }
        if self.service_name.is_empty() {
            return Err(invalid("tracing.service_name", "must not be empty"));
        }
        Ok(())
    }

    /// The exporter lives as long as the process: every key needs a restart.
    pub(crate) fn pin(&mut self, running: &TracingConfig, pinned: &mut Pinned) {
        pinned.keep("tracing", self, running);
    }
}

/// The running exporter; dropping it exports what is still queued (within
/// `export_timeout`) and stops it.
pub struct Exporter(SdkTracerProvider);

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(error) = self.0.shutdown() {
            eprintln!("agtpd: exporting the last spans failed: {error}");
        }
    }
}

/// The OpenTelemetry layer and its exporter, when `config` names an endpoint. It sees
/// only [`TARGET`]'s spans. Must run outside the async runtime (the exporter's HTTP client
/// is a blocking one, on the batch processor's own thread).
pub(crate) fn layer<S>(config: &TracingConfig) -> Result<Option<(impl Layer<S>, Exporter)>, String>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(config.export_timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", config.service_name.clone()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("agtpd"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        // Parents are explicit (the agent's context, `span.context()`), so OpenTelemetry's
        // current context need not follow every poll of an instrumented future.
        .with_context_activation(false)
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::INFO));
    Ok(Some((layer, Exporter(provider))))
}

/// The connection's span; the request spans on it link to it.
pub(crate) fn connection_span(peer: std::net::SocketAddr) -> Span {
    span!(
        "agtp.connection",
        otel.kind = "server",
        network.peer.address = %peer.ip(),
        network.peer.port = peer.port(),
    )
}

/// The span of one request: a child of the agent's `traceparent` when it is valid, and
/// linked to the connection's span (the current one).
pub(crate) fn request_span(request: &Request, response_id: &str) -> Span {
    let span = span!(
        parent: None,
        "request",
        otel.name = %format_args!("AGTP {}", request.method),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        agtp.method = %request.method,
        agtp.path = request.path.as_deref().unwrap_or(""),
        agtp.agent_id = request.headers.get("Agent-ID").unwrap_or(""),
        agtp.response_id = response_id,
        agtp.status = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    // From an empty context: `extract` would start from the current one, the connection's.
    let parent = TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &HeaderExtractor(&request.headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    span.follows_from(Span::current());
    span
}

/// Records the answer's status on the request span; 5xx marks it failed.
pub(crate) fn record_status(span: &Span, status: Status) {
    if span.is_disabled() {
        return;
    }
    span.record("agtp.status", status.code());
    if status.code() >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one module hook.
pub(crate) fn hook_span(module: &'static str, hook: &'static str) -> Span {
    span!(
        "module",
        otel.name = %format_args!("{module} {hook}"),
        agtp.module = module,
        agtp.hook = hook,
    )
}

/// Sets `headers`' `traceparent` to `span`'s context, keeping the agent's `tracestate`;
/// with tracing off, leaves them as the agent sent them.
pub(crate) fn inject(span: &Span, headers: &mut BTreeMap<String, String>) {
    if span.is_disabled() {
        return;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

struct HeaderExtractor<'a>(&'a Headers);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name).collect()
    }
}

/// Envelope headers are lower case, as the W3C names are.
struct HeaderInjector<'a>(&'a mut BTreeMap<String, String>);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_ascii_lowercase(), value);
    }
}
