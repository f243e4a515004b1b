//! The signing key ring: keys generated here (RSA for RS256 and PS256, P-256 for ES256),
//! stored encrypted under the master key in `signing_keys`, held in memory as parsed signers
//! and verifiers, and published as a JWKS.
//!
//! Every enabled algorithm (`keys.algorithms`) has a ring of its own, with the same life
//! cycle (DESIGN.md, Keys): `next` (published, not signing yet) -> `current` (signs) ->
//! `retired` (published until every token it signed has expired) -> deleted; `revoked`
//! takes a key out at once. [`KeyRing::load_or_create`] creates the first `current` key of
//! each algorithm; [`key_rotation`] runs the schedule for each (the transitions, on top of
//! [`store_signing_key`] and [`KeyRing::reload`]). Access tokens are always RS256; ID tokens
//! use the client's `id_token_signed_response_alg`.
//!
//! Keys of an algorithm that is no longer enabled stay published and keep verifying the
//! tokens they signed, but never sign again and are not rotated further (their retired
//! keys are still removed after their retention); revoke them to withdraw them.
//!
//! Performance: signing is the token endpoint's whole cost, so [`JwtSigner`] keeps an
//! aws-lc-rs key pair parsed once; verification keys are built once per key; the JWKS
//! document is serialized once per reload.

mod ec_key_generation;
mod jwks;
mod jwt_signer;
mod key_generation;
mod key_ring;
pub mod key_rotation;
mod key_store;
mod rsa_key_generation;

pub use jwks::{ec_jwk_thumbprint, jwk_thumbprint, PublicJwk, PublicKeyParams};
pub use jwt_signer::JwtSigner;
pub use key_generation::{generate_signing_key, GeneratedKey};
pub use key_ring::KeyRing;
pub use key_rotation::{
    list_signing_keys, revoke_signing_key, rotate_signing_keys_if_due, rotate_signing_keys_now, AlgorithmRotation,
    RevokeOutcome, RotationOutcome, RotationPolicy, SigningKeySummary,
};
pub use key_store::{load_published_signing_keys, store_signing_key};

pub use crate::config::SigningAlgorithm;

use std::fmt;

use sea_orm::DbErr;

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
    pub algorithm: SigningAlgorithm,
    pub status: KeyStatus,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// Whether this is the key the ring signs with right now for its algorithm.
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
    #[error("the database holds no current RS256 signing key")]
    NoCurrentKey,
    #[error("there is no signing key {0}")]
    UnknownKid(String),
    #[error("another instance changed the signing keys at the same moment; try again")]
    RotationConflict,
    #[error("signing a token failed")]
    Signing,
    #[error("the key ring has no {0} signing key")]
    AlgorithmUnavailable(SigningAlgorithm),
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
