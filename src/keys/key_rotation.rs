//! The signing key schedule, for each enabled algorithm on its own: `next` (published, not
//! signing) -> `current` (signing) -> `retired` (published until every token it signed has
//! expired) -> deleted, plus manual rotation and revocation.
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

use super::{generate_signing_key, store_signing_key, KeyError, KeyRing, KeyStatus, SigningAlgorithm};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::storage::entities::signing_keys;

/// The schedule, in seconds, and the algorithms it runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub rotation_period: i64,
    /// How long relying parties may cache the JWKS (its `max-age`).
    pub jwks_cache_seconds: i64,
    /// The longest any instance takes to reload the ring after a change in the database.
    pub reload_interval: i64,
    /// The longest lifetime of a token signed with these keys (ID or access token).
    pub longest_token_lifetime: i64,
    /// Size of the RSA keys generated (RS256 and PS256).
    pub rsa_bits: usize,
    /// The enabled algorithms (`keys.algorithms`): each has its own ring on this schedule.
    /// Keys of other algorithms are left as they are (their retired keys still go after
    /// their retention).
    pub algorithms: Vec<SigningAlgorithm>,
}

impl RotationPolicy {
    pub fn from_config(config: &Config) -> RotationPolicy {
        RotationPolicy {
            rotation_period: config.keys.rotation_period,
            jwks_cache_seconds: config.keys.jwks_cache_seconds,
            reload_interval: config.keys.reload_interval,
            longest_token_lifetime: config.lifetimes.id_token.max(config.lifetimes.access_token),
            rsa_bits: config.keys.rsa_bits,
            algorithms: config.keys.algorithms.clone(),
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

    /// The enabled algorithms, sorted, without duplicates, RS256 always included.
    pub fn enabled_algorithms(&self) -> Vec<SigningAlgorithm> {
        let mut enabled = self.algorithms.clone();
        enabled.push(SigningAlgorithm::Rs256);
        enabled.sort_unstable();
        enabled.dedup();
        enabled
    }

    fn enables(&self, algorithm: SigningAlgorithm) -> bool {
        algorithm == SigningAlgorithm::Rs256 || self.algorithms.contains(&algorithm)
    }
}

/// What one step of the schedule did. Empty when nothing was due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationOutcome {
    /// Retired keys (of any algorithm) deleted after their retention.
    pub removed: Vec<String>,
    /// What happened to each enabled algorithm's keys, in algorithm order.
    pub algorithms: Vec<AlgorithmRotation>,
}

/// What one step of the schedule did to one algorithm's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmRotation {
    pub algorithm: SigningAlgorithm,
    /// Surplus `next` keys deleted (left by two instances generating at once).
    pub discarded_next: Vec<String>,
    /// The `next` key that became `current`.
    pub promoted: Option<String>,
    /// The keys that stopped signing.
    pub retired: Vec<String>,
    /// The new `next` key.
    pub generated_next: Option<String>,
}

impl AlgorithmRotation {
    fn new(algorithm: SigningAlgorithm) -> AlgorithmRotation {
        AlgorithmRotation {
            algorithm,
            discarded_next: Vec::new(),
            promoted: None,
            retired: Vec::new(),
            generated_next: None,
        }
    }

    pub fn changed(&self) -> bool {
        *self != AlgorithmRotation::new(self.algorithm)
    }
}

impl RotationOutcome {
    pub fn changed(&self) -> bool {
        !self.removed.is_empty() || self.algorithms.iter().any(AlgorithmRotation::changed)
    }

    /// What happened to `algorithm`'s keys (nothing, when it was not part of the step).
    pub fn of(&self, algorithm: SigningAlgorithm) -> AlgorithmRotation {
        self.algorithms
            .iter()
            .find(|step| step.algorithm == algorithm)
            .cloned()
            .unwrap_or_else(|| AlgorithmRotation::new(algorithm))
    }

    /// Every key that became `current`, in algorithm order.
    pub fn promoted(&self) -> Vec<String> {
        self.algorithms
            .iter()
            .filter_map(|step| step.promoted.clone())
            .collect()
    }

    /// Every key that stopped signing.
    pub fn retired(&self) -> Vec<String> {
        self.algorithms
            .iter()
            .flat_map(|step| step.retired.iter().cloned())
            .collect()
    }

