//! Attempt limits for second-factor codes, kept in `totp_credentials` so every instance
//! sees them. An attempt is counted before its code is checked (an atomic increment that
//! only succeeds while the person is neither waiting nor locked out), so parallel guesses
//! cannot get past the limit; an accepted code clears the count.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{MfaError, MfaLimits};
use crate::audit::{AuditEvent, AuditLog};
use crate::storage::entities::totp_credentials;

/// Seconds the next attempt waits after `failures` wrong codes in a row (below the limit):
/// 1, 2, 4, 8... never more than the lockout.
pub(super) fn delay_after(failures: i32, limits: &MfaLimits) -> i64 {
    let exponent = u32::try_from(failures.saturating_sub(1)).unwrap_or(0).min(30);
    (1i64 << exponent).min(limits.lockout_seconds)
}

fn max_attempts(limits: &MfaLimits) -> i32 {
    i32::try_from(limits.max_failed_attempts).unwrap_or(i32::MAX)
}

/// Counts an attempt and returns the credential row, or refuses: `LockedOut` while a delay
/// or lockout runs, `NotEnrolled` without an active second factor.
pub(super) async fn begin_attempt(
    db: &impl ConnectionTrait,
    limits: &MfaLimits,
    user_id: &str,
    now: i64,
) -> Result<totp_credentials::Model, MfaError> {
    let max = max_attempts(limits);
    // A lockout that has run its course starts the count afresh.
    totp_credentials::Entity::update_many()
        .col_expr(totp_credentials::Column::FailedAttempts, Expr::value(0))
        .col_expr(totp_credentials::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .filter(totp_credentials::Column::FailedAttempts.gte(max))
        .filter(totp_credentials::Column::LockedUntil.lte(now))
        .exec(db)
        .await?;
    let claimed = totp_credentials::Entity::update_many()
        .col_expr(
            totp_credentials::Column::FailedAttempts,
            Expr::col(totp_credentials::Column::FailedAttempts).add(1),
        )
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .filter(totp_credentials::Column::Secret.is_not_null())
        .filter(totp_credentials::Column::FailedAttempts.lt(max))
        .filter(
            totp_credentials::Column::LockedUntil
                .is_null()
                .or(totp_credentials::Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?;
    let row = totp_credentials::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .filter(|row| row.secret.is_some())
        .ok_or(MfaError::NotEnrolled)?;
    if claimed.rows_affected == 1 {
        return Ok(row);
    }
    // Waiting, locked out, or other attempts in flight have used up the count: those will
    // set the lock when they fail, so ask for a short wait.
    let until = row.locked_until.filter(|until| *until > now).unwrap_or(now + 1);
    Err(MfaError::LockedOut { until })
}

/// The attempt's code was wrong: sets the delay (or, at the limit, the lockout) and says so.
pub(super) async fn record_failure(
    db: &impl ConnectionTrait,
    limits: &MfaLimits,
    user_id: &str,
    reason: &'static str,
    audit: &AuditLog,
    now: i64,
) -> Result<(), MfaError> {
    audit.record(
        AuditEvent::TotpFailed {
            sub: user_id.to_string(),
            reason,
        },
        now,
    );
    let failures = totp_credentials::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .map(|row| row.failed_attempts)
        .unwrap_or(1);
    let locked_out = failures >= max_attempts(limits);
    let until = if locked_out {
        now + limits.lockout_seconds
    } else {
        now + delay_after(failures, limits)
    };
    totp_credentials::Entity::update_many()
        .col_expr(totp_credentials::Column::LockedUntil, Expr::value(Some(until)))
        .col_expr(totp_credentials::Column::LastFailedAt, Expr::value(Some(now)))
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .filter(
            totp_credentials::Column::LockedUntil
                .is_null()
                .or(totp_credentials::Column::LockedUntil.lt(until)),
        )
        .exec(db)
        .await?;
    if locked_out {
        audit.record(
            AuditEvent::TotpLockedOut {
                sub: user_id.to_string(),
                until,
            },
            now,
        );
        return Err(MfaError::LockedOut { until });
    }
    Err(MfaError::WrongCode)
}

/// Takes back a counted attempt whose code was right but already used (a person signing in
/// twice within one period is not guessing).
pub(super) async fn forgive_attempt(db: &impl ConnectionTrait, user_id: &str) -> Result<(), MfaError> {
    totp_credentials::Entity::update_many()
        .col_expr(
            totp_credentials::Column::FailedAttempts,
            Expr::col(totp_credentials::Column::FailedAttempts).sub(1),
        )
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .filter(totp_credentials::Column::FailedAttempts.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

/// A code was accepted: the count starts again.
pub(super) async fn clear_failures(db: &impl ConnectionTrait, user_id: &str) -> Result<(), MfaError> {
    totp_credentials::Entity::update_many()
        .col_expr(totp_credentials::Column::FailedAttempts, Expr::value(0))
        .col_expr(totp_credentials::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
