//! The signing key schedule: `next` (published, not signing) -> `current` (signing) ->
//! `retired` (published until every token it signed has expired) -> deleted, plus manual
//! rotation and revocation.
//!
//! Several instances may share one database and run the schedule at the same time. Every
//! transition is a conditional `UPDATE ... WHERE kid = ? AND status = ?` (or `DELETE`), and
//! only the instance whose statement changed a row goes on: the database decides, and a
//! racing instance's attempt is a no-op. Only a new `next` key can, rarely, be inserted by
//! two instances at once; the next step of the schedule (by any instance) keeps the oldest
//! and deletes the others, which is safe because a `next` key has signed nothing.
//!
//! Every function here takes `now` explicitly and never reads a clock.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde::Serialize;

use super::{generate_rsa_signing_key, store_signing_key, KeyError, KeyRing, KeyStatus};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::storage::entities::signing_keys;

/// The schedule, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub rotation_period: i64,
    /// How long relying parties may cache the JWKS (its `max-age`).
    pub jwks_cache_seconds: i64,
    /// The longest any instance takes to reload the ring after a change in the database.
    pub reload_interval: i64,
    /// The longest lifetime of a token signed with these keys (ID or access token).
    pub longest_token_lifetime: i64,
    /// Size of the RSA keys generated.
    pub rsa_bits: usize,
}

impl RotationPolicy {
    pub fn from_config(config: &Config) -> RotationPolicy {
        RotationPolicy {
            rotation_period: config.keys.rotation_period,
            jwks_cache_seconds: config.keys.jwks_cache_seconds,
            reload_interval: config.keys.reload_interval,
            longest_token_lifetime: config.lifetimes.id_token.max(config.lifetimes.access_token),
            rsa_bits: config.keys.rsa_bits,
        }
    }

    /// How long a `next` key is published before it may sign: one JWKS cache lifetime
    /// after every instance has had the time to reload and publish it.
    pub fn publication_lead(&self) -> i64 {
        self.jwks_cache_seconds + self.reload_interval
    }

    /// How long a `retired` key stays published: a token signed by an instance that had
    /// not reloaded yet (reload interval) lives its full lifetime, and a relying party may
    /// need the key until then plus one cache lifetime.
    pub fn retention(&self) -> i64 {
        self.longest_token_lifetime + self.jwks_cache_seconds + self.reload_interval
    }
}

/// What one step of the schedule did. Empty when nothing was due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationOutcome {
    /// Retired keys deleted after their retention.
    pub removed: Vec<String>,
    /// Surplus `next` keys deleted (left by two instances generating at once).
    pub discarded_next: Vec<String>,
    /// The `next` key that became `current`.
    pub promoted: Option<String>,
    /// The keys that stopped signing.
    pub retired: Vec<String>,
    /// The new `next` key.
    pub generated_next: Option<String>,
}

impl RotationOutcome {
    pub fn changed(&self) -> bool {
        *self != RotationOutcome::default()
    }
}

/// A key as `keys list` and the admin API show it, revoked keys included. No private
/// material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKeySummary {
    pub kid: String,
    pub algorithm: String,
    pub status: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Every stored key, newest first.
pub async fn list_signing_keys(conn: &impl ConnectionTrait) -> Result<Vec<SigningKeySummary>, KeyError> {
    let mut rows = signing_keys::Entity::find().all(conn).await?;
    rows.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
    Ok(rows
        .into_iter()
        .map(|row| SigningKeySummary {
            kid: row.kid,
            algorithm: row.algorithm,
            status: row.status,
            created_at: row.created_at,
            activated_at: row.activated_at,
            retired_at: row.retired_at,
            revoked_at: row.revoked_at,
        })
        .collect())
}

