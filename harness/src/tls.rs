//! Certificates for TLS tests: a self-signed `localhost` certificate and key in PEM files,
//! and a CA with agent certificates for mTLS ([`AgentPki`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use agtp_core::client::{ClientIdentity, TlsOptions};
use agtpd::cert::{self, AgentSpec, Issued, Validity};
use agtpd::tls::{ClientAuth, TlsConfig};
use rustls::pki_types::ServerName;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::Client;

/// A self-signed certificate for `localhost` and its key, in a temp dir.
pub struct SelfSigned {
    /// Holds the files; they go when this is dropped.
    pub dir: TempDir,
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8).
    pub key: PathBuf,
    /// The certificate, DER, for a client to trust.
    pub der: Vec<u8>,
}

impl SelfSigned {
    /// A new certificate and key for `localhost`.
    pub fn localhost() -> SelfSigned {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let der = made.cert.der().to_vec();
        SelfSigned {
            dir,
            cert,
            key,
            der,
        }
    }

    /// `[tls]` serving this certificate.
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: Some(self.cert.clone()),
            key_file: Some(self.key.clone()),
            ..TlsConfig::default()
        }
    }
}

/// A local CA made by `agtpd cert`, a `localhost` server certificate from it, and agent
/// certificates on demand; clients that trust the CA and present one of them.
pub struct AgentPki {
    /// Holds the files.
    pub dir: TempDir,
    /// The CA's directory (`ca.crt`, `ca.key`).
    pub ca: PathBuf,
    /// The daemon's certificate.
    pub server: Issued,
}

impl Default for AgentPki {
    fn default() -> Self {
        AgentPki::new()
    }
}

impl AgentPki {
    /// A new CA and its `localhost` server certificate.
    pub fn new() -> AgentPki {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        std::fs::create_dir(&ca).unwrap();
        cert::make_ca(&ca, "test CA", Validity::days(30)).unwrap();
        let names = ["localhost".to_owned()];
        let server =
            cert::issue_server(&ca, &dir.path().join("server"), &names, Validity::days(30))
                .unwrap();
        AgentPki { dir, ca, server }
    }

    /// Issues agent certificate `name` with `spec` (its common name is `name`).
    pub fn agent(&self, name: &str, spec: AgentSpec, validity: Validity) -> Issued {
        let spec = AgentSpec {
            common_name: name.to_owned(),
            ..spec
        };
        cert::issue_agent(&self.ca, &self.dir.path().join(name), &spec, validity).unwrap()
    }

    /// `[tls]` serving the server certificate, with `client_auth` against this CA.
    pub fn tls_config(&self, client_auth: ClientAuth) -> TlsConfig {
        TlsConfig {
            cert_file: Some(self.server.cert.clone()),
            key_file: Some(self.server.key.clone()),
            client_auth,
            client_ca_file: Some(self.ca.join(cert::CA_CERT)),
            ..TlsConfig::default()
        }
    }

    /// A TLS client of the daemon at `addr`, presenting `identity` when given.
    pub async fn client(
        &self,
        addr: SocketAddr,
        identity: Option<&Issued>,
    ) -> std::io::Result<Client<TlsStream<TcpStream>>> {
        let mut options = TlsOptions {
            system_roots: false,
            ..TlsOptions::default()
        };
        options.add_pem_file(&self.ca.join(cert::CA_CERT)).unwrap();
        options.identity =
            identity.map(|i| Arc::new(ClientIdentity::from_pem_files(&i.cert, &i.key).unwrap()));
        let connector = TlsConnector::from(options.build().unwrap());
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        Ok(Client::new(connector.connect(name, tcp).await?))
    }
}