    /// Every new `next` key.
    pub fn generated_next(&self) -> Vec<String> {
        self.algorithms
            .iter()
            .filter_map(|step| step.generated_next.clone())
            .collect()
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

/// Every stored key, by algorithm (RS256, PS256, ES256), newest first within each.
pub async fn list_signing_keys(conn: &impl ConnectionTrait) -> Result<Vec<SigningKeySummary>, KeyError> {
    let mut rows = signing_keys::Entity::find().all(conn).await?;
    rows.sort_by_cached_key(|row| {
        (
            SigningAlgorithm::parse(&row.algorithm),
            std::cmp::Reverse(row.created_at),
            row.kid.clone(),
        )
    });
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

/// One step of the schedule at `now`: deletes retired keys past their retention, then for
/// each enabled algorithm keeps a single `next` key (generating one on the blocking pool
/// when there is none), and, when that algorithm's signing key is older than the rotation
/// period (or it has none) and its `next` key has been published for
/// [`RotationPolicy::publication_lead`], promotes it. Reloads `ring` when anything changed,
/// so this instance serves the new ring at once; the others follow at their next reload.
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
            tracing::info!(kid = %row.kid, algorithm = %row.algorithm, "removed a retired signing key after its retention");
            outcome.removed.push(row.kid.clone());
        }
    }

    let mut result = Ok(());
    for algorithm in policy.enabled_algorithms() {
        let of_algorithm: Vec<&signing_keys::Model> =
            rows.iter().filter(|row| row.algorithm == algorithm.as_str()).collect();
        match rotate_algorithm_if_due(db, master_key, algorithm, &of_algorithm, now, policy).await {
            Ok(step) => outcome.algorithms.push(step),
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }

    if outcome.changed() {
        ring.reload(db, master_key).await?;
    }
    result.map(|()| outcome)
}

async fn rotate_algorithm_if_due(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    algorithm: SigningAlgorithm,
    rows: &[&signing_keys::Model],
    now: i64,
    policy: &RotationPolicy,
) -> Result<AlgorithmRotation, KeyError> {
    let mut step = AlgorithmRotation::new(algorithm);
    let mut next_keys: Vec<&signing_keys::Model> = rows
        .iter()
        .copied()
        .filter(|row| row.status == KeyStatus::Next.as_str())
        .collect();
    next_keys.sort_by_key(|row| (row.created_at, row.kid.as_str()));
    for surplus in next_keys.iter().skip(1) {
        if delete_if_status(db, &surplus.kid, KeyStatus::Next).await? {
            step.discarded_next.push(surplus.kid.clone());
        }
    }
    let next = next_keys.first().copied();

    // An algorithm without a signing key (it lost it to a revocation race) is due at once.
    let due = signing_row(rows)
        .is_none_or(|signing| signing.activated_at.unwrap_or(signing.created_at) + policy.rotation_period <= now);
    let mut have_next = next.is_some();
    if let Some(next) = next.filter(|next| due && next.created_at + policy.publication_lead() <= now) {
        if let Some(retired) = promote(db, algorithm, &next.kid, now).await? {
            tracing::info!(kid = %next.kid, %algorithm, retired = ?retired, "rotated the signing key on schedule");
            step.promoted = Some(next.kid.clone());
            step.retired = retired;
            have_next = false;
        }
    }
    if !have_next {
        step.generated_next = add_next_key_if_absent(db, master_key, algorithm, now, policy).await?;
    }
    Ok(step)
}

/// Rotates every enabled algorithm now, whatever the schedule says: each `next` key
/// (generated first when there is none) signs from now on, each signing key is retired,
/// and new `next` keys are generated. A relying party that cached the JWKS before the
/// `next` keys were published may refuse tokens until its cache expires; scheduled rotation
/// avoids that, this is for when the administrator decides otherwise.
pub async fn rotate_signing_keys_now(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    ring: &KeyRing,
    now: i64,
    policy: &RotationPolicy,
) -> Result<RotationOutcome, KeyError> {
    let mut outcome = RotationOutcome::default();
    let mut result = Ok(());
    for algorithm in policy.enabled_algorithms() {
        match rotate_algorithm_now(db, master_key, algorithm, now, policy).await {
            Ok(step) => outcome.algorithms.push(step),
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    // Whatever rotated before a failure is served at once.
    ring.reload(db, master_key).await?;
    result.map(|()| outcome)
}

async fn rotate_algorithm_now(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    algorithm: SigningAlgorithm,
    now: i64,
    policy: &RotationPolicy,
) -> Result<AlgorithmRotation, KeyError> {
    let mut step = AlgorithmRotation::new(algorithm);
    let next_kid = match oldest_next(db, algorithm).await? {
        Some(kid) => kid,
        None => {
            let kid = add_next_key_if_absent(db, master_key, algorithm, now, policy).await?;
            match kid {
                Some(kid) => kid,
                // Another instance added one in the meantime: use that.
                None => oldest_next(db, algorithm).await?.ok_or(KeyError::RotationConflict)?,
            }
        }
    };
    let retired = promote(db, algorithm, &next_kid, now)
        .await?
        .ok_or(KeyError::RotationConflict)?;
    tracing::info!(kid = %next_kid, %algorithm, retired = ?retired, "rotated the signing key by hand");
    step.promoted = Some(next_kid);
    step.retired = retired;
    step.generated_next = add_next_key_if_absent(db, master_key, algorithm, now, policy).await?;
    Ok(step)
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// The algorithm of the revoked key.
    pub algorithm: SigningAlgorithm,
    /// The status the key had (`Revoked` when it already was).
    pub previous_status: KeyStatus,
    /// The key that signs now for that algorithm, when the revoked key was signing.
    pub promoted: Option<String>,
    /// The algorithm's new `next` key, when one was generated.
    pub generated_next: Option<String>,
}

/// Revokes `kid` (a compromised key), whatever its algorithm: it leaves the JWKS and tokens
/// it signed stop verifying as soon as each instance reloads (this one at once). Revoking
/// the signing key of an enabled algorithm promotes that algorithm's `next` key immediately
/// (generating one first if needed). Revoking an already revoked key changes nothing; a key
/// of an algorithm that is not enabled is only revoked.
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
    let algorithm = SigningAlgorithm::parse(&row.algorithm)
        .ok_or_else(|| KeyError::InvalidKey(format!("key {kid} has algorithm {:?}", row.algorithm)))?;
    let enabled = policy.enables(algorithm);
    let mut outcome = RevokeOutcome {
        algorithm,
        previous_status: status,
        promoted: None,
        generated_next: None,
    };
    match status {
        KeyStatus::Revoked => return Ok(outcome),
        KeyStatus::Current if enabled => {
            // The replacement must exist before the signing key goes, or the ring would be
            // left without a key to sign with.
            if oldest_next(db, algorithm).await?.is_none() {
                add_next_key_if_absent(db, master_key, algorithm, now, policy).await?;
            }
            let next_kid = oldest_next(db, algorithm).await?.ok_or(KeyError::RotationConflict)?;
            let txn = db.begin().await?;
            if !set_revoked(&txn, kid, KeyStatus::Current, now).await? {
                return Err(KeyError::RotationConflict);
            }
            // Another `current` key of the algorithm may remain (two instances that created
            // one on first start); the `next` key takes over only when none does.
            let others = signing_keys::Entity::find()
                .filter(signing_keys::Column::Status.eq(KeyStatus::Current.as_str()))
                .filter(signing_keys::Column::Algorithm.eq(algorithm.as_str()))
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
        KeyStatus::Current | KeyStatus::Next | KeyStatus::Retired => {
            if !set_revoked(db, kid, status, now).await? {
                return Err(KeyError::RotationConflict);
            }
        }
    }
    tracing::warn!(kid, %algorithm, previous = %status, promoted = ?outcome.promoted, "revoked a signing key");
    if enabled && oldest_next(db, algorithm).await?.is_none() {
        outcome.generated_next = add_next_key_if_absent(db, master_key, algorithm, now, policy).await?;
    }
    ring.reload(db, master_key).await?;
    Ok(outcome)
}

/// The key the ring signs with among one algorithm's `rows`: the `current` key activated
/// first (as the ring chooses).
fn signing_row<'a>(rows: &[&'a signing_keys::Model]) -> Option<&'a signing_keys::Model> {
    rows.iter()
        .copied()
        .filter(|row| row.status == KeyStatus::Current.as_str())
        .min_by_key(|row| (row.activated_at.unwrap_or(row.created_at), row.kid.as_str()))
}

