//! ID tokens (OpenID Connect Core section 2).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::TokenError;
use crate::keys::{KeyRing, SigningAlgorithm};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    pub amr: Vec<String>,
    /// The authentication context class: password only, or with a second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    pub sid: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `typ` header of ID tokens; access tokens carry `at+jwt` instead (RFC 9068 section 4).
pub const ID_TOKEN_TYPE: &str = "JWT";

/// Signs with the ring's current key for `algorithm` (the client's
/// `id_token_signed_response_alg`).
pub fn sign_id_token(
    keys: &KeyRing,
    algorithm: SigningAlgorithm,
    claims: &IdTokenClaims,
) -> Result<String, TokenError> {
    Ok(keys.signer_for(algorithm)?.sign(ID_TOKEN_TYPE, claims)?)
}

/// Claims of an ID token this issuer signed, whether or not it has expired: what
/// `id_token_hint` needs (OpenID Connect Core 3.1.2.1 and RP-Initiated Logout 1.0).
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: AudienceClaim,
    #[serde(default)]
    pub sid: Option<String>,
}

/// `aud` may be one string or an array.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AudienceClaim {
    One(String),
    Many(Vec<String>),
}

impl AudienceClaim {
    pub fn first(&self) -> Option<&str> {
        match self {
            AudienceClaim::One(aud) => Some(aud),
            AudienceClaim::Many(list) => list.first().map(String::as_str),
        }
    }
}

pub fn read_id_token_hint(keys: &KeyRing, token: &str, issuer: &str) -> Result<IdTokenHint, TokenError> {
    // An expired ID token is a valid hint: only the signature and issuer matter here, so
    // the expiry is checked against the start of the epoch. The type must be an ID
    // token's: an access token is signed by the same key and names the same person, but
    // whoever holds one (a resource server) must not be able to pass it off as a hint.
    Ok(keys.verify::<IdTokenHint>(token, Some(ID_TOKEN_TYPE), issuer, None, 0)?)
}