/// One step of the schedule at `now`: deletes retired keys past their retention, keeps a
/// single `next` key (generating one on the blocking pool when there is none), and, when
/// the signing key is older than the rotation period and the `next` key has been published
/// for [`RotationPolicy::publication_lead`], promotes it. Reloads `ring` when anything
/// changed, so this instance serves the new ring at once; the others follow at their next
/// reload.
pub async fn rotate_signing_keys_if_due(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    ring: &KeyRing,
    now: i64,
    policy: &RotationPolicy,
) -> Result<RotationOutcome, KeyError> {
    let mut outcome = RotationOutcome::default();
    let rows = signing_keys::Entity::find().all(db).await?;

    for row in rows.iter().filter(|row| row.status == KeyStatus::Retired.as_str()) {
        if row.retired_at.unwrap_or(row.created_at) + policy.retention() <= now
            && delete_if_status(db, &row.kid, KeyStatus::Retired).await?
        {
            tracing::info!(kid = %row.kid, "removed a retired signing key after its retention");
            outcome.removed.push(row.kid.clone());
        }
    }

    let mut next_keys: Vec<&signing_keys::Model> = rows
        .iter()
        .filter(|row| row.status == KeyStatus::Next.as_str())
        .collect();
    next_keys.sort_by_key(|row| (row.created_at, row.kid.as_str()));
    for surplus in next_keys.iter().skip(1) {
        if delete_if_status(db, &surplus.kid, KeyStatus::Next).await? {
            outcome.discarded_next.push(surplus.kid.clone());
        }
    }
    let next = next_keys.first().copied();
    let signing = signing_row(&rows)?;

    let due = signing.activated_at.unwrap_or(signing.created_at) + policy.rotation_period <= now;
    let mut have_next = next.is_some();
    if let Some(next) = next.filter(|next| due && next.created_at + policy.publication_lead() <= now) {
        if let Some(retired) = promote(db, &next.kid, now).await? {
            tracing::info!(kid = %next.kid, retired = ?retired, "rotated the signing key on schedule");
            outcome.promoted = Some(next.kid.clone());
            outcome.retired = retired;
            have_next = false;
        }
    }
    if !have_next {
        outcome.generated_next = add_next_key_if_absent(db, master_key, now, policy).await?;
    }

    if outcome.changed() {
        ring.reload(db, master_key).await?;
    }
    Ok(outcome)
}

/// Rotates now, whatever the schedule says: the `next` key (generated first when there is
/// none) signs from now on, the signing key is retired, and a new `next` key is generated.
/// A relying party that cached the JWKS before the `next` key was published may refuse
/// tokens until its cache expires; scheduled rotation avoids that, this is for when the
/// administrator decides otherwise.
pub async fn rotate_signing_keys_now(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    ring: &KeyRing,
    now: i64,
    policy: &RotationPolicy,
) -> Result<RotationOutcome, KeyError> {
    let mut outcome = RotationOutcome::default();
    let next_kid = match oldest_next(db).await? {
        Some(kid) => kid,
        None => {
            let kid = add_next_key_if_absent(db, master_key, now, policy).await?;
            match kid {
                Some(kid) => kid,
                // Another instance added one in the meantime: use that.
                None => oldest_next(db).await?.ok_or(KeyError::RotationConflict)?,
            }
        }
    };
    let retired = promote(db, &next_kid, now).await?.ok_or(KeyError::RotationConflict)?;
    tracing::info!(kid = %next_kid, retired = ?retired, "rotated the signing key by hand");
    outcome.promoted = Some(next_kid);
    outcome.retired = retired;
    outcome.generated_next = add_next_key_if_absent(db, master_key, now, policy).await?;
    ring.reload(db, master_key).await?;
    Ok(outcome)
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// The status the key had (`Revoked` when it already was).
    pub previous_status: KeyStatus,
    /// The key that signs now, when the revoked key was signing.
    pub promoted: Option<String>,
    /// The new `next` key, when one was generated.
    pub generated_next: Option<String>,
}

/// Revokes `kid` (a compromised key): it leaves the JWKS and tokens it signed stop
/// verifying as soon as each instance reloads (this one at once). Revoking the signing key
/// promotes the `next` key immediately (generating one first if needed). Revoking an
/// already revoked key changes nothing.
pub async fn revoke_signing_key(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    ring: &KeyRing,
    kid: &str,
    now: i64,
    policy: &RotationPolicy,
) -> Result<RevokeOutcome, KeyError> {
    let row = signing_keys::Entity::find_by_id(kid.to_string())
        .one(db)
        .await?
        .ok_or_else(|| KeyError::UnknownKid(kid.to_string()))?;
    let status = KeyStatus::parse(&row.status)
        .ok_or_else(|| KeyError::InvalidKey(format!("key {kid} has status {:?}", row.status)))?;
    let mut outcome = RevokeOutcome {
        previous_status: status,
        promoted: None,
        generated_next: None,
    };
    match status {
        KeyStatus::Revoked => return Ok(outcome),
        KeyStatus::Current => {
            // The replacement must exist before the signing key goes, or the ring would be
            // left without a key to sign with.
            if oldest_next(db).await?.is_none() {
                add_next_key_if_absent(db, master_key, now, policy).await?;
            }
            let next_kid = oldest_next(db).await?.ok_or(KeyError::RotationConflict)?;
            let txn = db.begin().await?;
            if !set_revoked(&txn, kid, KeyStatus::Current, now).await? {
                return Err(KeyError::RotationConflict);
            }
            // Another `current` key may remain (two instances that created one on first
            // start); the `next` key takes over only when none does.
            let others = signing_keys::Entity::find()
                .filter(signing_keys::Column::Status.eq(KeyStatus::Current.as_str()))
                .all(&txn)
                .await?;
            if others.is_empty() {
                let promoted = signing_keys::Entity::update_many()
                    .col_expr(signing_keys::Column::Status, Expr::value(KeyStatus::Current.as_str()))
                    .col_expr(signing_keys::Column::ActivatedAt, Expr::value(now))
                    .filter(signing_keys::Column::Kid.eq(next_kid.as_str()))
                    .filter(signing_keys::Column::Status.eq(KeyStatus::Next.as_str()))
                    .exec(&txn)
                    .await?
                    .rows_affected;
                if promoted != 1 {
                    return Err(KeyError::RotationConflict);
                }
                outcome.promoted = Some(next_kid);
            }
            txn.commit().await?;
        }
        KeyStatus::Next | KeyStatus::Retired => {
            if !set_revoked(db, kid, status, now).await? {
                return Err(KeyError::RotationConflict);
            }
        }
    }
    tracing::warn!(kid, previous = %status, promoted = ?outcome.promoted, "revoked a signing key");
    if oldest_next(db).await?.is_none() {
        outcome.generated_next = add_next_key_if_absent(db, master_key, now, policy).await?;
    }
    ring.reload(db, master_key).await?;
    Ok(outcome)
}

