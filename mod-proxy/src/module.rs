//! The `proxy` module: picks the binding a request belongs to (its endpoint's, or the
//! catch-all for a request that routed nowhere), checks the hops, and forwards it to one
//! upstream after another until one answers or retrying is no longer safe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use agtp_core::client::{Client, Deadlines, Uri};
use agtp_core::module::{Cx, EndpointFacts, Flow, MetricKind, Module, ModuleError, ModuleMetric};
use agtp_core::{Request, Response};
use async_trait::async_trait;
use serde_json::Value;

use crate::binding::Binding;
use crate::config::ProxyConfig;
use crate::forward::{classify, failure_answer, hop_refusal, relayed, upstream_request};
use crate::upstream::{Failure, Group, Upstream};

/// An endpoint's `(method, path template)`.
type EndpointKey = (String, String);

pub(crate) struct ProxyModule {
    config: ProxyConfig,
    client: Client,
    /// This proxy's `Via` entry, `AGTP/1.0 {server_id} ({instance})`.
    via_entry: String,
    /// `({instance})`: a random tag per daemon start, so a loop is recognised even
    /// between daemons that share a `server_id`.
    own: String,
    catch_all: Option<Arc<Group>>,
    /// Every upstream named so far, by URI; bounded by the configured bindings.
    upstreams: Mutex<HashMap<String, Arc<Upstream>>>,
    /// Each proxy endpoint's group, with the table it was built from (a reload that
    /// changes the table builds a new group).
    bindings: Mutex<HashMap<EndpointKey, (Value, Arc<Group>)>>,
    n_loops_refused: AtomicU64,
}

impl ProxyModule {
    pub(crate) fn new(
        config: ProxyConfig,
        client: Client,
        server_id: &str,
    ) -> Result<ProxyModule, String> {
        let own = format!("({:08x})", fastrand::u32(..));
        let mut module = ProxyModule {
            client,
            via_entry: format!("AGTP/1.0 {server_id} {own}"),
            own,
            catch_all: None,
            upstreams: Mutex::new(HashMap::new()),
            bindings: Mutex::new(HashMap::new()),
            n_loops_refused: AtomicU64::new(0),
            config,
        };
        if let Some(catch_all) = &module.config.catch_all {
            let deadlines = Deadlines {
                connect: module.config.connect_timeout,
                response: module.config.timeout,
            };
            module.catch_all = Some(Arc::new(module.group(&catch_all.to_vec(), deadlines)?));
        }
        Ok(module)
    }

    fn group(&self, uris: &[String], deadlines: Deadlines) -> Result<Group, String> {
        let mut known = self
            .upstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut upstreams = Vec::with_capacity(uris.len());
        for uri in uris {
            let upstream = match known.get(uri) {
                Some(upstream) => upstream.clone(),
                None => {
                    let parsed = Uri::parse_server(uri).map_err(|e| e.to_string())?;
                    let origin = parsed.secure_origin(self.config.force_tls());
                    let upstream = Arc::new(Upstream::new(uri.clone(), origin));
                    known.insert(uri.clone(), upstream.clone());
                    upstream
                }
            };
            upstreams.push(upstream);
        }
        Ok(Group::new(upstreams, deadlines))
    }

    /// The group of a proxy endpoint, built on its first request.
    fn endpoint_group(&self, endpoint: &EndpointFacts) -> Result<Arc<Group>, ModuleError> {
        let key = (endpoint.method.clone(), endpoint.path.clone());
        let table = &endpoint.handler_config;
        let mut bindings = self.bindings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((built_from, group)) = bindings.get(&key) {
            if built_from == table {
                return Ok(group.clone());
            }
        }
        let binding = Binding::from_value(table).map_err(ModuleError::new)?;
        let deadlines = Deadlines {
            connect: binding.connect_timeout,
            response: binding.timeout,
        };
        let group = Arc::new(
            self.group(&binding.upstreams, deadlines)
                .map_err(ModuleError::new)?,
        );
        bindings.insert(key, (table.clone(), group.clone()));
        Ok(group)
    }

