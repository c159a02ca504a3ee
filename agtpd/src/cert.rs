//! `agtpd cert`: a local CA and the certificates it issues, for tests and small
//! deployments. Keys are Ed25519 (the agent-certificate rule); certificates are made by
//! `rcgen`.
//!
//! - `ca`: a self-signed CA (`ca.crt`, `ca.key`), for `[tls] client_ca_file`;
//! - `agent`: an agent certificate with the AGTP extensions (`mtls.rs`), marked critical
//!   where the reference marks them;
//! - `server`: a certificate for the daemon's own listener (`[tls] cert_file`).
//!
//! One part is not rcgen's: the AGTP extensions' OIDs are `2.25.N` with 128-bit `N`, and
//! rcgen (like every Rust certificate builder; `const-oid` refuses UUID arcs on purpose)
//! takes arcs of 64 bits at most. Each extension is therefore written under a placeholder
//! OID of the same encoded length, which is then replaced by the real one in the signed
//! part, and that part is signed again with the CA's Ed25519 key; no length changes, so
//! nothing else in the DER moves.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::Signer as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ED25519,
};
use time::{Duration, OffsetDateTime};

use crate::mtls::{self, EXTENSIONS};
use crate::signing::{write_new, KeygenError};

/// The CA's files in its directory.
pub const CA_CERT: &str = "ca.crt";
/// The CA's key (PKCS#8 PEM, mode 0600).
pub const CA_KEY: &str = "ca.key";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be written (files are never overwritten).
    #[error(transparent)]
    Write(#[from] KeygenError),
    /// A file could not be read.
    #[error("`{path}`: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A value the certificate cannot carry, or a CA that cannot issue.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(error: impl std::fmt::Display) -> CertError {
    CertError::Invalid(error.to_string())
}

/// How long a certificate is valid: from `from_days` (from now; negative is the past)
/// for `days`.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub from_days: i64,
    pub days: i64,
}

impl Validity {
    /// From a minute ago, for `days`.
    pub fn days(days: i64) -> Validity {
        Validity { from_days: 0, days }
    }

    fn apply(self, params: &mut CertificateParams) {
        let start =
            OffsetDateTime::now_utc() - Duration::minutes(1) + Duration::days(self.from_days);
        params.not_before = start;
        params.not_after = start + Duration::days(self.days);
    }
}

/// An agent certificate's contents; every extension is optional.
#[derive(Debug, Clone, Default)]
pub struct AgentSpec {
    pub common_name: String,
    /// `subject-agent-id`; without it the agent id is the key's hash.
    pub agent_id: Option<String>,
    pub principal_id: Option<String>,
    /// `authority-scope-commitment` (written sorted and without duplicates).
    pub scopes: Option<Vec<String>>,
    pub zone: Option<String>,
    pub trust_tier: Option<u8>,
    pub archetype: Option<String>,
    pub activation_certificate_id: Option<String>,
}

/// A certificate written to disk.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// For an agent certificate: the Agent-ID it proves.
    pub agent_id: Option<String>,
}

/// Writes a new CA into `dir`.
pub fn make_ca(dir: &Path, name: &str, validity: Validity) -> Result<Issued, CertError> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(invalid)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity.apply(&mut params);
    let cert = params.self_signed(&key).map_err(invalid)?;
    write(dir.join(CA_CERT), dir.join(CA_KEY), cert.pem(), &key, None)
}

/// Issues an agent certificate from the CA in `ca_dir`, written as `BASE.crt` and `BASE.key`.
pub fn issue_agent(
    ca_dir: &Path,
    base: &Path,
    spec: &AgentSpec,
    validity: Validity,
) -> Result<Issued, CertError> {
    let (issuer, ca_key) = load_ca(ca_dir)?;
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(invalid)?;
    let mut params = leaf(&spec.common_name, validity);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let values = extension_values(spec)?;
    let mut placeholders = Vec::new();
    for (index, (name, value)) in values.into_iter().enumerate() {
        let Some(extension) = EXTENSIONS.iter().find(|e| e.name == name) else {
            continue;
        };
        let real = mtls::oid_content(extension.arc);
        let arcs = placeholder(&real, index)?;
        let mut custom = CustomExtension::from_oid_content(&arcs, value);
        custom.set_criticality(extension.critical);
        params.custom_extensions.push(custom);
        placeholders.push((der_oid(&encode(&arcs)), der_oid(&real)));
    }
    let cert = params.signed_by(&key, &issuer).map_err(invalid)?;
    let der = replace_oids(cert.der(), &placeholders, &ca_key)?;
    let read = mtls::read(&der).map_err(|r| invalid(r.message))?;
    let pem = pem_block(&der);
    write(
        base.with_extension("crt"),
        base.with_extension("key"),
        pem,
        &key,
        Some(read.agent_id),
    )
}

/// Issues a certificate for the daemon's listener, for `names` (DNS names or addresses).
pub fn issue_server(
    ca_dir: &Path,
    base: &Path,
    names: &[String],
    validity: Validity,
) -> Result<Issued, CertError> {
    let (issuer, _) = load_ca(ca_dir)?;
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(invalid)?;
    let mut params = leaf(names.first().map_or("agtpd", String::as_str), validity);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    for name in names {
        params.subject_alt_names.push(match name.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().map_err(invalid)?),
        });
    }
    let cert = params.signed_by(&key, &issuer).map_err(invalid)?;
    write(
        base.with_extension("crt"),
        base.with_extension("key"),
        cert.pem(),
        &key,
        None,
    )
}

