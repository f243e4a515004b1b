//! The `[tls]` section: native HTTPS on the main listener (README, "TLS").

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default seconds between two looks at the certificate files.
pub const DEFAULT_TLS_RELOAD_INTERVAL: i64 = 10;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the server certificate first, then the intermediate certificates (the full
    /// chain, certbot's `fullchain.pem`).
    pub cert_file: PathBuf,
    /// PEM: the private key of the first certificate (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_file: PathBuf,
    /// Seconds between two looks at the files: a renewed certificate is served within this
    /// long (SIGHUP reloads at once).
    pub reload_interval: i64,
    /// An optional plain-http address (`0.0.0.0:80`) that answers every request with a
    /// permanent redirect to the same path on the issuer's https origin, and nothing else.
    pub redirect_listen: Option<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            reload_interval: DEFAULT_TLS_RELOAD_INTERVAL,
            redirect_listen: None,
        }
    }
}

impl TlsConfig {
    pub(super) fn validate(&self, issuer: &str, listen: &str, problems: &mut Vec<String>) {
        if !issuer.to_ascii_lowercase().starts_with("https://") {
            problems.push("`issuer` must be an https URL when `[tls]` is set (Gatehouse serves HTTPS itself)".into());
        }
        if self.cert_file.as_os_str().is_empty() {
            problems.push("`tls.cert_file` is required: the PEM certificate chain".into());
        }
        if self.key_file.as_os_str().is_empty() {
            problems.push("`tls.key_file` is required: the PEM private key".into());
        }
        if !(1..=86_400).contains(&self.reload_interval) {
            problems.push("`tls.reload_interval` must be between 1 and 86400 seconds".into());
        }
        if let Some(redirect) = &self.redirect_listen {
            match redirect.parse::<SocketAddr>() {
                Ok(addr) => {
                    if addr.port() != 0 && listen.parse::<SocketAddr>().is_ok_and(|main| main == addr) {
                        problems.push("`tls.redirect_listen` must differ from `listen`".into());
                    }
                }
                Err(_) => problems.push(format!(
                    "`tls.redirect_listen` must be an address like 0.0.0.0:80, got `{redirect}`"
                )),
            }
        }
    }
}
