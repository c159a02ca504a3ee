//! What a handler is ([`Handler`]), what it may return ([`IntoResponse`], [`Json`],
//! [`Reply`]), and the type-erased form the runtime stores.

use std::any::type_name;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::context::Context;
use crate::error::HandlerError;

/// The future a [`Handler`] returns once its input is deserialised and its output rendered.
pub type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<runtime_protocol::Reply, HandlerError>> + Send>>;

/// A handler as the runtime stores it: input as JSON in, rendered reply out.
pub(crate) type BoxedHandler = Arc<dyn Fn(Context, Value) -> HandlerFuture + Send + Sync>;

/// An async function that serves one endpoint. Implemented for
///
/// - `async fn(Context, Input) -> R`, where `Input: DeserializeOwned` is built from the
///   request's (already schema-validated) input, and
/// - `async fn(Context) -> R`, for endpoints whose input the handler ignores,
///
/// where `R: IntoResponse` and the future is `Send + 'static`. The marker `M` only keeps the
/// two implementations apart; callers never name it.
///
/// If the input does not deserialise into `Input`, the daemon and the handler disagree about
/// the schema. That is a bug in the handler program, so the call fails with a
/// `handler_exception` whose message names the type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a mod-rust handler",
    label = "not an `async fn(Context, Input) -> impl IntoResponse`",
    note = "a handler is an `async fn(Context, Input)` or `async fn(Context)` returning `impl IntoResponse` (e.g. `Result<Json<T>, HandlerError>`), with `Input: DeserializeOwned` and a `Send + 'static` future"
)]
pub trait Handler<M>: Clone + Send + Sync + 'static {
    /// Deserialises `input`, runs the handler and renders its result.
    fn call(&self, ctx: Context, input: Value) -> HandlerFuture;
}

impl<F, Fut, I, R> Handler<(I,)> for F
where
    F: Fn(Context, I) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    I: DeserializeOwned,
    R: IntoResponse,
{
    fn call(&self, ctx: Context, input: Value) -> HandlerFuture {
        match serde_json::from_value::<I>(input) {
            Ok(input) => {
                let fut = self(ctx, input);
                Box::pin(async move { fut.await.into_response() })
            }
            Err(err) => {
                let message = format!(
                    "the input does not deserialise into `{}`: {err}",
                    type_name::<I>()
                );
                Box::pin(std::future::ready(Err(HandlerError::exception(message))))
            }
        }
    }
}

impl<F, Fut, R> Handler<()> for F
where
    F: Fn(Context) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn call(&self, ctx: Context, _input: Value) -> HandlerFuture {
        let fut = self(ctx);
        Box::pin(async move { fut.await.into_response() })
    }
}

/// Erases a handler's type so handlers of every signature fit in one table.
pub(crate) fn boxed<H: Handler<M>, M>(handler: H) -> BoxedHandler {
    Arc::new(move |ctx, input| handler.call(ctx, input))
}

/// What a handler may return: something that renders into the reply sent to the daemon, or
/// into a [`HandlerError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a mod-rust handler",
    note = "return `Json<T>` or `Reply<T>` (with `T: Serialize`), or a `Result` of one of them and an error that converts into `HandlerError`"
)]
pub trait IntoResponse {
    /// Renders the value: `Ok` becomes a `response` frame, `Err` an `endpoint_error` or a
    /// `handler_exception`.
    fn into_response(self) -> Result<runtime_protocol::Reply, HandlerError>;
}

/// A 200 reply whose body is `T` serialised as JSON.
///
/// ```
/// use mod_rust::{Context, HandlerError, Json};
///
/// async fn hello(_ctx: Context) -> Result<Json<serde_json::Value>, HandlerError> {
///     Ok(Json(serde_json::json!({ "greeting": "hello" })))
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Result<runtime_protocol::Reply, HandlerError> {
        Reply::new(self.0).into_response()
    }
}

/// A reply with a body of type `T` and, optionally, a status other than 200, headers to add
/// to the agent's response, and extra attribution metadata.
///
/// ```
/// use mod_rust::{Context, HandlerError, Reply};
///
/// async fn create(_ctx: Context) -> Result<Reply<serde_json::Value>, HandlerError> {
///     Ok(Reply::new(serde_json::json!({ "id": "b-1" }))
///         .status(201)
///         .header("location", "/bookings/b-1"))
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    body: T,
    status: u16,
    headers: BTreeMap<String, String>,
    attribution_extra: Option<Value>,
}

impl<T> Reply<T> {
    /// A 200 reply with `body` and no headers.
    pub fn new(body: T) -> Self {
        Reply {
            body,
            status: 200,
            headers: BTreeMap::new(),
            attribution_extra: None,
        }
    }

    /// Sets the status the agent sees.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a header to the agent's response (a second call with the same name replaces it).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Attaches metadata for the daemon's attribution record; the agent does not see it.
    pub fn attribution_extra(mut self, extra: Value) -> Self {
        self.attribution_extra = Some(extra);
        self
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Result<runtime_protocol::Reply, HandlerError> {
        let body = serde_json::to_value(&self.body).map_err(|err| {
            HandlerError::exception(format!(
                "the output `{}` does not serialise: {err}",
                type_name::<T>()
            ))
        })?;
        Ok(runtime_protocol::Reply {
            status: self.status,
            headers: self.headers,
            body,
            attribution_extra: self.attribution_extra,
        })
    }
}

impl<T: IntoResponse, E: Into<HandlerError>> IntoResponse for Result<T, E> {
    fn into_response(self) -> Result<runtime_protocol::Reply, HandlerError> {
        self.map_err(Into::into)
            .and_then(IntoResponse::into_response)
    }
}
