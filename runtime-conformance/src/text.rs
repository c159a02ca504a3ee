//! How the report words frames, durations and values: short, and never the whole payload.

use std::time::Duration;

use runtime_protocol::{Frame, ResponseEnvelope};
use serde_json::Value;

/// Longest JSON excerpt quoted in a report line.
const MAX_SNIPPET_CHARS: usize = 160;

/// `1.5 s`, `250 ms`.
pub(super) fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `value` as compact JSON, cut at [`MAX_SNIPPET_CHARS`].
pub(super) fn snippet(value: &Value) -> String {
    let mut text = value.to_string();
    if let Some((cut, _)) = text.char_indices().nth(MAX_SNIPPET_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A frame as a "got:" line names it.
pub(super) fn describe_frame(frame: &Frame) -> String {
    match frame {
        Frame::Response(response) => match &response.envelope {
            ResponseEnvelope::Reply(reply) => format!(
                "a `response` (request_id `{}`) with a reply, status {}: {}",
                response.request_id,
                reply.status,
                snippet(&reply.body)
            ),
            ResponseEnvelope::EndpointError(error) => format!(
                "a `response` (request_id `{}`) with `endpoint_error` `{}`: {}",
                response.request_id, error.code, error.message
            ),
        },
        Frame::Error(error) => format!(
            "an `error` frame{}, code `{}`: {}",
            match &error.request_id {
                Some(id) => format!(" for request_id `{id}`"),
                None => " without request_id".to_owned(),
            },
            error.code,
            error.message
        ),
        Frame::RegisterAck(ack) if ack.ok => "a `register_ack` with `ok: true`".to_owned(),
        Frame::RegisterAck(ack) => format!(
            "a `register_ack` with `ok: false` ({} errors)",
            ack.errors.len()
        ),
        Frame::Pong(pong) => format!("a `pong` with nonce `{}`", pong.nonce),
        Frame::Goodbye(goodbye) => match &goodbye.reason {
            Some(reason) => format!("a `goodbye` (reason `{reason}`)"),
            None => "a `goodbye`".to_owned(),
        },
        other => format!("a `{}` frame", other.type_name()),
    }
}
