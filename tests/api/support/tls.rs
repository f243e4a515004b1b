//! A throwaway certificate authority made at test time (a root and an intermediate, as
//! public CAs issue), server certificates from it, and TLS clients that trust its root.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse::config::{Config, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ProtocolVersion, SupportedProtocolVersion};

pub struct TestCa {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate: the chain (server certificate, then the intermediate) and its key.
#[derive(Clone)]
pub struct ServerCertificate {
    pub chain_pem: String,
    pub key_pem: String,
    /// The server certificate alone, as a client sees it.
    pub leaf_der: Vec<u8>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl TestCa {
    pub fn new() -> TestCa {
        let root = CertifiedIssuer::self_signed(ca_params("Gatehouse test root"), KeyPair::generate().unwrap())
            .expect("root CA");
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("Gatehouse test intermediate"),
            KeyPair::generate().unwrap(),
            &root,
        )
        .expect("intermediate CA");
        TestCa { root, intermediate }
    }

    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    pub fn root_der(&self) -> CertificateDer<'static> {
        self.root.der().clone()
    }

    /// A certificate for `names` (DNS names or IP addresses), valid from 1975 to 4096.
    pub fn issue(&self, names: &[&str]) -> ServerCertificate {
        self.issue_with(names, |_| {})
    }

    /// [`TestCa::issue`], with the parameters adjusted by `adjust` (validity, say).
    pub fn issue_with(&self, names: &[&str], adjust: impl FnOnce(&mut CertificateParams)) -> ServerCertificate {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gatehouse test server");
        params.serial_number = Some(rcgen::SerialNumber::from(rand::random::<u64>()));
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.intermediate).expect("server certificate");
        ServerCertificate {
            chain_pem: format!("{}{}", cert.pem(), self.intermediate.pem()),
            key_pem: key.serialize_pem(),
            leaf_der: cert.der().to_vec(),
        }
    }

    /// A reqwest client builder that trusts this CA's root only.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.root_pem().as_bytes()).unwrap())
    }

    /// A client without automatic redirects that trusts this CA.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn client_config(&self, versions: &[&'static SupportedProtocolVersion]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root_der()).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        config: rustls::ClientConfig,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::IpAddress(addr.ip().into());
        connector.connect(name, tcp).await.map_err(|e| e.to_string())
    }

    /// One TLS handshake with `addr` offering only `versions`: the server certificate it
    /// presented and the version agreed, or why the handshake failed.
    pub async fn handshake(
        &self,
        addr: SocketAddr,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Result<(Vec<u8>, ProtocolVersion), String> {
        let stream = self.connect(addr, self.client_config(versions)).await?;
        let (_, connection) = stream.get_ref();
        let leaf = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.as_ref().to_vec())
            .ok_or("no certificate presented")?;
        Ok((leaf, connection.protocol_version().ok_or("no version")?))
    }

    /// The application protocol the server picks (ALPN) among `offered`.
    pub async fn alpn(&self, addr: SocketAddr, offered: &[&[u8]]) -> Option<Vec<u8>> {
        let mut config = self.client_config(rustls::DEFAULT_VERSIONS);
        config.alpn_protocols = offered.iter().map(|p| p.to_vec()).collect();
        let stream = self.connect(addr, config).await.expect("handshake");
        stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    }
}

impl ServerCertificate {
    /// Writes the chain and key as `cert.pem` and `key.pem` in `dir`.
    pub fn write_to(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        self.replace(&cert, &key);
        (cert, key)
    }

    /// Replaces the files as certbot does: each written aside, then renamed over the old.
    pub fn replace(&self, cert: &Path, key: &Path) {
        replace_file(cert, &self.chain_pem);
        replace_file(key, &self.key_pem);
    }
}

pub fn replace_file(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// Turns the test configuration into an HTTPS one serving `cert_file`/`key_file`.
pub fn serve_https(config: &mut Config, cert_file: &Path, key_file: &Path, reload_interval: i64) {
    config.issuer = config.issuer.replacen("http://", "https://", 1);
    config.tls = Some(TlsConfig {
        cert_file: cert_file.to_path_buf(),
        key_file: key_file.to_path_buf(),
        reload_interval,
        redirect_listen: None,
    });
}
