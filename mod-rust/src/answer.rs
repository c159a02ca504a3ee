//! The frame that answers a request once its handler is done (PROTOCOL.md §8.2, §8.3): a
//! `response` with a reply or an `endpoint_error`, or an `error` with `handler_exception`.

use std::any::Any;

use runtime_protocol::{ErrorCode, ErrorFrame, Frame, Response, ResponseEnvelope};

use crate::error::HandlerError;

/// What a handler returns.
pub(crate) type HandlerResult = Result<runtime_protocol::Reply, HandlerError>;

/// What a handler's panic carries.
pub(crate) type Panic = Box<dyn Any + Send>;

/// The frame answering a finished handler, or one that panicked.
pub(crate) fn answer(request_id: String, result: Result<HandlerResult, Panic>) -> Frame {
    let err = match result {
        Ok(Ok(reply)) => {
            let envelope = ResponseEnvelope::Reply(reply);
            return Frame::Response(Response {
                request_id,
                envelope,
            });
        }
        Ok(Err(err)) => err,
        Err(panic) => HandlerError::exception(panic_message(&*panic)),
    };
    match err.into_wire() {
        Ok(declared) => Frame::Response(Response {
            request_id,
            envelope: ResponseEnvelope::EndpointError(declared),
        }),
        Err((message, details)) => exception(request_id, message, details),
    }
}

pub(crate) fn exception(
    request_id: String,
    message: String,
    details: Option<serde_json::Value>,
) -> Frame {
    Frame::Error(ErrorFrame {
        request_id: Some(request_id),
        code: ErrorCode::HandlerException,
        message,
        details,
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    match text {
        Some(text) => format!("the handler panicked: {text}"),
        None => "the handler panicked".into(),
    }
}
