//! The certificate rustls serves, swapped atomically when the files change.
//!
//! Every handshake asks [`ReloadingCertificate::resolve`] for the pair to present; it
//! clones an `Arc` out of a lock held for that clone only. A reload reads and parses the
//! new files on the blocking pool, checks that the key belongs to the certificate, and
//! only then replaces the `Arc`: a handshake sees either the old pair or the new one,
//! never a half-loaded one, and connections already open keep what they negotiated.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::certificate_check::describe_certificate;
use super::pem_files::CertificatePair;
use super::TlsError;
use crate::config::TlsConfig;

/// What a look at the files found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The files hold the pair already served (or one already refused).
    Unchanged,
    /// A new pair is served from now on.
    Reloaded,
    /// The files changed but cannot be served; the previous pair stays.
    Refused,
}

/// What was last read from the files.
#[derive(Debug)]
struct Seen {
    /// The fingerprint of the pair being served.
    served: [u8; 32],
    /// The fingerprint of the last pair refused, so a bad pair is reported once per
    /// change, not at every look.
    refused: Option<[u8; 32]>,
    /// The last look could not read the files (reported once until they are readable).
    unreadable: bool,
}

pub struct ReloadingCertificate {
    config: TlsConfig,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    seen: tokio::sync::Mutex<Seen>,
}

impl std::fmt::Debug for ReloadingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCertificate")
            .field("cert_file", &self.config.cert_file)
            .field("key_file", &self.config.key_file)
            .finish_non_exhaustive()
    }
}

/// The crypto provider of every TLS connection Gatehouse serves: aws-lc-rs, as for the
/// signing keys. Its cipher suites are all AEAD with forward secrecy (TLS 1.3's three;
/// ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2): no CBC, no RSA key exchange.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls configuration of the HTTPS listener: TLS 1.3 and 1.2 only, the certificate
/// chosen per handshake by `certificate`, no client certificates. ALPN is added by
/// actix-web (`http/1.1`).
pub fn server_config(certificate: Arc<ReloadingCertificate>) -> Result<ServerConfig, TlsError> {
    let provider = certificate.provider.clone();
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| TlsError::Task(error.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    Ok(config)
}

impl ReloadingCertificate {
    /// Reads and parses the pair of `config`: the server cannot start without it.
    pub async fn load(config: &TlsConfig) -> Result<Arc<ReloadingCertificate>, TlsError> {
        let provider = provider();
        let (pair, key) = read_and_parse(config.clone(), provider.clone()).await?;
        tracing::info!(
            cert_file = %config.cert_file.display(),
            certificate = %describe_certificate(&key),
            "serving HTTPS with this certificate"
        );
        Ok(Arc::new(ReloadingCertificate {
            config: config.clone(),
            provider,
            current: RwLock::new(key),
            seen: tokio::sync::Mutex::new(Seen {
                served: pair.fingerprint(),
                refused: None,
                unreadable: false,
            }),
        }))
    }

    /// The pair served to new handshakes.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How often the files are looked at.
    pub fn reload_interval(&self) -> Duration {
        Duration::from_secs(self.config.reload_interval.unsigned_abs().max(1))
    }

    /// Reads the files and serves them if they changed and hold a usable pair. `asked`
    /// (SIGHUP) reports the outcome even when nothing changed, and reports a refused pair
    /// again.
    pub async fn reload(&self, asked: bool) -> ReloadOutcome {
        // One reload at a time: the interval and SIGHUP may meet.
        let mut seen = self.seen.lock().await;
        let pair = match read_files(self.config.clone()).await {
            Ok(pair) => pair,
            Err(error) => {
                // A renewal in progress can briefly remove a file; the next look retries.
                if asked || !seen.unreadable {
                    tracing::error!(error = %error, "cannot read the TLS certificate files; still serving the previous certificate");
                }
                seen.unreadable = true;
                return ReloadOutcome::Refused;
            }
        };
        seen.unreadable = false;
        let fingerprint = pair.fingerprint();
        if fingerprint == seen.served || (!asked && seen.refused == Some(fingerprint)) {
            if asked {
                tracing::info!("reload asked: the TLS certificate files are unchanged");
            }
            return ReloadOutcome::Unchanged;
        }
        let provider = self.provider.clone();
        let parsed = tokio::task::spawn_blocking(move || pair.certified_key(&provider))
            .await
            .map_err(|error| TlsError::Task(error.to_string()))
            .and_then(|result| result);
        match parsed {
            Ok(key) => {
                let description = describe_certificate(&key);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
                seen.served = fingerprint;
                seen.refused = None;
                tracing::info!(certificate = %description, "reloaded the TLS certificate; new connections get it");
                ReloadOutcome::Reloaded
            }
            Err(error) => {
                seen.refused = Some(fingerprint);
                tracing::error!(
                    error = %error,
                    "refused the new TLS certificate files; still serving the previous certificate"
                );
                ReloadOutcome::Refused
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

async fn read_files(config: TlsConfig) -> Result<CertificatePair, TlsError> {
    tokio::task::spawn_blocking(move || CertificatePair::read(&config))
        .await
        .map_err(|error| TlsError::Task(error.to_string()))?
}

async fn read_and_parse(
    config: TlsConfig,
    provider: Arc<CryptoProvider>,
) -> Result<(CertificatePair, Arc<CertifiedKey>), TlsError> {
    tokio::task::spawn_blocking(move || {
        let pair = CertificatePair::read(&config)?;
        let key = pair.certified_key(&provider)?;
        Ok((pair, key))
    })
    .await
    .map_err(|error| TlsError::Task(error.to_string()))?
}

/// Runs until dropped: looks at the files every `reload_interval` and at once on SIGHUP.
/// Without TLS (`None`) it only answers SIGHUP with a log line, so a `systemctl reload`
/// does not end the process (SIGHUP's default action).
pub async fn watch_for_reloads(certificate: Option<Arc<ReloadingCertificate>>) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(error = %error, "cannot listen for SIGHUP; certificate files are still looked at on schedule");
            None
        }
    };
    let period = certificate
        .as_ref()
        .map_or(Duration::from_secs(3600), |certificate| certificate.reload_interval());
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let asked = tokio::select! {
            _ = interval.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        match &certificate {
            Some(certificate) => {
                if asked {
                    tracing::info!("SIGHUP: reloading the TLS certificate");
                }
                certificate.reload(asked).await;
            }
            None if asked => tracing::info!("SIGHUP: nothing to reload (no [tls] section)"),
            None => {}
        }
    }
}