    /// Tries the group's upstreams in turn. The next one is tried only when the failed
    /// attempt certainly never reached its upstream (no connection), or when the
    /// endpoint is idempotent and the failure was not the response timeout.
    async fn forward(&self, group: &Group, request: &Request, idempotent: bool) -> Response {
        let order = group.order();
        let mut last = Failure::Connect;
        for (attempt, upstream) in order.iter().enumerate() {
            upstream.n_requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .client
                .send_within(&upstream.origin, request, group.deadlines)
                .await;
            let error = match sent {
                Ok(response) => {
                    upstream.succeeded();
                    return relayed(response);
                }
                Err(error) => error,
            };
            last = classify(&error);
            upstream.failed(last, self.config.eject_after, self.config.eject_for);
            tracing::warn!(upstream = %upstream.uri, %error, "proxy: upstream attempt failed");
            let retry = error.before_sending() || (idempotent && last != Failure::Timeout);
            if !retry {
                return failure_answer(last, attempt + 1).to_response();
            }
        }
        failure_answer(last, order.len()).to_response()
    }
}

#[async_trait]
impl Module for ProxyModule {
    fn name(&self) -> &'static str {
        "proxy"
    }

    /// Answers every request routed to a `proxy` endpoint, and every unrouted request
    /// when a catch-all is configured; continues otherwise.
    async fn on_request(&self, request: &mut Request, cx: &mut Cx) -> Result<Flow, ModuleError> {
        let group = match &cx.endpoint {
            Some(endpoint) if endpoint.handler == "proxy" => self.endpoint_group(endpoint)?,
            Some(_) => return Ok(Flow::Continue),
            None => match &self.catch_all {
                Some(group) => group.clone(),
                None => return Ok(Flow::Continue),
            },
        };
        if let Some(refusal) = hop_refusal(&request.headers, &self.own, self.config.max_hops) {
            self.n_loops_refused.fetch_add(1, Ordering::Relaxed);
            return Ok(Flow::Respond(refusal.to_response()));
        }
        let endpoint = cx.endpoint.as_ref();
        let idempotent = endpoint.is_some_and(|e| e.idempotent);
        let routed = endpoint.map(|e| (e.method.as_str(), e.request_path.as_str()));
        let outgoing = upstream_request(request, routed, &self.via_entry);
        Ok(Flow::Respond(
            self.forward(&group, &outgoing, idempotent).await,
        ))
    }

    fn metrics(&self) -> Vec<ModuleMetric> {
        let mut upstreams: Vec<Arc<Upstream>> = self
            .upstreams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        upstreams.sort_by(|a, b| a.uri.cmp(&b.uri));
        let now = tokio::time::Instant::now();
        let mut out = Vec::new();
        for upstream in &upstreams {
            out.push(ModuleMetric {
                name: "proxy_requests_total",
                help: "Requests sent to an upstream, retries included.",
                kind: MetricKind::Counter,
                labels: vec![("upstream", upstream.uri.clone())],
                value: upstream.n_requests.load(Ordering::Relaxed),
            });
            for failure in Failure::ALL {
                out.push(ModuleMetric {
                    name: "proxy_upstream_failures_total",
                    help: "Attempts that got no response from an upstream, by reason.",
                    kind: MetricKind::Counter,
                    labels: vec![
                        ("upstream", upstream.uri.clone()),
                        ("reason", failure.as_str().to_owned()),
                    ],
                    value: upstream.n_failures(failure),
                });
            }
        }
        let n_ejected = upstreams.iter().filter(|u| u.ejected_at(now).is_some());
        out.push(ModuleMetric {
            name: "proxy_upstreams_ejected",
            help: "Upstreams currently ejected after consecutive failures.",
            kind: MetricKind::Gauge,
            labels: Vec::new(),
            value: n_ejected.count() as u64,
        });
        out.push(ModuleMetric {
            name: "proxy_loops_refused_total",
            help: "Requests refused with 508 (loop-detected, too-many-hops).",
            kind: MetricKind::Counter,
            labels: Vec::new(),
            value: self.n_loops_refused.load(Ordering::Relaxed),
        });
        out
    }
}
