//! One populated instance of every frame type, shared by the tests.

use std::collections::BTreeMap;

use runtime_protocol::*;
use serde_json::{json, Map};

pub(crate) fn sample_request() -> Request {
    Request {
        request_id: "req-1".into(),
        envelope: RequestEnvelope {
            method: "BOOK".into(),
            path: "/room".into(),
            agent_id: "agent-ä".into(),
            principal_id: "chris@example.org".into(),
            agent_scopes: vec!["booking:read".into()],
            authority_scope: vec!["booking:write".into()],
            session_id: Some("sess-1".into()),
            task_id: None,
            request_id: "req-1".into(),
            headers: BTreeMap::from([("task-id".into(), "t-9".into())]),
            input: json!({
                "guest": "Zoë 😀", "nights": 2, "price": 99.5, "neg": -7,
                "big": u64::MAX, "nested": {"a": [1, 2.25, null, true]}, "none": null
            }),
            agent_verified: false,
            agent_cert_fingerprint: None,
            agent_cert_extensions: Map::new(),
            client_address: None,
        },
        trust: Some(Trust {
            verified: true,
            agent_id: "agent-ä".into(),
            agent_cert_fingerprint: None,
            method: TrustMethod::AgentIdHeader,
        }),
        deadline_ms: Some(30_000),
    }
}

pub(crate) fn all_frames() -> Vec<Frame> {
    let endpoint = EndpointSpec {
        method: "BOOK".into(),
        path: "/room".into(),
        handler_reference: "handlers.book_room".into(),
        input_schema_ref: "#/schemas/book.input".into(),
        output_schema_ref: "#/schemas/book.output".into(),
        errors: vec!["room_unavailable".into()],
        required_scopes: vec!["booking:write".into()],
    };
    let mut schemas = Map::new();
    schemas.insert(
        "book.input".into(),
        json!({"type": "object", "minProperties": 1}),
    );
    schemas.insert("book.output".into(), json!({"type": "object"}));
    vec![
        Frame::Hello(Hello {
            gateway_versions: vec!["1.0".into()],
            module: ModuleInfo {
                id: "mod_python".into(),
                version: "0.1.0".into(),
                runtime: Some("CPython 3.13".into()),
                pid: Some(4242),
                pool: Some("billing".into()),
            },
            capabilities: vec![CAP_REGISTERED_FUNCTION.into(), CAP_SIGN_REQUEST.into()],
            cached_manifest_hash: Some(format!("sha256:{}", "ab".repeat(32))),
        }),
        Frame::Welcome(Welcome {
            gateway_version: "1.0".into(),
            daemon: DaemonInfo {
                version: "agtpd 0.1.0".into(),
                server_id: "agents.example.org".into(),
                catalog_version: Some("1.0.0".into()),
            },
            capabilities: vec![CAP_REGISTERED_FUNCTION.into()],
        }),
        Frame::Register(Register::new(vec![endpoint], schemas)),
        Frame::RegisterResume(RegisterResume {
            manifest_hash: format!("sha256:{}", "cd".repeat(32)),
        }),
        Frame::RegisterAck(RegisterAck {
            ok: false,
            resolved: vec![],
            errors: vec![RegistrationFailure {
                endpoint: "BOOK /room".into(),
                reason: "handler_not_found".into(),
                detail: Some("no such function".into()),
            }],
        }),
        Frame::Request(sample_request()),
        Frame::Response(Response {
            request_id: "req-1".into(),
            envelope: ResponseEnvelope::Reply(Reply {
                status: 201,
                headers: BTreeMap::from([("Idempotency-Key".into(), "ik-1".into())]),
                body: json!({"reservation_id": "res-1", "total": 199.0}),
                attribution_extra: Some(json!({"decision_id": "d-1"})),
            }),
        }),
        Frame::Response(Response {
            request_id: "req-2".into(),
            envelope: ResponseEnvelope::EndpointError(EndpointError {
                code: "room_unavailable".into(),
                message: "no rooms left".into(),
                details: Some(json!({"room_type": "suite"})),
            }),
        }),
        Frame::Error(ErrorFrame {
            request_id: Some("req-3".into()),
            code: ErrorCode::HandlerException,
            message: "uncaught TypeError".into(),
            details: Some(json!({"exception_type": "TypeError"})),
        }),
        Frame::Ping(Ping {
            nonce: "p-1".into(),
        }),
        Frame::Pong(Pong {
            nonce: "p-1".into(),
        }),
        Frame::Goodbye(Goodbye {
            reason: Some(GoodbyeReason::Drain),
        }),
        Frame::SignRequest(SignRequest {
            operation_id: "op-1".into(),
            data_b64: "aGVsbG8".into(),
        }),
        Frame::SignResponse(SignResponse {
            operation_id: "op-1".into(),
            kid: "ed25519-1".into(),
            alg: SIGNATURE_ALG.into(),
            signature_b64: "c2ln".into(),
        }),
        Frame::SignError(SignError {
            operation_id: "op-2".into(),
            code: SignErrorCode::SigningUnavailable,
            message: "no key".into(),
        }),
    ]
}
