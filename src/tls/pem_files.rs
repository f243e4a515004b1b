//! Reading the PEM files of `[tls]` and turning them into a rustls `CertifiedKey`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::TlsError;
use crate::config::TlsConfig;

/// The largest PEM file read: a chain of a few certificates or one key is a few kilobytes.
pub const MAX_PEM_FILE_BYTES: u64 = 1024 * 1024;

/// The two files of `[tls]` as read from disk (the key bytes are never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct CertificatePair {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for CertificatePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificatePair")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// Reads one file (following symbolic links, as cert-manager's mounted secrets use),
/// refusing anything larger than [`MAX_PEM_FILE_BYTES`]. Blocking: call it from
/// `spawn_blocking` in async code.
pub fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_error = |source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_PEM_FILE_BYTES,
        });
    }
    Ok(bytes)
}

impl CertificatePair {
    /// Reads both files (blocking).
    pub fn read(config: &TlsConfig) -> Result<CertificatePair, TlsError> {
        Ok(CertificatePair {
            cert_path: config.cert_file.clone(),
            key_path: config.key_file.clone(),
            cert_pem: read_pem_file(&config.cert_file)?,
            key_pem: read_pem_file(&config.key_file)?,
        })
    }

    /// A digest of both files, to tell whether they changed since the last look.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [&self.cert_pem, &self.key_pem] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(context.finish().as_ref());
        out
    }

    /// The certificate chain, the end-entity certificate first.
    pub fn certificate_chain(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        parse_certificate_chain(&self.cert_path, &self.cert_pem)
    }

    /// The private key.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        parse_private_key(&self.key_path, &self.key_pem)
    }

    /// What rustls serves: the chain and the key, which must belong to the first
    /// certificate (a key of another certificate is refused, not served).
    pub fn certified_key(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
        let chain = self.certificate_chain()?;
        let key = self.private_key()?;
        certified_key(chain, key, &self.cert_path, &self.key_path, provider)
    }
}

pub(super) fn parse_certificate_chain(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|error| TlsError::CertificatePem {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

pub(super) fn parse_private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        // The reason names the PEM problem (base64, section markers), never key bytes.
        other => TlsError::KeyPem {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

pub(super) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| TlsError::KeyUnusable {
            path: key_path.to_path_buf(),
            reason: error.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
        Err(error) => Err(TlsError::CertificateDer {
            path: cert_path.to_path_buf(),
            reason: error.to_string(),
        }),
    }
}
