//! The second factor: TOTP (RFC 6238) enrolment and verification with a replay guard and
//! attempt limits whose state lives in the database (so they hold across instances), and
//! single-use recovery codes. No HTTP here: the pages in `web` call these functions with
//! the clock's `now` (Unix seconds).

mod attempts;
mod credential;
mod recovery_codes;
mod setup_links;
mod totp;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::audit::{AuditEvent, AuditLog};
pub use crate::config::TotpAlgorithm;
use crate::config::{MfaConfig, MfaPolicyName};
use crate::crypto::{CryptoError, MasterKey};
use crate::storage::entities::{recovery_codes as recovery_codes_table, totp_credentials};

pub use credential::TOTP_SECRET_CONTEXT;
pub use recovery_codes::RECOVERY_CODE_COUNT;
pub use setup_links::{
    create_setup_link, find_setup_link, outstanding_setup_link, plausible_setup_token, NewSetupLink, SetupLink,
    SETUP_LINK_LIFETIME,
};

/// How codes are made: from `[mfa]`. Stored with each credential at enrolment, so a later
/// change of the settings does not break authenticators already set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSettings {
    pub issuer_name: String,
    pub digits: u32,
    pub period: u64,
    pub algorithm: TotpAlgorithm,
}

impl Default for TotpSettings {
    fn default() -> Self {
        TotpSettings::from(&MfaConfig::default())
    }
}

impl From<&MfaConfig> for TotpSettings {
    fn from(config: &MfaConfig) -> Self {
        TotpSettings {
            issuer_name: config.issuer_name.clone(),
            digits: config.digits,
            period: config.period,
            algorithm: config.algorithm,
        }
    }
}

/// Who must prove a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaPolicy {
    Optional,
    Required,
    RequiredForGroups(Vec<String>),
}

impl MfaPolicy {
    /// Whether a person in `groups` (the `groups` claim) must prove a second factor, by
    /// policy alone. Under `Optional` a person who enrolled is still asked for a code: the
    /// caller checks `has_active_totp` for that.
    pub fn requires_second_factor(&self, groups: &[String]) -> bool {
        match self {
            MfaPolicy::Optional => false,
            MfaPolicy::Required => true,
            MfaPolicy::RequiredForGroups(required) => groups.iter().any(|group| required.contains(group)),
        }
    }
}

impl From<&MfaConfig> for MfaPolicy {
    fn from(config: &MfaConfig) -> Self {
        match config.policy {
            MfaPolicyName::Optional => MfaPolicy::Optional,
            MfaPolicyName::Required => MfaPolicy::Required,
            MfaPolicyName::Groups => MfaPolicy::RequiredForGroups(config.groups.clone()),
        }
    }
}

/// Attempt limits: `max_failed_attempts` wrong codes in a row lock the second factor for
/// `lockout_seconds`; before that, each wrong code makes the next attempt wait 1, 2, 4...
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaLimits {
    pub max_failed_attempts: u32,
    pub lockout_seconds: i64,
}

impl Default for MfaLimits {
    fn default() -> Self {
        MfaLimits::from(&MfaConfig::default())
    }
}

impl From<&MfaConfig> for MfaLimits {
    fn from(config: &MfaConfig) -> Self {
        MfaLimits {
            max_failed_attempts: config.max_failed_attempts,
            lockout_seconds: config.lockout_seconds,
        }
    }
}

/// What a person needs to set up their authenticator. Show it only to them, once.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The secret in base32 (RFC 4648, no padding), for typing into an app.
    pub secret_base32: String,
    /// `otpauth://totp/Issuer:label?secret=...&issuer=...`, the link an app can open.
    pub otpauth_url: String,
    /// The QR code of `otpauth_url`, a PNG in standard base64: use it as
    /// `<img src="data:image/png;base64,{qr_png_base64}">`.
    pub qr_png_base64: String,
}

impl Enrolment {
    /// The secret in groups of four for typing: `ABCD EFGH IJKL ...`.
    pub fn grouped(&self) -> String {
        group_in_fours(&self.secret_base32)
    }
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

fn group_in_fours(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(4)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("the code is not correct")]
    WrongCode,
    #[error("the code was already used")]
    Replayed,
    /// Too many wrong codes: no code is checked before `until` (Unix seconds). Also
    /// returned during the short growing delays between wrong codes.
    #[error("too many wrong codes; locked until {until}")]
    LockedOut { until: i64 },
    #[error("no second factor is set up")]
    NotEnrolled,
    /// An administrator may set up a second factor only with a setup link from another
    /// administrator, and has none (or it was used, replaced or expired meanwhile).
    #[error("a setup link from another administrator is needed")]
    SetupLinkNeeded,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The stored credential cannot be read (not what this version wrote).
    #[error("the stored TOTP credential is not readable: {0}")]
    Corrupt(String),
    /// totp-rs refused the parameters or could not draw the QR code.
    #[error("the TOTP credential cannot be built: {0}")]
    Totp(String),
}