/// The key the ring signs with: the `current` key activated first (as the ring chooses).
fn signing_row(rows: &[signing_keys::Model]) -> Result<&signing_keys::Model, KeyError> {
    rows.iter()
        .filter(|row| row.status == KeyStatus::Current.as_str())
        .min_by_key(|row| (row.activated_at.unwrap_or(row.created_at), row.kid.as_str()))
        .ok_or(KeyError::NoCurrentKey)
}

async fn oldest_next(conn: &impl ConnectionTrait) -> Result<Option<String>, KeyError> {
    let mut next_keys = signing_keys::Entity::find()
        .filter(signing_keys::Column::Status.eq(KeyStatus::Next.as_str()))
        .all(conn)
        .await?;
    next_keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    Ok(next_keys.into_iter().next().map(|row| row.kid))
}

/// Generates a key on the blocking pool and stores it as `next`, unless a `next` key
/// exists by the time it is ready. Returns the new kid.
async fn add_next_key_if_absent(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    now: i64,
    policy: &RotationPolicy,
) -> Result<Option<String>, KeyError> {
    let key = generate_rsa_signing_key(policy.rsa_bits).await?;
    if oldest_next(db).await?.is_some() {
        return Ok(None);
    }
    store_signing_key(db, &key, KeyStatus::Next, master_key, now).await?;
    tracing::info!(kid = %key.kid, "generated the next signing key (published, not signing yet)");
    Ok(Some(key.kid.clone()))
}

/// In one transaction: `next_kid` becomes `current` if it still is `next`, and every other
/// `current` key becomes `retired`. `None` when another instance promoted it first.
async fn promote(db: &DatabaseConnection, next_kid: &str, now: i64) -> Result<Option<Vec<String>>, KeyError> {
    let txn = db.begin().await?;
    let promoted = signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::Status, Expr::value(KeyStatus::Current.as_str()))
        .col_expr(signing_keys::Column::ActivatedAt, Expr::value(now))
        .filter(signing_keys::Column::Kid.eq(next_kid))
        .filter(signing_keys::Column::Status.eq(KeyStatus::Next.as_str()))
        .exec(&txn)
        .await?
        .rows_affected;
    if promoted != 1 {
        // Dropping the transaction rolls it back (it changed nothing anyway).
        return Ok(None);
    }
    let retiring: Vec<String> = signing_keys::Entity::find()
        .filter(signing_keys::Column::Status.eq(KeyStatus::Current.as_str()))
        .filter(signing_keys::Column::Kid.ne(next_kid))
        .all(&txn)
        .await?
        .into_iter()
        .map(|row| row.kid)
        .collect();
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::Status, Expr::value(KeyStatus::Retired.as_str()))
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(now))
        .filter(signing_keys::Column::Status.eq(KeyStatus::Current.as_str()))
        .filter(signing_keys::Column::Kid.ne(next_kid))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(retiring))
}

async fn delete_if_status(conn: &impl ConnectionTrait, kid: &str, status: KeyStatus) -> Result<bool, KeyError> {
    let deleted = signing_keys::Entity::delete_many()
        .filter(signing_keys::Column::Kid.eq(kid))
        .filter(signing_keys::Column::Status.eq(status.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(deleted == 1)
}

async fn set_revoked(conn: &impl ConnectionTrait, kid: &str, from: KeyStatus, now: i64) -> Result<bool, KeyError> {
    let updated = signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::Status, Expr::value(KeyStatus::Revoked.as_str()))
        .col_expr(signing_keys::Column::RevokedAt, Expr::value(now))
        .filter(signing_keys::Column::Kid.eq(kid))
        .filter(signing_keys::Column::Status.eq(from.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(updated == 1)
}

#[cfg(test)]
mod tests;
