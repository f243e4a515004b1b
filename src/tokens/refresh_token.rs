//! Refresh tokens: opaque random strings, stored only as their SHA-256. Each belongs to a
//! family (its grant); using one exchanges it for a new one (rotation), and presenting a
//! used one again is reuse, which ends the family (RFC 9700 section 4.14.2).

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::crypto::{random_token, sha256_hex};
use crate::storage::entities::refresh_tokens;

/// A stored refresh token (without the token itself).
pub type RefreshTokenRecord = refresh_tokens::Model;

#[derive(Debug, Clone)]
pub struct NewRefreshToken<'a> {
    pub grant_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    /// The scope of the family, unchanged by narrowing (RFC 6749 section 6).
    pub scope: &'a str,
    pub sid: Option<&'a str>,
    pub auth_time: i64,
    /// Space-separated `amr` of the original sign-in.
    pub amr: &'a str,
    /// Idle expiry: see [`refresh_token_expiry`].
    pub expires_at: i64,
}

/// When a refresh token issued `now` expires: after `idle` seconds unused, and never after
/// the end of its family (`family_end`, the grant's absolute expiry).
pub fn refresh_token_expiry(now: i64, idle: i64, family_end: i64) -> i64 {
    now.saturating_add(idle).min(family_end)
}

/// Stores a new refresh token and returns it (to be handed to the client only).
pub async fn issue_refresh_token(
    db: &impl ConnectionTrait,
    new: NewRefreshToken<'_>,
    now: i64,
) -> Result<String, sea_orm::DbErr> {
    let token = random_token(32);
    refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
        token_hash: Set(sha256_hex(token.as_bytes())),
        grant_id: Set(new.grant_id.to_string()),
        client_id: Set(new.client_id.to_string()),
        user_id: Set(new.user_id.to_string()),
        scope: Set(new.scope.to_string()),
        sid: Set(new.sid.map(str::to_string)),
        auth_time: Set(new.auth_time),
        amr: Set(new.amr.to_string()),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

/// The stored record of a presented refresh token, used or not, expired or not.
pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<RefreshTokenRecord>, sea_orm::DbErr> {
    if token.is_empty() {
        return Ok(None);
    }
    refresh_tokens::Entity::find_by_id(sha256_hex(token.as_bytes()))
        .one(db)
        .await
}

/// Marks the token used. False when it already was: another exchange got there first, and
/// this presentation is reuse.
pub async fn mark_refresh_token_used(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: i64,
) -> Result<bool, sea_orm::DbErr> {
    let result = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Some(now).into())
        .filter(refresh_tokens::Column::TokenHash.eq(token_hash))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::refresh_token_expiry;

    #[test]
    fn a_refresh_token_never_outlives_its_family() {
        assert_eq!(refresh_token_expiry(1_000, 100, 5_000), 1_100);
        assert_eq!(refresh_token_expiry(1_000, 100, 1_050), 1_050);
        assert_eq!(refresh_token_expiry(i64::MAX - 1, 100, i64::MAX), i64::MAX);
    }
}
