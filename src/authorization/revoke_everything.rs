//! Ending everything a person holds, in one transaction: their browser sessions, every
//! grant (so access and refresh tokens stop at once), their personal access tokens, and
//! whatever could still turn into access later: unredeemed authorization codes, second-
//! factor challenges, second-factor setup links and pending authorization requests.
//! Consents stay: signing in again does not ask for them anew.
//!
//! Two callers: an administrator's "end all sessions and tokens", and the directory
//! refusing the person (see `people::refuse_person`).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::browser_session::end_sessions_of_user;
use crate::audit::{AuditEvent, AuditLog};
use crate::storage::entities::{
    authorization_codes, grants, pending_authorizations, personal_access_tokens, second_factor_challenges,
    second_factor_setup_links,
};

/// What revoking everything of a person switched off.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RevokedEverything {
    /// The `sid`s of the browser sessions ended.
    pub sessions: Vec<String>,
    /// Grants revoked: their access tokens and refresh token families stop.
    pub grants: u64,
    pub personal_access_tokens: u64,
    /// Authorization codes issued but not redeemed yet, removed.
    pub authorization_codes: u64,
    /// Half-finished sign-ins (second factor owed), a second-factor setup link and pending
    /// authorization requests for the person, removed.
    pub pending_sign_ins: u64,
}

/// Revokes everything of `user_id` through `conn`, which the caller runs inside a
/// transaction.
pub async fn revoke_everything_in(
    conn: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<RevokedEverything, sea_orm::DbErr> {
    let sessions = end_sessions_of_user(conn, user_id, None, now).await?;
    let grants = grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Expr::value(Some(now)))
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    let personal_access_tokens = personal_access_tokens::Entity::update_many()
        .col_expr(personal_access_tokens::Column::RevokedAt, Expr::value(Some(now)))
        .filter(personal_access_tokens::Column::UserId.eq(user_id))
        .filter(personal_access_tokens::Column::RevokedAt.is_null())
        .filter(personal_access_tokens::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?
        .rows_affected;
    // Redeemed codes stay until housekeeping: a replay of one must still be recognised.
    let authorization_codes = authorization_codes::Entity::delete_many()
        .filter(authorization_codes::Column::UserId.eq(user_id))
        .filter(authorization_codes::Column::RedeemedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    let challenges = second_factor_challenges::Entity::delete_many()
        .filter(second_factor_challenges::Column::UserId.eq(user_id))
        .exec(conn)
        .await?
        .rows_affected;
    let setup_links = second_factor_setup_links::Entity::delete_many()
        .filter(second_factor_setup_links::Column::UserId.eq(user_id))
        .exec(conn)
        .await?
        .rows_affected;
    let pending = pending_authorizations::Entity::delete_many()
        .filter(pending_authorizations::Column::UserId.eq(user_id))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(RevokedEverything {
        sessions,
        grants,
        personal_access_tokens,
        authorization_codes,
        pending_sign_ins: challenges + setup_links + pending,
    })
}

/// Revokes everything of `user_id` in one transaction of its own.
pub async fn revoke_everything_of_user<C>(db: &C, user_id: &str, now: i64) -> Result<RevokedEverything, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let revoked = revoke_everything_in(&txn, user_id, now).await?;
    txn.commit().await?;
    Ok(revoked)
}

/// [`revoke_everything_of_user`] on an administrator's order (`by`), logged and audited as
/// `user.everything_revoked` with the counts.
pub async fn revoke_everything_by_administrator<C>(
    db: &C,
    audit: &AuditLog,
    user_id: &str,
    by: &str,
    now: i64,
) -> Result<RevokedEverything, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let revoked = revoke_everything_of_user(db, user_id, now).await?;
    let sessions = revoked.sessions.len() as u64;
    tracing::info!(
        sub = %user_id,
        by = %by,
        sessions,
        grants = revoked.grants,
        personal_access_tokens = revoked.personal_access_tokens,
        authorization_codes = revoked.authorization_codes,
        pending_sign_ins = revoked.pending_sign_ins,
        "an administrator revoked everything of a person"
    );
    audit.record(
        AuditEvent::EverythingRevoked {
            sub: user_id.to_string(),
            by: by.to_string(),
            sessions,
            grants: revoked.grants,
            personal_access_tokens: revoked.personal_access_tokens,
        },
        now,
    );
    Ok(revoked)
}
