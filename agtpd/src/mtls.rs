//! Client certificates on the AGTP listeners: the verifier `[tls] client_auth` installs,
//! and what a verified certificate proves (an [`AgentCertificate`]).
//!
//! A certificate's identity is its `subject-agent-id` extension, else the lower-case hex
//! SHA-256 of its Ed25519 public key; its fingerprint is the SHA-256 of its DER. The AGTP
//! extensions have provisional OIDs under `2.25` (UUID arcs, [`EXTENSIONS`]); three are
//! critical. webpki refuses any critical extension it does not know, so a certificate
//! carrying a critical AGTP extension is checked here instead, by the same rules for the
//! case that matters: issued directly by a CA of `client_ca_file` (or listed there
//! itself), within its validity, its signature checked by `x509-parser` (ring), client
//! authentication allowed by its extended key usage. Every other certificate goes
//! through rustls's `WebPkiClientVerifier`.

use std::sync::Arc;

use agtp_core::module::AgentCertificate;
use agtp_core::{AgtpError, Status};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::time::ASN1Time;

/// An AGTP certificate extension: its name and the 128-bit arc `N` of `2.25.N`.
pub(crate) struct Extension {
    pub(crate) name: &'static str,
    pub(crate) arc: u128,
    /// Whether the reference's certificates mark it critical.
    pub(crate) critical: bool,
}

/// The extensions the reference defines, in its order.
pub(crate) const EXTENSIONS: [Extension; 8] = [
    ext(
        "subject-agent-id",
        268315605531543067570885820853135175300,
        true,
    ),
    ext("principal-id", 1702125237121760683219637876567909613, true),
    ext(
        "authority-scope-commitment",
        282163161526436136340860154693646256049,
        true,
    ),
    ext(
        "governance-zone",
        166172302800383381461126246055580541663,
        false,
    ),
    ext("trust-tier", 198335757712203466569903271149789286606, false),
    ext("archetype", 73414372111527645744102975685149753054, false),
    ext(
        "activation-certificate-id",
        251807688045435852997712124138766290036,
        false,
    ),
    ext(
        "agtp-ctl-sct",
        265641071119838462866957460025010755013,
        false,
    ),
];

const fn ext(name: &'static str, arc: u128, critical: bool) -> Extension {
    Extension {
        name,
        arc,
        critical,
    }
}

/// The archetypes `archetype` may name.
pub(crate) const ARCHETYPES: [&str; 5] = [
    "assistant",
    "analyst",
    "executor",
    "orchestrator",
    "monitor",
];

/// The content octets of the DER OID `2.25.arc`: `2 * 40 + 25`, then `arc` in base 128,
/// most significant group first, every group but the last with its high bit set.
pub(crate) fn oid_content(arc: u128) -> Vec<u8> {
    let mut content = vec![2 * 40 + 25];
    push_arc(&mut content, arc);
    content
}

/// Appends one OID arc in base 128, most significant group first, every group but the
/// last with its high bit set.
pub(crate) fn push_arc(out: &mut Vec<u8>, arc: u128) {
    let start = out.len();
    out.push((arc & 0x7f) as u8);
    let mut rest = arc >> 7;
    while rest > 0 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out[start..].reverse();
}

fn extension_named(oid: &[u8]) -> Option<&'static Extension> {
    EXTENSIONS.iter().find(|e| oid_content(e.arc) == oid)
}

/// Why a certificate the handshake accepted proves no agent: answered 401
/// `cert-verification-failed` with `detail` the reference's tag.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) tag: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    fn new(tag: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            tag,
            message: message.into(),
        }
    }

    pub(crate) fn to_error(&self) -> AgtpError {
        AgtpError::new(
            Status::UNAUTHORIZED,
            "cert-verification-failed",
            self.message.clone(),
        )
        .with_detail("reason", self.tag)
    }
}

/// What the verified certificate `der` proves.
pub(crate) fn read(der: &[u8]) -> Result<AgentCertificate, Refusal> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        Refusal::new(
            "not-x509",
            format!("the client certificate does not parse: {e}"),
        )
    })?;
    let key = cert.public_key();
    if key.algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519
        || key.subject_public_key.data.len() != 32
    {
        return Err(Refusal::new(
            "not-ed25519",
            "an agent certificate's key must be Ed25519",
        ));
    }
    let mut found = AgentCertificate {
        fingerprint: hex(&Sha256::digest(der)),
        ..AgentCertificate::default()
    };
    for extension in cert.extensions() {
        let Some(known) = extension_named(extension.oid.as_bytes()) else {
            continue;
        };
        parse_extension(known.name, extension.value, &mut found).map_err(|why| {
            Refusal::new(
                "malformed-extension",
                format!("the certificate's `{}` extension {why}", known.name),
            )
        })?;
    }
    found.agent_id = match &found.subject_agent_id {
        Some(id) => id.clone(),
        None => hex(&Sha256::digest(&key.subject_public_key.data)),
    };
    Ok(found)
}

