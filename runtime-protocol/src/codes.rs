//! String-valued codes carried in frames. Each enum names the values PROTOCOL.md defines and
//! keeps any other value in `Other`, so a newer peer's code decodes instead of failing the frame.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_code {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not define, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::from(s.as_str()))
            }
        }
    };
}

string_code! {
    /// `error.code`: why a request failed or why a connection is being closed (PROTOCOL.md §11).
    ErrorCode {
        /// No common version between `hello` and the daemon. Closes the connection.
        GatewayVersionUnsupported => "gateway_version_unsupported",
        /// The payload could not be decoded as a frame. Closes the connection.
        MalformedFrame => "malformed_frame",
        /// The length prefix exceeded the limit. Closes the connection.
        FrameTooLarge => "frame_too_large",
        /// A frame arrived that the current phase does not allow. Closes the connection.
        PhaseViolation => "phase_violation",
        /// A `response` named a `request_id` that is not in flight. Closes the connection.
        RequestIdMismatch => "request_id_mismatch",
        /// The runtime rejected the endpoint set. Closes the connection.
        RegistrationFailed => "registration_failed",
        /// Handler code raised instead of returning. The connection stays open.
        HandlerException => "handler_exception",
        /// The handler did not answer before the deadline.
        HandlerTimeout => "handler_timeout",
        /// The handler's body failed the endpoint's output schema.
        OutputSchemaFailure => "output_schema_failure",
        /// The handler returned an `endpoint_error` code the endpoint does not declare.
        UndeclaredErrorCode => "undeclared_error_code",
    }
}

string_code! {
    /// `goodbye.reason`: why a peer is closing in an orderly way.
    GoodbyeReason {
        /// The endpoint set changed and the connection will be re-established.
        ManifestReload => "manifest_reload",
        /// The sender is shutting down.
        Shutdown => "shutdown",
        /// The sender stops taking new work on this connection.
        Drain => "drain",
    }
}

string_code! {
    /// `sign_error.code`: why the daemon did not sign.
    SignErrorCode {
        /// The daemon has no signing key, or the capability was not granted.
        SigningUnavailable => "signing_unavailable",
        /// Signing was attempted and failed (for example, `data_b64` did not decode).
        SignFailure => "sign_failure",
    }
}

string_code! {
    /// `request.trust.method`: how the daemon established the calling agent's identity.
    TrustMethod {
        /// From the `Agent-ID` request header.
        AgentIdHeader => "agent_id_header",
        /// From a verified client certificate (mutual TLS).
        AgentCertMtls => "agent_cert_mtls",
    }
}
