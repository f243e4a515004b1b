//! A TOTP credential (the shared secret and the code parameters it was enrolled with),
//! sealed with the master key for the database.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};

use super::{MfaError, TotpAlgorithm, TotpSettings};
use crate::crypto::MasterKey;

/// The associated data of every sealed credential (active or pending).
pub const TOTP_SECRET_CONTEXT: &str = "totp_credentials.secret";

/// 160 bits, as RFC 4226 section 4 recommends.
const SECRET_BYTES: usize = 20;

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Credential {
    pub algorithm: TotpAlgorithm,
    pub digits: u32,
    pub period: u64,
    /// The raw secret, base64 inside the sealed JSON.
    key: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Credential {
    pub fn generate(settings: &TotpSettings) -> Self {
        Credential {
            algorithm: settings.algorithm,
            digits: settings.digits,
            period: settings.period,
            key: STANDARD.encode(crate::crypto::random_bytes(SECRET_BYTES)),
        }
    }

    fn key_bytes(&self) -> Result<Vec<u8>, MfaError> {
        STANDARD
            .decode(&self.key)
            .map_err(|e| MfaError::Corrupt(format!("secret encoding: {e}")))
    }

    /// The totp-rs view of it, with ±1 step of skew.
    pub fn totp(&self, issuer: Option<String>, account_name: String) -> Result<TOTP, MfaError> {
        let algorithm = match self.algorithm {
            TotpAlgorithm::Sha1 => Algorithm::SHA1,
            TotpAlgorithm::Sha256 => Algorithm::SHA256,
            TotpAlgorithm::Sha512 => Algorithm::SHA512,
        };
        let digits = usize::try_from(self.digits).map_err(|e| MfaError::Totp(e.to_string()))?;
        TOTP::new(
            algorithm,
            digits,
            1,
            self.period,
            self.key_bytes()?,
            issuer,
            account_name,
        )
        .map_err(|e| MfaError::Totp(e.to_string()))
    }

    pub fn seal(&self, master_key: &MasterKey) -> Result<Vec<u8>, MfaError> {
        let json = serde_json::to_vec(self).map_err(|e| MfaError::Corrupt(e.to_string()))?;
        Ok(master_key.encrypt(&json, TOTP_SECRET_CONTEXT.as_bytes()))
    }

    pub fn open(master_key: &MasterKey, sealed: &[u8]) -> Result<Self, MfaError> {
        let json = master_key.decrypt(sealed, TOTP_SECRET_CONTEXT.as_bytes())?;
        serde_json::from_slice(&json).map_err(|e| MfaError::Corrupt(e.to_string()))
    }
}
