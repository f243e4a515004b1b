//! Access tokens revoked one by one (RFC 7009): their `jti` stays on a deny list until the
//! token would have expired anyway, then the row can go.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::storage::entities::revoked_access_tokens;

/// Puts `jti` on the deny list until `expires_at` (the token's own `exp`). Revoking a token
/// twice is not an error.
pub async fn deny_access_token(db: &impl ConnectionTrait, jti: &str, expires_at: i64) -> Result<(), sea_orm::DbErr> {
    revoked_access_tokens::Entity::insert(revoked_access_tokens::ActiveModel {
        jti: Set(jti.to_string()),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::column(revoked_access_tokens::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// True when the token with this `jti` has been revoked.
pub async fn is_access_token_denied(db: &impl ConnectionTrait, jti: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(revoked_access_tokens::Entity::find_by_id(jti.to_string())
        .one(db)
        .await?
        .is_some())
}
