//! Authorization requests waiting while the person signs in or decides on consent.

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::authorize_request::AuthorizationRequest;
use crate::crypto::random_token;
use crate::storage::entities::pending_authorizations;

#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub id: String,
    pub request: AuthorizationRequest,
    pub created_at: i64,
}

pub async fn save_pending_authorization(
    db: &impl ConnectionTrait,
    request: &AuthorizationRequest,
    now: i64,
    lifetime: i64,
) -> Result<PendingAuthorization, sea_orm::DbErr> {
    let id = random_token(24);
    let json = serde_json::to_string(request).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    pending_authorizations::Entity::insert(pending_authorizations::ActiveModel {
        id: Set(id.clone()),
        client_id: Set(request.client_id.clone()),
        request: Set(json),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
    })
    .exec(db)
    .await?;
    Ok(PendingAuthorization {
        id,
        request: request.clone(),
        created_at: now,
    })
}

/// The pending request, unless it expired or never existed.
pub async fn find_pending_authorization(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<Option<PendingAuthorization>, sea_orm::DbErr> {
    let Some(model) = pending_authorizations::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if model.expires_at <= now {
        pending_authorizations::Entity::delete_by_id(model.id).exec(db).await?;
        return Ok(None);
    }
    let Ok(request) = serde_json::from_str(&model.request) else {
        return Ok(None);
    };
    Ok(Some(PendingAuthorization {
        id: model.id,
        request,
        created_at: model.created_at,
    }))
}

pub async fn delete_pending_authorization(db: &impl ConnectionTrait, id: &str) -> Result<(), sea_orm::DbErr> {
    pending_authorizations::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?;
    Ok(())
}
