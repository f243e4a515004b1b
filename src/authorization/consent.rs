//! Remembered consent, per person and client: the union of the scopes they approved.

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

pub async fn record_consent(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    approved: &ScopeSet,
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    let key = (user_id.to_string(), client_id.to_string());
    let existing = consents::Entity::find_by_id(key).one(db).await?;
    let scope = match &existing {
        Some(row) => ScopeSet::parse(&row.scope).union(approved),
        None => approved.clone(),
    };
    let model = consents::ActiveModel {
        user_id: Set(user_id.to_string()),
        client_id: Set(client_id.to_string()),
        scope: Set(scope.to_string()),
        granted_at: Set(now),
    };
    if existing.is_some() {
        consents::Entity::update(model).exec(db).await?;
    } else {
        consents::Entity::insert(model).exec(db).await?;
    }
    Ok(())
}
