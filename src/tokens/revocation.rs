//! Token revocation (RFC 7009): a refresh token ends its whole family (its grant, and so
//! every access token issued from it); an access token goes on the deny list by `jti`
//! until it expires. Only tokens issued to the revoking client are revoked.

use sea_orm::ConnectionTrait;

use super::access_token::read_access_token;
use super::access_token_denylist::deny_access_token;
use super::grants::revoke_grant;
use super::introspection::{refresh_first, TokenTypeHint};
use super::refresh_token::find_refresh_token;
use crate::keys::KeyRing;

/// What a revocation request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// A refresh token: its family (grant) is revoked.
    RefreshFamily { grant_id: String, sub: String },
    /// An access token: its `jti` is on the deny list. `sub` is the person, or `None` for a
    /// client_credentials token.
    AccessToken { sub: Option<String> },
    /// Unknown, invalid, expired, or issued to another client: nothing to do, and the
    /// client is told the same as for a success (RFC 7009 section 2.2).
    Nothing,
}

impl Revocation {
    pub fn token_type(&self) -> Option<&'static str> {
        match self {
            Revocation::RefreshFamily { .. } => Some("refresh_token"),
            Revocation::AccessToken { .. } => Some("access_token"),
            Revocation::Nothing => None,
        }
    }
}

pub async fn revoke_token(
    db: &impl ConnectionTrait,
    keys: &KeyRing,
    issuer: &str,
    client_id: &str,
    token: &str,
    hint: Option<TokenTypeHint>,
    now: i64,
) -> Result<Revocation, sea_orm::DbErr> {
    if refresh_first(token, hint) {
        match revoke_refresh_token(db, client_id, token, now).await? {
            Revocation::Nothing => revoke_access_token(db, keys, issuer, client_id, token, now).await,
            done => Ok(done),
        }
    } else {
        match revoke_access_token(db, keys, issuer, client_id, token, now).await? {
            Revocation::Nothing => revoke_refresh_token(db, client_id, token, now).await,
            done => Ok(done),
        }
    }
}

async fn revoke_refresh_token(
    db: &impl ConnectionTrait,
    client_id: &str,
    token: &str,
    now: i64,
) -> Result<Revocation, sea_orm::DbErr> {
    // A used or expired token still names its family: revoking it ends the family too,
    // which is what the client asked for.
    match find_refresh_token(db, token).await? {
        Some(record) if record.client_id == client_id => {
            revoke_grant(db, &record.grant_id, now).await?;
            Ok(Revocation::RefreshFamily {
                grant_id: record.grant_id,
                sub: record.user_id,
            })
        }
        _ => Ok(Revocation::Nothing),
    }
}

async fn revoke_access_token(
    db: &impl ConnectionTrait,
    keys: &KeyRing,
    issuer: &str,
    client_id: &str,
    token: &str,
    now: i64,
) -> Result<Revocation, sea_orm::DbErr> {
    // An expired token (or one that is not ours) needs no revoking.
    let Ok(claims) = read_access_token(keys, token, issuer, now) else {
        return Ok(Revocation::Nothing);
    };
    if claims.client_id != client_id {
        return Ok(Revocation::Nothing);
    }
    deny_access_token(db, &claims.jti, claims.exp).await?;
    Ok(Revocation::AccessToken {
        sub: claims.gid.is_some().then_some(claims.sub),
    })
}