async fn oldest_next(conn: &impl ConnectionTrait, algorithm: SigningAlgorithm) -> Result<Option<String>, KeyError> {
    let mut next_keys = signing_keys::Entity::find()
        .filter(signing_keys::Column::Status.eq(KeyStatus::Next.as_str()))
        .filter(signing_keys::Column::Algorithm.eq(algorithm.as_str()))
        .all(conn)
        .await?;
    next_keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    Ok(next_keys.into_iter().next().map(|row| row.kid))
}

/// Generates a key for `algorithm` on the blocking pool and stores it as `next`, unless a
/// `next` key of that algorithm exists by the time it is ready. Returns the new kid.
async fn add_next_key_if_absent(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    algorithm: SigningAlgorithm,
    now: i64,
    policy: &RotationPolicy,
) -> Result<Option<String>, KeyError> {
    let key = generate_signing_key(algorithm, policy.rsa_bits).await?;
    if oldest_next(db, algorithm).await?.is_some() {
        return Ok(None);
    }
    store_signing_key(db, &key, KeyStatus::Next, master_key, now).await?;
    tracing::info!(kid = %key.kid, %algorithm, "generated the next signing key (published, not signing yet)");
    Ok(Some(key.kid.clone()))
}

/// In one transaction: `next_kid` becomes `current` if it still is `next`, and every other
/// `current` key of `algorithm` becomes `retired`. `None` when another instance promoted it
/// first.
async fn promote(
    db: &DatabaseConnection,
    algorithm: SigningAlgorithm,
    next_kid: &str,
    now: i64,
) -> Result<Option<Vec<String>>, KeyError> {
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
        .filter(signing_keys::Column::Algorithm.eq(algorithm.as_str()))
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
        .filter(signing_keys::Column::Algorithm.eq(algorithm.as_str()))
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
