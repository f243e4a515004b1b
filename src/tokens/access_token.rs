//! Access tokens: JWTs per RFC 9068 (`typ: at+jwt`). Not stored one by one: each carries
//! its grant id, and the grant is what revocation switches off.

use serde::{Deserialize, Serialize};

use super::grants::is_grant_active;
use super::TokenError;
use crate::keys::KeyRing;

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The client the token was issued to: Gatehouse's own endpoints (userinfo) are the
    /// only resource it is for, and they accept the client as audience.
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant this token belongs to.
    pub gid: String,
}

pub fn sign_access_token(keys: &KeyRing, claims: &AccessTokenClaims) -> Result<String, TokenError> {
    Ok(keys.signer().sign(ACCESS_TOKEN_TYPE, claims)?)
}

/// Verifies signature, type, issuer and expiry, then that the grant is still active.
pub async fn validate_access_token(
    keys: &KeyRing,
    db: &impl sea_orm::ConnectionTrait,
    token: &str,
    issuer: &str,
    now: i64,
) -> Result<AccessTokenClaims, TokenError> {
    let claims: AccessTokenClaims = keys.verify(token, Some(ACCESS_TOKEN_TYPE), issuer, None, now)?;
    if !is_grant_active(db, &claims.gid).await? {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}
