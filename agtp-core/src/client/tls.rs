//! The client side of TLS: TLS 1.3 only (AGTP requires it), trusting the operating
//! system's roots plus any the caller adds, or, for testing, nothing at all.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::ClientError;

/// Which servers a client trusts.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Trust the operating system's root certificates (default: yes).
    pub system_roots: bool,
    /// Further trust anchors, such as a private CA or a self-signed server certificate.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Accept any certificate for any name. Encrypts, but authenticates nothing: for
    /// tests and first contact only.
    pub insecure: bool,
    /// A client certificate chain (leaf first) and its key, for servers that ask for one
    /// (mTLS); `None` sends none.
    pub identity: Option<Arc<ClientIdentity>>,
}

/// A client certificate and its private key.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Reads a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ClientIdentity, ClientError> {
        let failed = |path: &Path, reason: String| ClientError::Tls {
            authority: "-".to_owned(),
            reason: format!("`{}`: {reason}", path.display()),
        };
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| failed(cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(failed(cert, "no PEM certificate found".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| failed(key, e.to_string()))?;
        Ok(ClientIdentity { certs, key })
    }
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            system_roots: true,
            extra_roots: Vec::new(),
            insecure: false,
            identity: None,
        }
    }
}

impl TlsOptions {
    /// Adds every certificate in the PEM file at `path` as a trust anchor.
    pub fn add_pem_file(&mut self, path: &Path) -> Result<(), ClientError> {
        let failed = |reason: String| ClientError::Tls {
            authority: "-".to_owned(),
            reason: format!("`{}`: {reason}", path.display()),
        };
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| failed(e.to_string()))?;
        if certs.is_empty() {
            return Err(failed("no PEM certificate found".to_owned()));
        }
        self.extra_roots.extend(certs);
        Ok(())
    }

    /// The rustls configuration these options describe.
    pub fn build(&self) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        let failed = |reason: String| ClientError::Tls {
            authority: "-".to_owned(),
            reason,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| failed(e.to_string()))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider.clone())))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let key = provider
                    .key_provider
                    .load_private_key(identity.key.clone_key())
                    .map_err(|e| failed(format!("the client key is not usable: {e}")))?;
                let certified = rustls::sign::CertifiedKey::new(identity.certs.clone(), key);
                builder.with_client_cert_resolver(Arc::new(Present(Arc::new(certified))))
            }
        };
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, ClientError> {
        let mut roots = RootCertStore::empty();
        for cert in &self.extra_roots {
            roots.add(cert.clone()).map_err(|e| ClientError::Tls {
                authority: "-".to_owned(),
                reason: format!("an added root certificate is unusable: {e}"),
            })?;
        }
        if self.system_roots {
            // Unreadable entries in the system store are skipped, as every TLS client does.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        if roots.is_empty() {
            return Err(ClientError::Tls {
                authority: "-".to_owned(),
                reason:
                    "no trusted root certificates: the system store is empty and none was added"
                        .to_owned(),
            });
        }
        Ok(roots)
    }
}

/// The name to verify the server's certificate against (an IP address or a DNS name).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, ClientError> {
    ServerName::try_from(host.to_owned()).map_err(|_| ClientError::Tls {
        authority: host.to_owned(),
        reason: format!("`{host}` cannot be checked against a certificate"),
    })
}

/// Accepts every certificate; still checks the handshake signatures, so the peer holds
/// the key of the certificate it showed (which proves nothing about who it is).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Presents one client certificate to any server that asks. rustls's own
/// `with_client_auth_cert` parses the certificate first and refuses critical extensions it
/// does not know, which agent certificates carry; the server judges the certificate.
#[derive(Debug)]
struct Present(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Present {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
