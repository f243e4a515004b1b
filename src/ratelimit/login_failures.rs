//! Failed password attempts per person, counted in the database (`login_failures`) so that
//! every instance on the same database sees them.
//!
//! What is counted is the person, not the spelling: once the directory search found an
//! entry, attempts count against that entry's stable id, so every name the directory
//! matches to it (`Bob`, `ｂｏｂ`, `ⓑob`, `𝐛ob`) shares one budget. A name that found
//! nobody counts against its NFKC case-folded form. Keys are keyed hashes (HMAC-SHA-256
//! under a key derived from the master key): what people typed is never stored, and a
//! stolen database does not reveal which names were tried.
//!
//! An attempt is reserved before the password is sent to the directory, with one atomic
//! statement that only succeeds while the budget lasts, so parallel guesses cannot get
//! past the limit; a right password clears the count; an attempt the directory could not
//! answer is given back.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use caseless::Caseless;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use unicode_normalization::UnicodeNormalization;

use crate::crypto::{hex_encode, MasterKey};
use crate::directory::{AttemptGate, AttemptRefused, AttemptSubject};
use crate::storage::entities::login_failures::{self, Column, Entity};

/// `limit` failed attempts per `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailurePolicy {
    pub limit: u32,
    pub window: i64,
}

/// The key under which attempts are counted; derived from the master key once.
#[derive(Clone)]
pub struct AttemptKeys(hmac::Key);

impl std::fmt::Debug for AttemptKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttemptKeys(<redacted>)")
    }
}

impl AttemptKeys {
    pub fn derive(master: &MasterKey) -> AttemptKeys {
        AttemptKeys(hmac::Key::new(
            hmac::HMAC_SHA256,
            &master.derive_subkey("gatehouse sign-in attempts v1"),
        ))
    }

    fn key(&self, kind: &str, value: &str) -> String {
        let tag = hmac::sign(&self.0, format!("{kind}\0{value}").as_bytes());
        format!("{kind}:{}", hex_encode(tag.as_ref()))
    }

    /// The key of a directory entry (its stable id).
    pub fn entry_key(&self, id: &str) -> String {
        self.key("entry", id)
    }

    /// The key of a typed name that found no entry: its NFKC case-folded form, so that
    /// spellings the directory would treat as one name are one name here too.
    pub fn name_key(&self, typed: &str) -> String {
        self.key("name", &folded_name(typed))
    }
}

/// NFKC with full Unicode case folding (Unicode's compatibility caseless form), trimmed.
pub fn folded_name(typed: &str) -> String {
    typed
        .trim()
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkc()
        .collect()
}

/// Reserves one attempt under `key`: `None` when reserved, else the seconds until the
/// window ends. One statement (insert, or count one more in the current window, or start a
/// new window once it ended, but never past the limit within a window), so concurrent
/// attempts on every instance are counted and refused exactly.
pub async fn reserve_attempt(
    db: &impl ConnectionTrait,
    policy: LoginFailurePolicy,
    key: &str,
    now: i64,
) -> Result<Option<i64>, sea_orm::DbErr> {
    let window_start = Expr::col((Entity, Column::WindowStart));
    let failures = Expr::col((Entity, Column::Failures));
    let window_over = window_start
        .clone()
        .lte(now.saturating_sub(policy.window))
        .or(window_start.clone().gt(now));
    let counted = Expr::case(window_over.clone(), Expr::val(1)).finally(failures.clone().add(1));
    let started = Expr::case(window_over.clone(), Expr::val(now)).finally(window_start);
    let room_left = window_over.or(failures.lt(i64::from(policy.limit)));
    let reserved = Entity::insert(login_failures::ActiveModel {
        username_hash: Set(key.to_string()),
        window_start: Set(now),
        failures: Set(1),
    })
    .on_conflict(
        OnConflict::column(Column::UsernameHash)
            .value(Column::Failures, counted)
            .value(Column::WindowStart, started)
            .action_and_where(room_left)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if reserved == 1 {
        return Ok(None);
    }
    let ends = Entity::find_by_id(key.to_string())
        .one(db)
        .await?
        .map_or(now + 1, |row| row.window_start.saturating_add(policy.window));
    Ok(Some((ends - now).clamp(1, policy.window.max(1))))
}

/// Gives a reserved attempt back (the directory could not judge the password).
pub async fn release_attempt(db: &impl ConnectionTrait, key: &str) -> Result<(), sea_orm::DbErr> {
    Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).sub(1))
        .filter(Column::UsernameHash.eq(key))
        .filter(Column::Failures.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the failures under `key` (after a right password).
pub async fn clear_login_failures(db: &impl ConnectionTrait, key: &str) -> Result<(), sea_orm::DbErr> {
    Entity::delete_by_id(key.to_string()).exec(db).await?;
    Ok(())
}

/// What was reserved for one sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedAttempt {
    pub key: String,
    /// The entry's stable id and its username, when the name found one.
    pub entry: Option<(String, Option<String>)>,
}

