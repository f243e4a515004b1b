//! What a presented token is right now (RFC 7662): an active access token, refresh token or
//! personal access token, or nothing at all. Which client may learn what is the caller's
//! business; this only says whether the token is currently valid.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::access_token::{validate_access_token, AccessTokenClaims};
use super::grants::find_grant;
use super::personal_access_token::{is_well_formed_pat, PersonalAccessToken, PAT_PREFIX};
use super::refresh_token::{find_refresh_token, RefreshTokenRecord};
use super::TokenError;
use crate::crypto::sha256_hex;
use crate::keys::KeyRing;
use crate::storage::entities::personal_access_tokens;

/// `token_type_hint` (RFC 7009 section 2.1, RFC 7662 section 2.1): where to look first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    /// The two hints of the registry that apply to Gatehouse's tokens; any other value is
    /// no hint at all (both kinds are tried).
    pub fn parse(text: &str) -> Option<TokenTypeHint> {
        match text {
            "access_token" => Some(TokenTypeHint::AccessToken),
            "refresh_token" => Some(TokenTypeHint::RefreshToken),
            _ => None,
        }
    }
}

/// True when the refresh token should be tried before the access token: a hint says so, or
/// (without one) the token does not look like a JWT.
pub(super) fn refresh_first(token: &str, hint: Option<TokenTypeHint>) -> bool {
    match hint {
        Some(TokenTypeHint::RefreshToken) => true,
        Some(TokenTypeHint::AccessToken) => false,
        None => token.split('.').count() != 3,
    }
}

/// A refresh token that may be exchanged now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRefreshToken {
    pub record: RefreshTokenRecord,
    /// The earlier of the token's idle expiry and its family's absolute end.
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStatus {
    /// Unknown, malformed, expired, revoked, used, or signed by a key we no longer publish.
    Inactive,
    Access(AccessTokenClaims),
    Refresh(ActiveRefreshToken),
    Personal(PersonalAccessToken),
}

pub async fn inspect_token(
    db: &impl ConnectionTrait,
    keys: &KeyRing,
    issuer: &str,
    token: &str,
    hint: Option<TokenTypeHint>,
    now: i64,
) -> Result<TokenStatus, sea_orm::DbErr> {
    if token.starts_with(PAT_PREFIX) {
        return Ok(find_active_personal_access_token(db, token, now)
            .await?
            .map_or(TokenStatus::Inactive, TokenStatus::Personal));
    }
    if refresh_first(token, hint) {
        if let Some(active) = find_active_refresh_token(db, token, now).await? {
            return Ok(TokenStatus::Refresh(active));
        }
        return active_access_token(db, keys, issuer, token, now).await;
    }
    match active_access_token(db, keys, issuer, token, now).await? {
        TokenStatus::Inactive => Ok(find_active_refresh_token(db, token, now)
            .await?
            .map_or(TokenStatus::Inactive, TokenStatus::Refresh)),
        active => Ok(active),
    }
}

async fn active_access_token(
    db: &impl ConnectionTrait,
    keys: &KeyRing,
    issuer: &str,
    token: &str,
    now: i64,
) -> Result<TokenStatus, sea_orm::DbErr> {
    match validate_access_token(keys, db, token, issuer, now).await {
        Ok(claims) => Ok(TokenStatus::Access(claims)),
        Err(TokenError::Database(error)) => Err(error),
        Err(_) => Ok(TokenStatus::Inactive),
    }
}

/// The refresh token when it is unused, within its idle expiry, and its family is neither
/// revoked nor past its absolute end.
pub async fn find_active_refresh_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: i64,
) -> Result<Option<ActiveRefreshToken>, sea_orm::DbErr> {
    let Some(record) = find_refresh_token(db, token).await? else {
        return Ok(None);
    };
    if record.used_at.is_some() || record.expires_at <= now {
        return Ok(None);
    }
    let Some(grant) = find_grant(db, &record.grant_id).await? else {
        return Ok(None);
    };
    if grant.revoked_at.is_some() || grant.expires_at <= now {
        return Ok(None);
    }
    Ok(Some(ActiveRefreshToken {
        exp: record.expires_at.min(grant.expires_at),
        record,
    }))
}

/// The personal access token when it is well formed, known, not revoked and not expired.
/// Its address allowlist is not applied: the caller is a resource server asking about the
/// token, not the token's holder using it, and the resource server does not know where the
/// holder's request came from. Nothing is written (no `last_used_at`).
pub async fn find_active_personal_access_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: i64,
) -> Result<Option<PersonalAccessToken>, sea_orm::DbErr> {
    if !is_well_formed_pat(token) {
        return Ok(None);
    }
    let model = personal_access_tokens::Entity::find()
        .filter(personal_access_tokens::Column::TokenHash.eq(sha256_hex(token.as_bytes())))
        .one(db)
        .await?;
    Ok(model
        .map(PersonalAccessToken::from_model)
        .filter(|pat| pat.is_active(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_choose_the_order_and_unknown_hints_are_ignored() {
        assert_eq!(TokenTypeHint::parse("access_token"), Some(TokenTypeHint::AccessToken));
        assert_eq!(TokenTypeHint::parse("refresh_token"), Some(TokenTypeHint::RefreshToken));
        assert_eq!(TokenTypeHint::parse("id_token"), None);
        assert!(refresh_first("a.b.c", Some(TokenTypeHint::RefreshToken)));
        assert!(!refresh_first("opaque", Some(TokenTypeHint::AccessToken)));
        assert!(!refresh_first("a.b.c", None));
        assert!(refresh_first("opaque", None));
    }
}
