//! TLS for directory connections (`ldaps://` and StartTLS): which certificates are trusted
//! (the system's plus the CA bundle in `ldap.ca_file`), certificate verification that is on
//! unless explicitly turned off for a lab, and TLS failures in words an operator can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ldap3::LdapConnSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::directory_error::DirectoryError;
use crate::config::LdapConfig;

/// How connections are secured, prepared once from the configuration.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    /// Upgrade `ldap://` connections with StartTLS before anything else is sent.
    pub starttls: bool,
    trust: Trust,
}

#[derive(Clone)]
enum Trust {
    /// Certificates are verified against these roots (system and CA file).
    Verify(Arc<ClientConfig>),
    /// The trusted certificates could not be loaded (an unreadable CA file, say): every TLS
    /// connection fails with this message rather than silently trusting less or more.
    Unusable(String),
    /// `tls_verify = false`: any certificate is accepted (the handshake's signatures are
    /// still checked, so the connection is at least to whoever holds the key it shows).
    AcceptAny(Arc<ClientConfig>),
    /// No configured server uses TLS, so nothing was loaded.
    NotNeeded { ca_file: Option<PathBuf> },
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trust = match &self.trust {
            Trust::Verify(_) => "verify",
            Trust::Unusable(_) => "unusable",
            Trust::AcceptAny(_) => "accept any certificate",
            Trust::NotNeeded { .. } => "not loaded",
        };
        f.debug_struct("TlsSettings")
            .field("starttls", &self.starttls)
            .field("trust", &trust)
            .finish()
    }
}

impl TlsSettings {
    /// Loads the trusted certificates when a configured server uses TLS. Turning
    /// verification off is logged as a warning every time this runs (at every start).
    pub fn from_config(config: &LdapConfig) -> Self {
        let uses_tls = config.starttls || config.server_urls().iter().any(|url| is_ldaps(url));
        let trust = if !config.tls_verify {
            tracing::warn!(
                "ldap.tls_verify = false: the directory server's TLS certificate is NOT verified. \
                 Anyone on the network path can pose as the directory and read every password \
                 people type. Use this only in a lab; set ldap.ca_file instead."
            );
            accept_any()
        } else if uses_tls {
            load_trust(config.ca_file.as_deref())
        } else {
            Trust::NotNeeded {
                ca_file: config.ca_file.clone(),
            }
        };
        if let Trust::Unusable(problem) = &trust {
            tracing::error!(problem = %problem, "TLS connections to the directory will fail");
        }
        TlsSettings {
            starttls: config.starttls,
            trust,
        }
    }

    /// Plain connections (no TLS anywhere, no CA file), for unit tests.
    #[cfg(test)]
    pub fn plain() -> Self {
        TlsSettings {
            starttls: false,
            trust: Trust::NotNeeded { ca_file: None },
        }
    }

    /// Whether a connection to `url` is encrypted: ldaps://, or ldap:// with StartTLS.
    pub fn secures(&self, url: &str) -> bool {
        is_ldaps(url) || (self.starttls && url.starts_with("ldap://"))
    }

    /// The connection settings for `url`: StartTLS on plain URLs when configured, and the
    /// trusted certificates (or no verification at all) for TLS.
    pub fn apply(&self, settings: LdapConnSettings, url: &str) -> Result<LdapConnSettings, DirectoryError> {
        let settings = settings.set_starttls(self.starttls && !is_ldaps(url));
        if !self.secures(url) {
            return Ok(settings);
        }
        match &self.trust {
            // Always a configuration of our own: ldap3's fallback asks rustls for a
            // process-wide crypto provider, which this binary does not install.
            Trust::Verify(config) => Ok(settings.set_config(config.clone())),
            Trust::AcceptAny(config) => Ok(settings.set_config(config.clone()).set_no_tls_verify(true)),
            Trust::Unusable(problem) => Err(DirectoryError::Configuration(problem.clone())),
            // Only reachable if the URLs and the settings came from different places; load now.
            Trust::NotNeeded { ca_file } => match load_trust(ca_file.as_deref()) {
                Trust::Verify(config) => Ok(settings.set_config(config)),
                Trust::Unusable(problem) => Err(DirectoryError::Configuration(problem)),
                Trust::AcceptAny(_) | Trust::NotNeeded { .. } => Err(DirectoryError::Configuration(
                    "the trusted CA certificates were not loaded".into(),
                )),
            },
        }
    }
}

