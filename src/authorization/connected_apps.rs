//! The applications a person is connected to, and switching them off: an application is
//! connected while the person's consent for it is remembered or it holds a live grant for
//! them (a code redemption, or a refresh token family). Disconnecting forgets the consent
//! and revokes every grant, so its access and refresh tokens stop at once; the next
//! authorization asks for consent again.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::scopes::ScopeSet;
use crate::storage::entities::{consents, grants, refresh_tokens};

/// One connected application, as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApplication {
    pub client_id: String,
    /// What it may see: the approved scopes and those of its live grants.
    pub scope: ScopeSet,
    /// The earliest approval or live grant.
    pub since: i64,
    /// The last time it obtained tokens (a code redemption or a refresh).
    pub last_activity: Option<i64>,
    /// Whether the consent is remembered (first-party applications hold grants without one).
    pub consented: bool,
    pub live_grants: usize,
}

/// The person's connected applications, ordered by client id.
pub async fn list_connected_applications(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Vec<ConnectedApplication>, sea_orm::DbErr> {
    let mut apps: BTreeMap<String, ConnectedApplication> = BTreeMap::new();
    for consent in consents::Entity::find()
        .filter(consents::Column::UserId.eq(user_id))
        .all(db)
        .await?
    {
        let app = apps
            .entry(consent.client_id.clone())
            .or_insert_with(|| empty_application(&consent.client_id, consent.granted_at));
        app.consented = true;
        app.since = app.since.min(consent.granted_at);
        app.scope = app.scope.union(&ScopeSet::parse(&consent.scope));
    }
    for grant in live_grants(db, user_id, None, now).await? {
        let app = apps
            .entry(grant.client_id.clone())
            .or_insert_with(|| empty_application(&grant.client_id, grant.created_at));
        app.live_grants += 1;
        app.since = app.since.min(grant.created_at);
        app.scope = app.scope.union(&ScopeSet::parse(&grant.scope));
        app.last_activity = app.last_activity.max(Some(grant.created_at));
    }
    if !apps.is_empty() {
        // A refresh keeps its grant but stores a new token: that is activity too.
        for token in refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .all(db)
            .await?
        {
            if let Some(app) = apps.get_mut(&token.client_id) {
                app.last_activity = app.last_activity.max(Some(token.created_at));
            }
        }
    }
    Ok(apps.into_values().collect())
}

fn empty_application(client_id: &str, since: i64) -> ConnectedApplication {
    ConnectedApplication {
        client_id: client_id.to_string(),
        scope: ScopeSet::default(),
        since,
        last_activity: None,
        consented: false,
        live_grants: 0,
    }
}

async fn live_grants(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: Option<&str>,
    now: i64,
) -> Result<Vec<grants::Model>, sea_orm::DbErr> {
    let mut query = grants::Entity::find()
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::RevokedAt.is_null())
        .filter(grants::Column::ExpiresAt.gt(now));
    if let Some(client_id) = client_id {
        query = query.filter(grants::Column::ClientId.eq(client_id));
    }
    query.all(db).await
}

/// What disconnecting an application did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected {
    pub consent_forgotten: bool,
    pub grants_revoked: u64,
}

impl Disconnected {
    /// False when the application was not connected to this person at all.
    pub fn changed_anything(&self) -> bool {
        self.consent_forgotten || self.grants_revoked > 0
    }
}

/// Forgets the person's consent for the client and revokes every grant the client holds
/// for them (whatever its expiry: an access token never outlives a revoked grant).
pub async fn disconnect_application<C>(
    db: &C,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<Disconnected, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let forgotten = consents::Entity::delete_many()
        .filter(consents::Column::UserId.eq(user_id))
        .filter(consents::Column::ClientId.eq(client_id))
        .exec(&txn)
        .await?;
    let revoked = grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Expr::value(Some(now)))
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::ClientId.eq(client_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Disconnected {
        consent_forgotten: forgotten.rows_affected > 0,
        grants_revoked: revoked.rows_affected,
    })
}
