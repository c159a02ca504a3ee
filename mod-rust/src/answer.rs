//! The frame that answers a request once its handler is done (PROTOCOL.md §8.2, §8.3): a
//! `response` with a reply or an `endpoint_error`, or an `error` with `handler_exception`.

use runtime_protocol::{ErrorCode, ErrorFrame, Frame, Response, ResponseEnvelope};
use tokio::task::JoinError;

use crate::error::HandlerError;

/// What a handler task returns.
pub(crate) type HandlerResult = Result<runtime_protocol::Reply, HandlerError>;

/// The frame answering a finished handler.
pub(crate) fn answer(request_id: String, result: Result<HandlerResult, JoinError>) -> Frame {
    let err = match result {
        Ok(Ok(reply)) => {
            let envelope = ResponseEnvelope::Reply(reply);
            return Frame::Response(Response {
                request_id,
                envelope,
            });
        }
        Ok(Err(err)) => err,
        Err(join) => HandlerError::exception(panic_message(join)),
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

fn panic_message(join: JoinError) -> String {
    if !join.is_panic() {
        return "the handler task was cancelled".into();
    }
    let payload = join.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    match text {
        Some(text) => format!("the handler panicked: {text}"),
        None => "the handler panicked".into(),
    }
}