fn leaf(common_name: &str, validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity.apply(&mut params);
    params
}

fn load_ca(dir: &Path) -> Result<(Issuer<'static, KeyPair>, ed25519_dalek::SigningKey), CertError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|error| CertError::Read { path, error })
    };
    let (cert, key_pem) = (read(CA_CERT)?, read(CA_KEY)?);
    let dalek = ed25519_dalek::SigningKey::from_pkcs8_pem(&key_pem).map_err(|e| {
        invalid(format!(
            "`{}`: not an Ed25519 CA key: {e}",
            dir.join(CA_KEY).display()
        ))
    })?;
    let key = KeyPair::from_pem(&key_pem).map_err(invalid)?;
    let issuer = Issuer::from_ca_cert_pem(&cert, key).map_err(invalid)?;
    Ok((issuer, dalek))
}

/// The extensions `spec` asks for, by name, with their value bytes (mtls.rs §4 rules).
fn extension_values(spec: &AgentSpec) -> Result<Vec<(&'static str, Vec<u8>)>, CertError> {
    let mut values = Vec::new();
    let text = |s: &str| s.as_bytes().to_vec();
    if let Some(id) = &spec.agent_id {
        values.push(("subject-agent-id", text(id)));
    }
    if let Some(principal) = &spec.principal_id {
        values.push(("principal-id", text(principal)));
    }
    if let Some(scopes) = &spec.scopes {
        if scopes.iter().any(|s| s.is_empty() || s.contains(',')) {
            return Err(invalid("a committed scope is empty or contains `,`"));
        }
        let mut scopes = scopes.clone();
        scopes.sort();
        scopes.dedup();
        values.push(("authority-scope-commitment", text(&scopes.join(","))));
    }
    if let Some(zone) = &spec.zone {
        values.push(("governance-zone", text(zone)));
    }
    if let Some(tier) = spec.trust_tier {
        values.push(("trust-tier", vec![0x02, 0x01, tier]));
    }
    if let Some(archetype) = &spec.archetype {
        values.push(("archetype", text(archetype)));
    }
    if let Some(id) = &spec.activation_certificate_id {
        values.push(("activation-certificate-id", text(id)));
    }
    Ok(values)
}

/// Arcs `2.25.P...` whose encoding is as long as `real` (the content of `2.25.N`) and
/// unique to extension `index`: parts of at most 9 base-128 groups, each at the bottom
/// of its length's range plus a marker.
fn placeholder(real: &[u8], index: usize) -> Result<Vec<u64>, CertError> {
    let mut arcs = vec![2, 25];
    let mut left = real.len() - 1;
    let marker = 0x5a00 + index as u64;
    while left > 0 {
        let groups = left.min(9);
        let floor = 1u64 << (7 * (groups - 1));
        let arc = match groups {
            1 => 0x2a,
            2 => floor + (marker & 0x7f),
            _ => floor + marker,
        };
        arcs.push(arc);
        left -= groups;
    }
    match encode(&arcs).len() == real.len() {
        true => Ok(arcs),
        false => Err(invalid("cannot lay out a placeholder OID")),
    }
}

/// The content octets of the OID `arcs` (first two arcs `2.25`).
fn encode(arcs: &[u64]) -> Vec<u8> {
    let mut out = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        mtls::push_arc(&mut out, u128::from(arc));
    }
    out
}

fn der_oid(content: &[u8]) -> Vec<u8> {
    let mut der = vec![0x06, content.len() as u8];
    der.extend_from_slice(content);
    der
}

/// `der` with each placeholder OID replaced in its signed part, signed again by `ca_key`.
fn replace_oids(
    der: &[u8],
    placeholders: &[(Vec<u8>, Vec<u8>)],
    ca_key: &ed25519_dalek::SigningKey,
) -> Result<Vec<u8>, CertError> {
    if placeholders.is_empty() {
        return Ok(der.to_vec());
    }
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(invalid)?;
    let tbs: &[u8] = cert.tbs_certificate.as_ref();
    let start = tbs.as_ptr() as usize - der.as_ptr() as usize;
    let mut out = der.to_vec();
    let signed = &mut out[start..start + tbs.len()];
    for (from, to) in placeholders {
        let at = signed
            .windows(from.len())
            .position(|w| w == from.as_slice())
            .ok_or_else(|| invalid("a placeholder OID is missing from the certificate"))?;
        signed[at..at + to.len()].copy_from_slice(to);
    }
    let signature = ca_key.sign(signed).to_bytes();
    // An Ed25519 signature is the certificate's last 64 bytes: BIT STRING, 65 bytes long,
    // no unused bits.
    let tail = out.len() - 67;
    if out[tail..tail + 3] != [0x03, 0x41, 0x00] {
        return Err(invalid("the CA's signature is not Ed25519"));
    }
    out[tail + 3..].copy_from_slice(&signature);
    Ok(out)
}

fn pem_block(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn write(
    cert: PathBuf,
    key: PathBuf,
    pem: String,
    pair: &KeyPair,
    agent_id: Option<String>,
) -> Result<Issued, CertError> {
    write_new(&key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_new(&cert, pem.as_bytes(), 0o644)?;
    Ok(Issued {
        cert,
        key,
        agent_id,
    })
}

#[cfg(test)]
mod tests;
