//! Small cryptographic helpers shared by every layer: random tokens, hashes of secrets,
//! constant-time comparison, and AES-256-GCM under the master key. All of it on aws-lc-rs.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::private_files::{restrict_private_file, PrivateFileError, PRIVATE_FILE_MODE};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, given as 64 hex digits or base64")]
    BadMasterKey,
    #[error("could not read or write the master key file {path}: {source}")]
    MasterKeyFile { path: String, source: std::io::Error },
    #[error("the master key file is not private: {0}")]
    MasterKeyFileMode(#[from] PrivateFileError),
    #[error("encrypted data could not be decrypted with this master key")]
    Decrypt,
    #[error("the system random number generator failed")]
    Random,
}

/// `n` random bytes from the operating system's generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // aws-lc's RNG only fails when the OS cannot provide entropy at all; nothing sensible
    // can continue without it.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut buf).expect("operating system random number generator failed");
    buf
}

/// A random URL-safe token carrying `bytes` bytes of entropy (base64url, no padding).
pub fn random_token(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// SHA-256 of `data`, lowercase hex. Used to store random secrets (codes, session ids,
/// refresh tokens, client secrets): they are long and random, so a fast hash is enough.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    hex_encode(digest.as_ref())
}

/// SHA-256 of `data` as raw bytes.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// Base64url without padding, as JOSE and PKCE use it.
pub fn base64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn hex_encode(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for byte in data {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The 32-byte key that encrypts secrets at rest (signing keys, TOTP secrets, the LDAP
/// bind password). Never printed: its `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    /// Parses 64 hex digits or the base64 of 32 bytes (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex_decode(text)
        } else {
            STANDARD.decode(text).ok().or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
        };
        let bytes = bytes.ok_or(CryptoError::BadMasterKey)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(MasterKey(array))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&random_bytes(32));
        MasterKey(bytes)
    }

    /// Reads the key from `path`, or creates it there (mode 0600) when the file is absent.
    /// An existing file that others may read is restricted to 0600 first, with a warning.
    /// Returns the key and whether it was created.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), CryptoError> {
        let file_error = |source| CryptoError::MasterKeyFile {
            path: path.display().to_string(),
            source,
        };
        restrict_private_file(path)?;
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(&text)?, false)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(PRIVATE_FILE_MODE);
                }
                let mut file = options.open(path).map_err(file_error)?;
                writeln!(file, "{}", hex_encode(&key.0)).map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Ok((key, true))
            }
            Err(error) => Err(file_error(error)),
        }
    }

    /// A key for one purpose, derived from the master key: HMAC-SHA256(master, label).
    pub fn derive_subkey(&self, label: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, label.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn aead_key(&self) -> LessSafeKey {
        // A 32-byte key is always accepted for AES-256-GCM.
        #[allow(clippy::expect_used)]
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32-byte AES key"))
    }

    /// AES-256-GCM with a random 96-bit nonce; output is `nonce || ciphertext || tag`.
    /// `context` is bound as associated data (say which column the value belongs to), so a
    /// ciphertext moved to another column does not decrypt.
    pub fn encrypt(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&nonce_bytes);
        let mut in_out = plaintext.to_vec();
        #[allow(clippy::expect_used)]
        self.aead_key()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut in_out)
            .expect("AES-GCM sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        out
    }

    pub fn decrypt(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| CryptoError::Decrypt)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .aead_key()
            .open_in_place(nonce, Aad::from(context), &mut in_out)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_binds_context() {
        let key = MasterKey::generate();
        let sealed = key.encrypt(b"secret", b"signing_keys");
        assert_ne!(&sealed[NONCE_LEN..], b"secret");
        assert_eq!(key.decrypt(&sealed, b"signing_keys").unwrap(), b"secret");
        assert!(key.decrypt(&sealed, b"totp").is_err());
        assert!(MasterKey::generate().decrypt(&sealed, b"signing_keys").is_err());
    }

    #[test]
    fn master_key_parses_hex_and_base64_and_rejects_short_keys() {
        let hex = "00".repeat(32);
        assert!(MasterKey::parse(&hex).is_ok());
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse("abcd").is_err());
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 16])).is_err());
    }

    #[test]
    fn master_key_file_is_created_private_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (first, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(created);
        let (second, created_again) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(!created_again);
        assert_eq!(first.0, second.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // Opened up by someone: restricted again when read.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let (third, _) = MasterKey::load_or_create_file(&path).unwrap();
            assert_eq!(first.0, third.0);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn hashes_and_comparisons() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"diff"));
        assert!(!constant_time_eq(b"same", b"longer"));
        assert_eq!(random_token(32).len(), 43);
    }
}
