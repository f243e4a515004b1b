//! The signing key ring: RSA keys generated here, stored encrypted under the master key in
//! `signing_keys`, held in memory as parsed signers and verifiers, and published as a JWKS.
//!
//! Key life cycle (DESIGN.md, Keys): `next` (published, not signing yet) -> `current`
//! (signs) -> `retired` (published until every token it signed has expired) -> deleted;
//! `revoked` takes a key out of the ring at once. [`KeyRing::load_or_create`] creates the
//! first `current` key; [`key_rotation`] runs the schedule (the transitions, on top of
//! [`store_signing_key`] and [`KeyRing::reload`]).
//!
//! Performance: signing is the token endpoint's whole cost, so [`JwtSigner`] keeps an
//! aws-lc-rs `RsaKeyPair` parsed once; verification keys are built once per key; the JWKS
//! document is serialized once per reload.

mod jwks;
mod jwt_signer;
mod key_ring;
pub mod key_rotation;
mod key_store;
mod rsa_key_generation;

pub use jwks::{jwk_thumbprint, RsaPublicJwk};
pub use jwt_signer::JwtSigner;
pub use key_ring::KeyRing;
pub use key_rotation::{
    list_signing_keys, revoke_signing_key, rotate_signing_keys_if_due, rotate_signing_keys_now, RevokeOutcome,
    RotationOutcome, RotationPolicy, SigningKeySummary,
};
pub use key_store::{load_published_signing_keys, store_signing_key};
pub use rsa_key_generation::{generate_rsa_signing_key, GeneratedKey};

use std::fmt;

use sea_orm::DbErr;

/// The only JOSE algorithm this ring signs and verifies with.
pub const RS256: &str = "RS256";

/// Where a key is in its life cycle; stored as text in `signing_keys.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Published in the JWKS so relying parties cache it before it signs.
    Next,
    /// Signs new tokens.
    Current,
    /// No longer signs; published until the tokens it signed have expired.
    Retired,
    /// Withdrawn: neither published nor trusted.
    Revoked,
}

impl KeyStatus {
    pub const ALL: [KeyStatus; 4] = [
        KeyStatus::Next,
        KeyStatus::Current,
        KeyStatus::Retired,
        KeyStatus::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Next => "next",
            KeyStatus::Current => "current",
            KeyStatus::Retired => "retired",
            KeyStatus::Revoked => "revoked",
        }
    }

    /// The status stored as `text`, or `None` for an unknown value.
    pub fn parse(text: &str) -> Option<KeyStatus> {
        KeyStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether keys in this status appear in the JWKS and verify tokens.
    pub fn is_published(self) -> bool {
        !matches!(self, KeyStatus::Revoked)
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of the ring as the CLI (`keys list`) and the admin page show it. Never carries
/// private material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub algorithm: String,
    pub status: KeyStatus,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// Whether this is the key the ring signs with right now.
    pub signing: bool,
}

/// Why a token was rejected. Every variant means `invalid_token` to a caller; the detail is
/// for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is not a well-formed JWS: {0}")]
    Malformed(String),
    #[error("the token names no key or a key that is not in the ring")]
    UnknownKey,
    #[error("the token's algorithm is not the key's")]
    WrongAlgorithm,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not the expected one")]
    WrongIssuer,
    #[error("the token's audience is not the expected one")]
    WrongAudience,
    #[error("the token's type header is not the expected one")]
    WrongType,
    #[error("the token lacks the required claim `{0}`")]
    MissingClaim(String),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key storage failed: {0}")]
    Database(#[from] DbErr),
    #[error("a signing key could not be decrypted with this master key")]
    Decrypt,
    #[error("invalid signing key: {0}")]
    InvalidKey(String),
    #[error("signing key generation failed: {0}")]
    Generation(String),
    #[error("the database holds no current signing key")]
    NoCurrentKey,
    #[error("there is no signing key {0}")]
    UnknownKid(String),
    #[error("another instance changed the signing keys at the same moment; try again")]
    RotationConflict,
    #[error("signing a token failed")]
    Signing,
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenRejection),
}

#[cfg(test)]
pub(crate) mod test_keys;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_status_round_trips_through_its_database_text() {
        for status in KeyStatus::ALL {
            assert_eq!(KeyStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(KeyStatus::parse("Current"), None);
        assert_eq!(KeyStatus::parse(""), None);
        assert!(KeyStatus::Next.is_published());
        assert!(KeyStatus::Retired.is_published());
        assert!(!KeyStatus::Revoked.is_published());
    }
}