impl MfaError {
    /// A sentence for the person at the keyboard; internals are never part of it.
    pub fn person_message(&self) -> &'static str {
        match self {
            MfaError::WrongCode => "That code is not correct. Check your authenticator app and try again.",
            MfaError::Replayed => "That code was already used. Wait for the next code and enter it.",
            MfaError::LockedOut { .. } => "Too many wrong codes. Wait a moment before trying again.",
            MfaError::NotEnrolled => "No authenticator app is set up for this account.",
            MfaError::SetupLinkNeeded => {
                "Administrators set up their second factor with a setup link from another administrator."
            }
            MfaError::Database(_) | MfaError::Crypto(_) | MfaError::Corrupt(_) | MfaError::Totp(_) => {
                "Something went wrong on our side. Please try again later."
            }
        }
    }

    /// Whether this is the person's mistake (re-render the form with `person_message`)
    /// rather than a server fault (log it, answer 500).
    pub fn is_person_error(&self) -> bool {
        matches!(
            self,
            MfaError::WrongCode
                | MfaError::Replayed
                | MfaError::LockedOut { .. }
                | MfaError::NotEnrolled
                | MfaError::SetupLinkNeeded
        )
    }

    /// Seconds until the next attempt is checked, for a `LockedOut` (e.g. `Retry-After`).
    pub fn retry_after(&self, now: i64) -> Option<i64> {
        match self {
            MfaError::LockedOut { until } => Some((until - now).max(1)),
            _ => None,
        }
    }
}

/// The account label for `[mfa] account_label`: `{username}` and `{email}` replaced (an
/// absent email becomes the username). `:` separates issuer and label in otpauth links, so
/// it is replaced by `.`.
pub fn render_account_label(template: &str, username: &str, email: Option<&str>) -> String {
    template
        .replace("{username}", username)
        .replace("{email}", email.unwrap_or(username))
        .replace(':', ".")
}

/// Starts (or restarts) an enrolment: a new random secret stored encrypted (context
/// `totp_credentials.secret`) but not active yet. An active second factor stays active
/// until the new one is confirmed.
pub async fn begin_enrolment(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    settings: &TotpSettings,
    user_id: &str,
    account_label: &str,
    now: i64,
) -> Result<Enrolment, MfaError> {
    let credential = credential::Credential::generate(settings);
    let totp = credential.totp(
        Some(settings.issuer_name.replace(':', ".")),
        account_label.replace(':', "."),
    )?;
    let qr_png_base64 = totp.get_qr_base64().map_err(MfaError::Totp)?;
    let enrolment = Enrolment {
        secret_base32: totp.get_secret_base32(),
        otpauth_url: totp.get_url(),
        qr_png_base64,
    };
    let sealed = credential.seal(master_key)?;
    let existing = totp_credentials::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?;
    if existing.is_some() {
        totp_credentials::Entity::update_many()
            .col_expr(totp_credentials::Column::PendingSecret, Some(sealed).into())
            .col_expr(totp_credentials::Column::PendingSince, Some(now).into())
            .filter(totp_credentials::Column::UserId.eq(user_id))
            .exec(db)
            .await?;
    } else {
        totp_credentials::Entity::insert(totp_credentials::ActiveModel {
            user_id: Set(user_id.to_string()),
            secret: Set(None),
            enrolled_at: Set(None),
            pending_secret: Set(Some(sealed)),
            pending_since: Set(Some(now)),
            last_used_step: Set(None),
            failed_attempts: Set(0),
            locked_until: Set(None),
            last_failed_at: Set(None),
        })
        .exec(db)
        .await?;
    }
    Ok(enrolment)
}

/// Why a person may set up an authenticator now (decided by
/// `authorization::second_factor_enrolment`, which callers ask first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentBasis {
    /// Trust on first use: someone who is not an administrator, after their password.
    Password,
    /// The first administrator to set up a second factor (no administrator had one): the
    /// password alone, audited as `totp.first_administrator_enrolled` and logged as a
    /// warning.
    FirstAdministrator,
    /// A setup link made for this person, spent with the enrolment.
    SetupLink(SetupLink),
}

