//! Access tokens: JWTs per RFC 9068 (`typ: at+jwt`). Not stored one by one: a person's
//! token carries its grant id (`gid`), and the grant is what revocation switches off; a
//! single token is revoked by putting its `jti` on the deny list.

use serde::{Deserialize, Serialize};

use super::access_token_denylist::is_access_token_denied;
use super::grants::is_grant_active;
use super::TokenError;
use crate::keys::KeyRing;

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The person, or for a client_credentials token the client itself.
    pub sub: String,
    /// The client the token was issued to: Gatehouse's own endpoints (userinfo) are the
    /// only resource it is for, and they accept the client as audience.
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant (refresh token family) this token belongs to; none for client_credentials
    /// tokens, which act for the client alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

pub fn sign_access_token(keys: &KeyRing, claims: &AccessTokenClaims) -> Result<String, TokenError> {
    Ok(keys.signer().sign(ACCESS_TOKEN_TYPE, claims)?)
}

/// Verifies signature, type, issuer and expiry only: a token of ours that has not expired,
/// whether or not it has been revoked since.
pub fn read_access_token(keys: &KeyRing, token: &str, issuer: &str, now: i64) -> Result<AccessTokenClaims, TokenError> {
    Ok(keys.verify(token, Some(ACCESS_TOKEN_TYPE), issuer, None, now)?)
}

/// Verifies signature, type, issuer and expiry, then that the grant (if the token has one)
/// is still active and that the token itself is not on the deny list.
pub async fn validate_access_token(
    keys: &KeyRing,
    db: &impl sea_orm::ConnectionTrait,
    token: &str,
    issuer: &str,
    now: i64,
) -> Result<AccessTokenClaims, TokenError> {
    let claims = read_access_token(keys, token, issuer, now)?;
    if let Some(gid) = &claims.gid {
        if !is_grant_active(db, gid).await? {
            return Err(TokenError::Revoked);
        }
    }
    if is_access_token_denied(db, &claims.jti).await? {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}
