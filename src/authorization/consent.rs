//! Remembered consent, per person and client: the union of the scopes they approved.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::scopes::ScopeSet;
use crate::storage::entities::consents;

/// True when the person already approved every scope in `requested` for this client.
pub async fn has_consent(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    requested: &ScopeSet,
) -> Result<bool, sea_orm::DbErr> {
    let stored = consents::Entity::find_by_id((user_id.to_string(), client_id.to_string()))
        .one(db)
        .await?;
    Ok(stored.is_some_and(|row| requested.is_subset_of(&ScopeSet::parse(&row.scope))))
}

/// Remembers the approval of `approved` (added to what was approved before). Two
/// approvals at once (two tabs, two instances) both succeed.
pub async fn record_consent(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    approved: &ScopeSet,
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    let inserted = consents::Entity::insert(consents::ActiveModel {
        user_id: Set(user_id.to_string()),
        client_id: Set(client_id.to_string()),
        scope: Set(approved.to_string()),
        granted_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([consents::Column::UserId, consents::Column::ClientId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if inserted == 1 {
        return Ok(());
    }
    let key = (user_id.to_string(), client_id.to_string());
    let Some(existing) = consents::Entity::find_by_id(key).one(db).await? else {
        return Ok(());
    };
    let scope = ScopeSet::parse(&existing.scope).union(approved);
    consents::Entity::update(consents::ActiveModel {
        user_id: Set(user_id.to_string()),
        client_id: Set(client_id.to_string()),
        scope: Set(scope.to_string()),
        granted_at: Set(now),
    })
    .exec(db)
    .await?;
    Ok(())
}