/// Activates the pending enrolment after a correct code (±1 step) and returns the ten new
/// recovery codes (show them once; only their hashes are stored; older ones stop working).
/// A setup link `basis` is spent in the same transaction. `Err(WrongCode)` for a wrong
/// code, `Err(NotEnrolled)` when no enrolment is pending, `Err(SetupLinkNeeded)` when the
/// link is no longer live or not this person's.
#[allow(clippy::too_many_arguments)]
pub async fn confirm_enrolment<C>(
    db: &C,
    master_key: &MasterKey,
    settings: &TotpSettings,
    user_id: &str,
    code: &str,
    basis: &EnrolmentBasis,
    audit: &AuditLog,
    now: i64,
) -> Result<Vec<String>, MfaError>
where
    C: ConnectionTrait + TransactionTrait,
{
    // The parameters come from the pending credential itself; `settings` only made it.
    let _ = settings;
    let row = totp_credentials::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .ok_or(MfaError::NotEnrolled)?;
    let sealed = row.pending_secret.ok_or(MfaError::NotEnrolled)?;
    let credential = credential::Credential::open(master_key, &sealed)?;
    let step = totp::matching_step(&credential, code, now, None)?.ok_or(MfaError::WrongCode)?;
    let codes = recovery_codes::generate_codes();
    let txn = db.begin().await?;
    let activated = totp_credentials::Entity::update_many()
        .col_expr(totp_credentials::Column::Secret, Some(sealed.clone()).into())
        .col_expr(totp_credentials::Column::EnrolledAt, Some(now).into())
        .col_expr(totp_credentials::Column::PendingSecret, Option::<Vec<u8>>::None.into())
        .col_expr(totp_credentials::Column::PendingSince, Option::<i64>::None.into())
        .col_expr(totp_credentials::Column::LastUsedStep, Some(step).into())
        .col_expr(totp_credentials::Column::FailedAttempts, 0.into())
        .col_expr(totp_credentials::Column::LockedUntil, Option::<i64>::None.into())
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .filter(totp_credentials::Column::PendingSecret.eq(sealed))
        .exec(&txn)
        .await?;
    if activated.rows_affected != 1 {
        // Another enrolment was started (or confirmed) meanwhile; this code was for the old one.
        return Err(MfaError::NotEnrolled);
    }
    if let EnrolmentBasis::SetupLink(link) = basis {
        if !setup_links::spend_setup_link(&txn, link, user_id, now).await? {
            // Used, replaced or expired since it was checked (or someone else's): nothing
            // is activated.
            return Err(MfaError::SetupLinkNeeded);
        }
    }
    recovery_codes::replace_codes(&txn, user_id, &codes, now).await?;
    txn.commit().await?;
    let event = match basis {
        EnrolmentBasis::FirstAdministrator => {
            tracing::warn!(
                sub = %user_id,
                "the first administrator set up a second factor with the password alone, as no administrator had \
                 one yet; if this was not expected, whoever knew this person's directory password now administers \
                 Gatehouse: change that password, reset this person's second factor (gatehouse second-factor \
                 reset), and give the real administrator a setup link (gatehouse second-factor setup-link)"
            );
            AuditEvent::TotpFirstAdministratorEnrolled {
                sub: user_id.to_string(),
            }
        }
        EnrolmentBasis::Password => AuditEvent::TotpEnrolled {
            sub: user_id.to_string(),
            setup_link_by: None,
        },
        EnrolmentBasis::SetupLink(link) => AuditEvent::TotpEnrolled {
            sub: user_id.to_string(),
            setup_link_by: Some(link.created_by.clone()),
        },
    };
    audit.record(event, now);
    Ok(codes)
}