/// Reads one extension's value into `into`; the error says what is wrong with it.
fn parse_extension(
    name: &str,
    value: &[u8],
    into: &mut AgentCertificate,
) -> Result<(), &'static str> {
    let text = || std::str::from_utf8(value).map_err(|_| "is not UTF-8");
    let hex64 = || {
        let id = text()?;
        match id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            true => Ok(id.to_owned()),
            false => Err("is not 64 lower-case hex characters"),
        }
    };
    match name {
        "subject-agent-id" => into.subject_agent_id = Some(hex64()?),
        "activation-certificate-id" => into.activation_certificate_id = Some(hex64()?),
        "principal-id" if value.len() > 256 => return Err("is longer than 256 bytes"),
        "principal-id" => into.principal_id = Some(text()?.to_owned()),
        "authority-scope-commitment" => {
            let joined = text()?;
            let scopes: Vec<String> = match joined {
                "" => Vec::new(),
                _ => joined.split(',').map(str::to_owned).collect(),
            };
            let mut canonical = scopes.clone();
            canonical.sort();
            canonical.dedup();
            if canonical != scopes || scopes.iter().any(String::is_empty) {
                return Err("is not a sorted list of distinct scopes");
            }
            into.authority_scopes = Some(scopes);
        }
        "governance-zone" => into.governance_zone = Some(text()?.to_owned()),
        "trust-tier" => match value {
            [0x02, 0x01, tier @ 1..=3] => into.trust_tier = Some(*tier),
            _ => return Err("is not the DER integer 1, 2 or 3"),
        },
        "archetype" => {
            let archetype = text()?;
            if !ARCHETYPES.contains(&archetype) {
                return Err("names no known archetype");
            }
            into.archetype = Some(archetype.to_owned());
        }
        // Kept by the reference as raw bytes and never verified; not forwarded.
        _ => {}
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The client-certificate verifier: webpki for ordinary certificates, this module's own
/// check for those with critical AGTP extensions (module docs).
#[derive(Debug)]
pub(crate) struct AgentVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    /// The CA file's certificates, DER.
    roots: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
}

impl AgentVerifier {
    /// A verifier trusting `roots`; `mandatory` refuses a client without a certificate.
    pub(crate) fn new(
        roots: Vec<CertificateDer<'static>>,
        mandatory: bool,
    ) -> Result<AgentVerifier, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore::empty();
        for root in &roots {
            store
                .add(root.clone())
                .map_err(|e| format!("a CA certificate is not usable: {e}"))?;
        }
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider.clone());
        let builder = match mandatory {
            true => builder,
            false => builder.allow_unauthenticated(),
        };
        let webpki = builder.build().map_err(|e| e.to_string())?;
        Ok(AgentVerifier {
            webpki,
            roots,
            algorithms: provider.signature_verification_algorithms,
            mandatory,
        })
    }

    /// Checks a leaf with critical AGTP extensions against the CA file.
    fn verify_agtp_critical(
        &self,
        cert: &X509Certificate<'_>,
        der: &[u8],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let bad = |e: CertificateError| rustls::Error::InvalidCertificate(e);
        let unknown_critical = cert.extensions().iter().any(|e| {
            e.critical
                && matches!(
                    e.parsed_extension(),
                    ParsedExtension::UnsupportedExtension { .. }
                )
                && extension_named(e.oid.as_bytes()).is_none()
        });
        if unknown_critical {
            return Err(bad(CertificateError::Other(rustls::OtherError(Arc::new(
                Unsupported("a critical extension agtpd does not know"),
            )))));
        }
        let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let at =
            ASN1Time::from_timestamp(seconds).map_err(|_| bad(CertificateError::BadEncoding))?;
        if !cert.validity().is_valid_at(at) {
            return Err(bad(match at < cert.validity().not_before {
                true => CertificateError::NotValidYet,
                false => CertificateError::Expired,
            }));
        }
        if let Ok(Some(usage)) = cert.extended_key_usage() {
            if !usage.value.any && !usage.value.client_auth {
                return Err(bad(CertificateError::InvalidPurpose));
            }
        }
        let issued = self.roots.iter().any(|root| {
            if root.as_ref() == der {
                return true;
            }
            let Ok((_, ca)) = x509_parser::parse_x509_certificate(root) else {
                return false;
            };
            ca.subject().as_raw() == cert.issuer().as_raw()
                && ca.is_ca()
                && cert.verify_signature(Some(ca.public_key())).is_ok()
        });
        match issued {
            true => Ok(()),
            false => Err(bad(CertificateError::UnknownIssuer)),
        }
    }
}

/// Whether `der` carries a critical AGTP extension, which webpki would refuse.
fn has_critical_agtp_extension(cert: &X509Certificate<'_>) -> bool {
    cert.extensions()
        .iter()
        .any(|e| e.critical && extension_named(e.oid.as_bytes()).is_some())
}

/// A certificate refused for a reason rustls has no variant for.
#[derive(Debug)]
struct Unsupported(&'static str);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ClientCertVerifier for AgentVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match x509_parser::parse_x509_certificate(end_entity) {
            Ok((_, cert)) if has_critical_agtp_extension(&cert) => {
                self.verify_agtp_critical(&cert, end_entity, now)?;
                Ok(ClientCertVerified::assertion())
            }
            _ => self
                .webpki
                .verify_client_cert(end_entity, intermediates, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match x509_parser::parse_x509_certificate(cert) {
            // webpki would not parse this certificate: check with its key alone.
            Ok((_, parsed)) if has_critical_agtp_extension(&parsed) => {
                let spki = SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
                rustls::crypto::verify_tls13_signature_with_raw_key(
                    message,
                    &spki,
                    dss,
                    &self.algorithms,
                )
            }
            _ => self.webpki.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
