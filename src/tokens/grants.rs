//! A grant is one issuance: the tokens a code redemption produced, and when refresh tokens
//! were issued, every token of that refresh family. Access tokens carry the grant id
//! (`gid`), so revoking the grant stops them at once.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::crypto::random_token;
use crate::storage::entities::grants;

#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    pub client_id: &'a str,
    pub user_id: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub scope: &'a str,
    pub expires_at: i64,
}

/// Records a grant and returns its id.
pub async fn create_grant(db: &impl ConnectionTrait, grant: NewGrant<'_>, now: i64) -> Result<String, sea_orm::DbErr> {
    let id = random_token(16);
    grants::Entity::insert(grants::ActiveModel {
        id: Set(id.clone()),
        client_id: Set(grant.client_id.to_string()),
        user_id: Set(grant.user_id.map(str::to_string)),
        sid: Set(grant.sid.map(str::to_string)),
        scope: Set(grant.scope.to_string()),
        created_at: Set(now),
        expires_at: Set(grant.expires_at),
        revoked_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok(id)
}

pub async fn revoke_grant(db: &impl ConnectionTrait, id: &str, now: i64) -> Result<(), sea_orm::DbErr> {
    grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Some(now).into())
        .filter(grants::Column::Id.eq(id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// True while the grant exists and has not been revoked.
pub async fn is_grant_active(db: &impl ConnectionTrait, id: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(grants::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .is_some_and(|grant| grant.revoked_at.is_none()))
}

/// The grant with this id, revoked or not.
pub async fn find_grant(db: &impl ConnectionTrait, id: &str) -> Result<Option<grants::Model>, sea_orm::DbErr> {
    grants::Entity::find_by_id(id.to_string()).one(db).await
}