fn is_ldaps(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("ldaps://"))
}

/// The one crypto provider of the directory's TLS: aws-lc-rs, as everywhere else in the binary.
fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// A client configuration with our provider, its safe protocol versions (TLS 1.2 and 1.3)
/// and `verifier`'s trust, or why none can be made.
fn client_config(
    with_verifier: impl FnOnce(rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>) -> ClientConfig,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS for the directory: {e}"))?;
    Ok(Arc::new(with_verifier(builder)))
}

/// The system's trusted roots plus those of `ca_file`, or why they cannot be used.
fn load_trust(ca_file: Option<&Path>) -> Trust {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        tracing::warn!(
            error = %error,
            "cannot read some of the system's trusted CA certificates; ldap.ca_file is trusted all the same"
        );
    }
    let (_, unusable) = roots.add_parsable_certificates(system.certs);
    if unusable > 0 {
        tracing::debug!(unusable, "some system CA certificates could not be used");
    }
    if let Some(path) = ca_file {
        if let Err(problem) = add_ca_file(&mut roots, path) {
            return Trust::Unusable(problem);
        }
    }
    if roots.is_empty() {
        tracing::warn!("no trusted CA certificate was found: set ldap.ca_file to the directory's CA bundle");
    }
    match client_config(|builder| builder.with_root_certificates(roots).with_no_client_auth()) {
        Ok(config) => Trust::Verify(config),
        Err(problem) => Trust::Unusable(problem),
    }
}

/// `tls_verify = false`: a configuration whose verifier accepts any certificate.
fn accept_any() -> Trust {
    let algorithms = crypto_provider().signature_verification_algorithms;
    let verifier = Arc::new(AnyCertificate { algorithms });
    match client_config(|builder| {
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    }) {
        Ok(config) => Trust::AcceptAny(config),
        Err(problem) => Trust::Unusable(problem),
    }
}

/// Accepts whatever certificate the server shows (`ldap.tls_verify = false`), but still
/// checks that the server signed the handshake with that certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
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
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Adds every certificate of a PEM bundle; a file without any, or with one that cannot be a
/// trust anchor, is an error naming the file.
fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    let shown = path.display();
    let unreadable = |e: pem::Error| match e {
        pem::Error::Io(e) => format!("cannot read the CA file {shown} (ldap.ca_file): {e}"),
        other => format!("cannot read the CA file {shown} (ldap.ca_file): {other}"),
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    if certificates.is_empty() {
        return Err(format!(
            "the CA file {shown} (ldap.ca_file) holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    for (index, der) in certificates.into_iter().enumerate() {
        roots.add(der).map_err(|e| {
            format!(
                "certificate {} of the CA file {shown} (ldap.ca_file) cannot be used: {}",
                index + 1,
                describe_tls_error(&e)
            )
        })?;
    }
    Ok(())
}

/// A rustls failure in plain words: "certificate not trusted: unknown issuer".
pub(crate) fn describe_tls_error(error: &rustls::Error) -> String {
    use rustls::Error;
    match error {
        Error::InvalidCertificate(problem) => describe_certificate_error(problem),
        Error::NoCertificatesPresented => "the server presented no certificate".into(),
        Error::AlertReceived(alert) => format!("the server ended the TLS handshake ({alert:?})"),
        Error::PeerIncompatible(why) => format!("no TLS version or cipher in common with the server ({why:?})"),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => {
            "the server did not answer in TLS (is this an ldap:// port used as ldaps://?)".into()
        }
        other => other.to_string(),
    }
}

fn describe_certificate_error(problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => {
            "certificate not trusted: unknown issuer (add the CA that signed it to ldap.ca_file)".into()
        }
        CertificateError::NotValidForName => {
            "certificate not valid for this host name (the URL's host is not among its names)".into()
        }
        CertificateError::NotValidForNameContext { expected, presented } => format!(
            "certificate not valid for this host name ({} is not among its names: {})",
            server_name_text(expected),
            presented.join(", ")
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet".into()
        }
        CertificateError::Revoked => "certificate revoked".into(),
        CertificateError::BadSignature => "certificate has a bad signature".into(),
        CertificateError::BadEncoding => "certificate cannot be parsed".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate not meant for a TLS server".into()
        }
        CertificateError::UnhandledCriticalExtension => "certificate has an unsupported critical extension".into(),
        other => format!("certificate rejected: {other:?}"),
    }
}

fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(name) => name.as_ref().to_string(),
        ServerName::IpAddress(address) => std::net::IpAddr::from(*address).to_string(),
        other => format!("{other:?}"),
    }
}

/// The rustls error inside an I/O error from the TLS handshake, if it is one.
pub(crate) fn tls_error_in(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> LdapConfig {
        LdapConfig {
            url: url.into(),
            base_dn: "dc=example,dc=org".into(),
            ..LdapConfig::default()
        }
    }

    #[test]
    fn which_urls_are_secured() {
        let plain = TlsSettings::plain();
        assert!(plain.secures("ldaps://ldap.example.org"));
        assert!(plain.secures("LDAPS://ldap.example.org"));
        assert!(!plain.secures("ldap://ldap.example.org"));
        let starttls = TlsSettings::from_config(&LdapConfig {
            starttls: true,
            ..config("ldap://ldap.example.org")
        });
        assert!(starttls.secures("ldap://ldap.example.org"));
    }

    #[test]
    fn a_missing_ca_file_makes_tls_fail_with_its_name() {
        let settings = TlsSettings::from_config(&LdapConfig {
            ca_file: Some(PathBuf::from("/nonexistent/gatehouse-ca.pem")),
            ..config("ldaps://ldap.example.org")
        });
        let error = settings
            .apply(LdapConnSettings::new(), "ldaps://ldap.example.org")
            .err()
            .expect("the CA file is missing");
        let message = error.to_string();
        assert!(
            message.contains("cannot read the CA file /nonexistent/gatehouse-ca.pem (ldap.ca_file)"),
            "{message}"
        );
        // Plain connections do not need it.
        assert!(settings
            .apply(LdapConnSettings::new(), "ldap://ldap.example.org")
            .is_ok());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let file = tempfile::NamedTempFile::new().expect("temporary file");
        std::fs::write(file.path(), "not a certificate\n").expect("write");
        let mut roots = RootCertStore::empty();
        let problem = add_ca_file(&mut roots, file.path()).expect_err("nothing usable");
        assert!(problem.contains("holds no PEM certificate"), "{problem}");
    }

    #[test]
    fn tls_failures_read_plainly() {
        assert_eq!(
            describe_tls_error(&rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            "certificate not trusted: unknown issuer (add the CA that signed it to ldap.ca_file)"
        );
        assert_eq!(
            describe_tls_error(&rustls::Error::InvalidCertificate(CertificateError::Expired)),
            "certificate expired"
        );
        // What rustls' own verifier reports names the host and the certificate's names.
        let name = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("ldap.example.org").expect("a DNS name"),
            presented: vec!["DnsName(\"localhost\")".into(), "IpAddress(127.0.0.1)".into()],
        };
        assert_eq!(
            describe_tls_error(&rustls::Error::InvalidCertificate(name)),
            "certificate not valid for this host name (ldap.example.org is not among its names: \
             DnsName(\"localhost\"), IpAddress(127.0.0.1))"
        );
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
        );
        assert_eq!(
            tls_error_in(&wrapped).map(describe_tls_error).as_deref(),
            Some("certificate not valid for this host name (the URL's host is not among its names)")
        );
        assert!(tls_error_in(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)).is_none());
    }
}
