//! Native TLS: the certificate and key of `[tls]`, read from PEM files, served through
//! rustls (aws-lc-rs), swapped without a restart when the files change or on SIGHUP, and
//! checked by `gatehouse check-config`.
//!
//! An adapter like `storage` and `directory`: it knows rustls and the file system, never
//! HTTP (the listeners are wired in `app`).

mod certificate_check;
mod pem_files;
mod pinned_client;
mod reloading_certificate;

pub use certificate_check::{check_certificate_pair, CertificateCheck, EXPIRY_WARNING_DAYS};
pub use pem_files::{CertificatePair, MAX_PEM_FILE_BYTES};
pub use pinned_client::client_config_pinned_to;
pub use reloading_certificate::{server_config, watch_for_reloads, ReloadOutcome, ReloadingCertificate};

use std::path::PathBuf;

/// Why a certificate and key cannot be served. Messages name the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is larger than {limit} bytes; it should hold a few PEM blocks")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: PathBuf },
    #[error("{path}: a certificate is not valid PEM: {reason}")]
    CertificatePem { path: PathBuf, reason: String },
    #[error("{path}: the first certificate cannot be parsed: {reason}")]
    CertificateDer { path: PathBuf, reason: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)")]
    NoKey { path: PathBuf },
    #[error("{path}: the private key is not valid PEM: {reason}")]
    KeyPem { path: PathBuf, reason: String },
    #[error("{path}: the private key cannot be used: {reason}")]
    KeyUnusable { path: PathBuf, reason: String },
    #[error("the private key in {key} does not belong to the first certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("could not read the certificate files: {0}")]
    Task(String),
}