/// Whether the person has an active (confirmed) TOTP second factor.
pub async fn has_active_totp(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, MfaError> {
    Ok(totp_credentials::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .is_some_and(|row| row.secret.is_some()))
}

/// When the active second factor was confirmed (for the account page), `None` without one.
pub async fn enrolled_at(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<i64>, MfaError> {
    Ok(totp_credentials::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .filter(|row| row.secret.is_some())
        .and_then(|row| row.enrolled_at))
}

/// Checks a TOTP code: RFC 6238 with ±1 step of skew; each step accepted once per person
/// (the last used step is compared-and-set in the database, so two instances cannot both
/// accept one code); wrong codes counted in the database with growing delays and a lockout.
/// `Ok(())`, or `Err(WrongCode | Replayed | LockedOut { until } | NotEnrolled)`.
#[allow(clippy::too_many_arguments)]
pub async fn verify_totp(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    settings: &TotpSettings,
    limits: &MfaLimits,
    user_id: &str,
    code: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<(), MfaError> {
    // The parameters come from the stored credential, as the app was set up with them.
    let _ = settings;
    let row = attempts::begin_attempt(db, limits, user_id, now).await?;
    let sealed = row.secret.ok_or(MfaError::NotEnrolled)?;
    let credential = credential::Credential::open(master_key, &sealed)?;
    let matched = match totp::matching_step(&credential, code, now, row.last_used_step) {
        Ok(matched) => matched,
        Err(MfaError::Replayed) => {
            attempts::forgive_attempt(db, user_id).await?;
            audit.record(
                AuditEvent::TotpFailed {
                    sub: user_id.to_string(),
                    reason: "replayed",
                },
                now,
            );
            return Err(MfaError::Replayed);
        }
        Err(other) => return Err(other),
    };
    let Some(step) = matched else {
        return attempts::record_failure(db, limits, user_id, "wrong_code", audit, now).await;
    };
    let accepted = totp_credentials::Entity::update_many()
        .col_expr(totp_credentials::Column::LastUsedStep, Some(step).into())
        .col_expr(totp_credentials::Column::FailedAttempts, 0.into())
        .col_expr(totp_credentials::Column::LockedUntil, Option::<i64>::None.into())
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .filter(totp_credentials::Column::Secret.is_not_null())
        .filter(
            totp_credentials::Column::LastUsedStep
                .is_null()
                .or(totp_credentials::Column::LastUsedStep.lt(step)),
        )
        .exec(db)
        .await?;
    if accepted.rows_affected != 1 {
        // Another request (maybe on another instance) accepted this step first.
        attempts::forgive_attempt(db, user_id).await?;
        audit.record(
            AuditEvent::TotpFailed {
                sub: user_id.to_string(),
                reason: "replayed",
            },
            now,
        );
        return Err(MfaError::Replayed);
    }
    audit.record(
        AuditEvent::TotpVerified {
            sub: user_id.to_string(),
        },
        now,
    );
    Ok(())
}

/// A recovery code instead of a TOTP code: single use (marked used atomically), with the
/// same attempt limits as TOTP codes. Spaces, dashes and case do not matter.
pub async fn use_recovery_code(
    db: &impl ConnectionTrait,
    limits: &MfaLimits,
    user_id: &str,
    code: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<(), MfaError> {
    let row = attempts::begin_attempt(db, limits, user_id, now).await?;
    if row.secret.is_none() {
        return Err(MfaError::NotEnrolled);
    }
    if !recovery_codes::redeem(db, user_id, code, now).await? {
        return attempts::record_failure(db, limits, user_id, "wrong_recovery_code", audit, now).await;
    }
    attempts::clear_failures(db, user_id).await?;
    let remaining = recovery_codes::remaining(db, user_id).await?;
    audit.record(
        AuditEvent::RecoveryCodeUsed {
            sub: user_id.to_string(),
            remaining,
        },
        now,
    );
    Ok(())
}

/// Ten new recovery codes (shown once); every older code stops working.
pub async fn regenerate_recovery_codes<C>(
    db: &C,
    user_id: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<Vec<String>, MfaError>
where
    C: ConnectionTrait + TransactionTrait,
{
    if !has_active_totp(db, user_id).await? {
        return Err(MfaError::NotEnrolled);
    }
    let codes = recovery_codes::generate_codes();
    let txn = db.begin().await?;
    recovery_codes::replace_codes(&txn, user_id, &codes, now).await?;
    txn.commit().await?;
    audit.record(
        AuditEvent::RecoveryCodesRegenerated {
            sub: user_id.to_string(),
        },
        now,
    );
    Ok(codes)
}

/// How many unused recovery codes the person has.
pub async fn remaining_recovery_codes(db: &impl ConnectionTrait, user_id: &str) -> Result<usize, MfaError> {
    recovery_codes::remaining(db, user_id).await
}

/// Removes the second factor (credential, pending enrolment, recovery codes): the person's
/// own reset after proving a code, or an administrator's; `by` is the actor's sub.
/// `Err(NotEnrolled)` when there was no active second factor (a pending enrolment is still
/// discarded).
pub async fn reset_totp<C>(db: &C, user_id: &str, by: &str, audit: &AuditLog, now: i64) -> Result<(), MfaError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    // A write first: a SQLite transaction that reads first cannot upgrade to a writer once
    // another connection (the audit writer) has committed meanwhile ("database is locked").
    recovery_codes_table::Entity::delete_many()
        .filter(recovery_codes_table::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    let had_active = has_active_totp(&txn, user_id).await?;
    totp_credentials::Entity::delete_many()
        .filter(totp_credentials::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    if !had_active {
        return Err(MfaError::NotEnrolled);
    }
    audit.record(
        AuditEvent::TotpReset {
            sub: user_id.to_string(),
            by: by.to_string(),
        },
        now,
    );
    Ok(())
}

#[cfg(test)]
mod tests;
