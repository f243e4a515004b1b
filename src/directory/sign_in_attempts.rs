//! Limits on password attempts, applied inside the sign-in between the directory search and
//! the password check, so that they count people, not spellings: every name that finds the
//! same entry (`Bob`, `ｂｏｂ`, `𝐛ob` all match `bob` under LDAP's matching rules) is counted
//! against that entry's stable id, and only a name that finds nobody is counted as a name.
//! The directory knows nothing of how attempts are counted; the caller's [`AttemptGate`]
//! does (see `ratelimit::SignInAttempts`).

use async_trait::async_trait;

/// What a sign-in attempt is counted against, known once the search has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptSubject<'a> {
    /// The name found exactly this entry.
    Entry {
        /// The entry's stable id (the `sub` claim), or its DN when it has none.
        id: &'a str,
        /// The entry's username as the directory spells it, when it has one.
        username: Option<&'a str>,
    },
    /// The name found no entry, or several: it is counted as the name typed.
    NoEntry,
}

/// Too many failed attempts: wait this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptRefused {
    pub retry_after: i64,
}

/// Reserves an attempt before the password is checked.
#[async_trait]
pub trait AttemptGate: Send + Sync {
    /// Reserves one attempt for `subject`, or refuses it. Called at most once per sign-in,
    /// before the password is sent to the directory.
    async fn reserve(&self, subject: AttemptSubject<'_>) -> Result<(), AttemptRefused>;
}

/// A gate that admits everything: tools and tests that check a password on purpose.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitEveryAttempt;

#[async_trait]
impl AttemptGate for AdmitEveryAttempt {
    async fn reserve(&self, _subject: AttemptSubject<'_>) -> Result<(), AttemptRefused> {
        Ok(())
    }
}