/// The gate the sign-in page hands to the directory: reserves the attempt against the
/// entry found (or the typed name), and remembers what it reserved so the page can clear
/// it after a right password, give it back after an outage, and audit who it was.
pub struct SignInAttempts<'a> {
    db: &'a DatabaseConnection,
    keys: &'a AttemptKeys,
    policy: Option<LoginFailurePolicy>,
    typed: &'a str,
    now: i64,
    reserved: Mutex<Option<ReservedAttempt>>,
    failure: Mutex<Option<sea_orm::DbErr>>,
}

impl<'a> SignInAttempts<'a> {
    /// `policy` `None`: attempts are not limited (still tracked for the audit trail).
    pub fn new(
        db: &'a DatabaseConnection,
        keys: &'a AttemptKeys,
        policy: Option<LoginFailurePolicy>,
        typed: &'a str,
        now: i64,
    ) -> Self {
        SignInAttempts {
            db,
            keys,
            policy,
            typed,
            now,
            reserved: Mutex::new(None),
            failure: Mutex::new(None),
        }
    }

    /// What was reserved (nothing when the directory never got as far as the search).
    pub fn reserved(&self) -> Option<ReservedAttempt> {
        lock(&self.reserved).clone()
    }

    /// A database failure while reserving (the attempt was refused because of it).
    pub fn take_failure(&self) -> Option<sea_orm::DbErr> {
        lock(&self.failure).take()
    }

    /// The keyed fingerprint the attempt counts under: the reserved key, or the typed name's.
    pub fn attempt_key(&self) -> String {
        self.reserved()
            .map(|reserved| reserved.key)
            .unwrap_or_else(|| self.keys.name_key(self.typed))
    }

    /// The password was right: the person's count starts again.
    pub async fn succeeded(&self) -> Result<(), sea_orm::DbErr> {
        match self.reserved() {
            Some(reserved) if self.policy.is_some() => clear_login_failures(self.db, &reserved.key).await,
            _ => Ok(()),
        }
    }

    /// The directory could not judge the password: the attempt does not count.
    pub async fn not_judged(&self) -> Result<(), sea_orm::DbErr> {
        match self.reserved() {
            Some(reserved) if self.policy.is_some() => release_attempt(self.db, &reserved.key).await,
            _ => Ok(()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[async_trait]
impl AttemptGate for SignInAttempts<'_> {
    async fn reserve(&self, subject: AttemptSubject<'_>) -> Result<(), AttemptRefused> {
        let (key, entry) = match subject {
            AttemptSubject::Entry { id, username } => (
                self.keys.entry_key(id),
                Some((id.to_string(), username.map(str::to_string))),
            ),
            AttemptSubject::NoEntry => (self.keys.name_key(self.typed), None),
        };
        *lock(&self.reserved) = Some(ReservedAttempt {
            key: key.clone(),
            entry,
        });
        let Some(policy) = self.policy else {
            return Ok(());
        };
        match reserve_attempt(self.db, policy, &key, self.now).await {
            Ok(None) => Ok(()),
            Ok(Some(retry_after)) => Err(AttemptRefused { retry_after }),
            Err(error) => {
                // Refused, not admitted: without the count the limit cannot hold.
                *lock(&self.failure) = Some(error);
                Err(AttemptRefused { retry_after: 1 })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_spellings_fold_to_one_name() {
        for spelling in ["bob", "Bob", "BOB", " bob ", "ｂｏｂ", "ⓑob", "𝐛ob", "ＢＯＢ"] {
            assert_eq!(folded_name(spelling), "bob", "{spelling}");
        }
        assert_eq!(folded_name("Straße"), folded_name("STRASSE"));
        assert_ne!(folded_name("bob"), folded_name("alice"));
    }

    #[test]
    fn keys_are_keyed_and_never_hold_the_name() {
        let keys = AttemptKeys::derive(&MasterKey::from_bytes([7; 32]));
        let other = AttemptKeys::derive(&MasterKey::from_bytes([8; 32]));
        assert_eq!(keys.name_key("Bob"), keys.name_key("ｂｏｂ"));
        assert_ne!(
            keys.name_key("bob"),
            other.name_key("bob"),
            "another master key, another key"
        );
        assert_ne!(
            keys.name_key("bob"),
            keys.entry_key("bob"),
            "names and entries never collide"
        );
        assert!(!keys.name_key("bob").contains("bob"));
        assert!(keys.entry_key("4f1c").starts_with("entry:"));
    }
}
