//! Runs the selected operational modules around each exchange (the phases are
//! documented in `agtp_core::module`). A module that fails or panics becomes 500
//! `module-error` naming it; the daemon keeps serving.
//!
//! Who calls what: `gates.rs` runs [`Pipeline::enter`] and [`Pipeline::leave`] around
//! the handler of a routed endpoint whose input validated; `connection.rs` runs
//! [`Pipeline::complete`] for every response it queues (gate refusals, built-ins,
//! unrouted requests and wire-level errors included), after stamping, before writing.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use agtp_core::module::{Completion, Cx, Flow, Module, ModuleError, ModuleMetric};
use agtp_core::{AgtpError, Headers, Request, Response, Status};
use futures_util::FutureExt;
use tracing::Instrument;

/// The modules in load order.
#[derive(Clone, Default)]
pub(crate) struct Pipeline {
    modules: Vec<Arc<dyn Module>>,
}

/// How far [`Pipeline::enter`] got.
pub(crate) struct Entered {
    /// Modules whose `on_request` ran; only they see `on_response`.
    n_entered: usize,
    /// The answer of a module that responded or failed; the handler is then skipped.
    pub(crate) early: Option<Response>,
}

impl Pipeline {
    pub(crate) fn new(modules: Vec<Arc<dyn Module>>) -> Pipeline {
        Pipeline { modules }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The module names in load order, for the start-up log line.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.modules.iter().map(|m| m.name()).collect()
    }

    /// Runs `on_request` in load order until a module responds or fails.
    pub(crate) async fn enter(&self, request: &mut Request, cx: &mut Cx) -> Entered {
        let mut n_entered = 0;
        for module in &self.modules {
            n_entered += 1;
            let hook = contained(module.name(), module.on_request(request, cx));
            match hook.instrument(hook_span(module, "on_request")).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Respond(response)) | Err(response) => {
                    return Entered {
                        n_entered,
                        early: Some(response),
                    }
                }
            }
        }
        Entered {
            n_entered,
            early: None,
        }
    }

    /// Runs `on_response` in reverse, for the modules [`enter`](Self::enter) entered.
    /// A failure replaces the response with the 500 and the remaining modules see that.
    pub(crate) async fn leave(&self, entered: Entered, response: &mut Response, cx: &mut Cx) {
        // Onion order: the last module entered sees the response first.
        for module in self.modules[..entered.n_entered].iter().rev() {
            let hook = contained(module.name(), module.on_response(response, cx));
            if let Err(error) = hook.instrument(hook_span(module, "on_response")).await {
                *response = error;
            }
        }
    }

    /// Runs `on_complete` for every module, exactly once, with the response as it will
    /// be written; headers the modules add are appended to it.
    pub(crate) async fn complete(
        &self,
        request: Option<&Request>,
        response: &mut Response,
        cx: &Cx,
        elapsed: Duration,
    ) {
        if self.modules.is_empty() {
            return;
        }
        let mut added = Headers::new();
        for module in &self.modules {
            let mut done = Completion {
                request,
                response,
                added_headers: &mut added,
                cx,
                elapsed,
            };
            let hook = AssertUnwindSafe(module.on_complete(&mut done)).catch_unwind();
            if hook
                .instrument(hook_span(module, "on_complete"))
                .await
                .is_err()
            {
                tracing::error!(module = module.name(), "on_complete panicked");
            }
        }
        for (name, value) in added.iter() {
            response.headers.append(name, value);
        }
    }

    /// Every module's own metric samples, in load order. A module whose `metrics` panics
    /// contributes nothing to this scrape.
    pub(crate) fn metrics(&self) -> Vec<ModuleMetric> {
        let mut samples = Vec::new();
        for module in &self.modules {
            match std::panic::catch_unwind(AssertUnwindSafe(|| module.metrics())) {
                Ok(own) => samples.extend(own),
                Err(_) => tracing::error!(module = module.name(), "metrics panicked"),
            }
        }
        samples
    }

    /// Tells every module to reopen its files (SIGHUP).
    pub(crate) fn reopen(&self) {
        for module in &self.modules {
            module.reopen();
        }
    }
}

fn hook_span(module: &Arc<dyn Module>, hook: &'static str) -> tracing::Span {
    crate::telemetry::hook_span(module.name(), hook)
}

/// Awaits a hook, turning its error or panic into the 500 answer, logged once here.
async fn contained<T>(
    name: &'static str,
    hook: impl Future<Output = Result<T, ModuleError>>,
) -> Result<T, Response> {
    let failure = match AssertUnwindSafe(hook).catch_unwind().await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "the module panicked".to_owned(),
    };
    tracing::error!(module = name, error = %failure, "module failed; answering 500");
    Err(AgtpError::new(
        Status::SERVER_ERROR,
        "module-error",
        format!("module `{name}` failed while handling this request"),
    )
    .with_detail("module", name)
    .to_response())
}
