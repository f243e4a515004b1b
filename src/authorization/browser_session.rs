//! Single sign-on sessions. The browser holds a random id in a cookie; the database holds
//! only its SHA-256, so a copy of the database cannot be replayed as a cookie.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::crypto::{random_token, sha256_hex};
use crate::storage::entities::browser_sessions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// Public id, the `sid` claim.
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub expires_at: i64,
}

/// How often `last_seen_at` is written at most, to keep reads from writing.
const LAST_SEEN_RESOLUTION: i64 = 60;

/// Starts a session; returns the cookie value (shown to the browser only) and the session.
pub async fn start_session(
    db: &impl ConnectionTrait,
    user_id: &str,
    amr: &[&str],
    now: i64,
    lifetime: i64,
) -> Result<(String, BrowserSession), sea_orm::DbErr> {
    let cookie_value = random_token(32);
    let session = BrowserSession {
        sid: random_token(16),
        user_id: user_id.to_string(),
        auth_time: now,
        amr: amr.iter().map(|m| m.to_string()).collect(),
        expires_at: now + lifetime,
    };
    browser_sessions::Entity::insert(browser_sessions::ActiveModel {
        id_hash: Set(sha256_hex(cookie_value.as_bytes())),
        sid: Set(session.sid.clone()),
        user_id: Set(session.user_id.clone()),
        auth_time: Set(now),
        amr: Set(session.amr.join(" ")),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(session.expires_at),
        ended_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok((cookie_value, session))
}

/// The live session behind a cookie value, if any.
pub async fn find_session(
    db: &impl ConnectionTrait,
    cookie_value: &str,
    now: i64,
) -> Result<Option<BrowserSession>, sea_orm::DbErr> {
    let Some(model) = browser_sessions::Entity::find_by_id(sha256_hex(cookie_value.as_bytes()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if model.ended_at.is_some() || model.expires_at <= now {
        return Ok(None);
    }
    if now - model.last_seen_at >= LAST_SEEN_RESOLUTION {
        browser_sessions::Entity::update_many()
            .col_expr(browser_sessions::Column::LastSeenAt, now.into())
            .filter(browser_sessions::Column::IdHash.eq(model.id_hash.clone()))
            .exec(db)
            .await?;
    }
    Ok(Some(BrowserSession {
        sid: model.sid,
        user_id: model.user_id,
        auth_time: model.auth_time,
        amr: model
            .amr
            .split(' ')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
        expires_at: model.expires_at,
    }))
}

/// Ends the session with this `sid` (sign-out).
pub async fn end_session(db: &impl ConnectionTrait, sid: &str, now: i64) -> Result<(), sea_orm::DbErr> {
    browser_sessions::Entity::update_many()
        .col_expr(browser_sessions::Column::EndedAt, Some(now).into())
        .filter(browser_sessions::Column::Sid.eq(sid))
        .filter(browser_sessions::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
