//! The LDAP directory: people sign in with their directory password, and what the directory
//! says about them (stable id, names, email, groups) becomes their claims.
//!
//! [`Directory`] is the one seam: the login logic takes an `Arc<dyn Directory>`, so its unit
//! tests can run without a server, while [`LdapDirectory`] talks to a real one (tested
//! against slapd in `tests/api/directory.rs`).

mod account_state;
mod connection;
mod connection_pool;
mod connection_test;
mod directory_error;
mod directory_handle;
mod directory_user;
mod entry_mapping;
mod ldap_directory;
mod nested_groups;
mod search_filters;
mod server_set;
mod sign_in_attempts;
mod tls;

pub use connection_test::{test_connection, ConnectionReport, ConnectionStep};
pub use directory_error::{CredentialFailure, DirectoryError};
pub use directory_handle::DirectoryHandle;
pub use directory_user::DirectoryUser;
pub use ldap_directory::{LdapDirectory, MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES};
pub use nested_groups::{dn_key, is_distinguished_name};
pub use sign_in_attempts::{AdmitEveryAttempt, AttemptGate, AttemptRefused, AttemptSubject};

/// A directory people sign in against.
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    /// Checks a password: binds as the service account, finds exactly one entry with the
    /// configured filter (the username RFC 4515-escaped), then binds as that entry's DN on a
    /// fresh connection that is never reused for anything else. Unknown and ambiguous names
    /// cost about as much time as a wrong password.
    ///
    /// Once the password is right, account state is judged (`ldap.account_checks`): a
    /// disabled, locked or expired account, or a password that expired or must be changed,
    /// is refused with the matching [`DirectoryError`] (see
    /// [`DirectoryError::person_message`]); before that, every refusal is
    /// [`DirectoryError::InvalidCredentials`].
    ///
    /// Between the search and the password check, `gate` reserves the attempt against the
    /// entry found (or, when the name found nobody, against the name): a refusal ends the
    /// sign-in with [`DirectoryError::AttemptRefused`] before the password is sent anywhere.
    async fn authenticate_user_gated(
        &self,
        username: &str,
        password: &str,
        gate: &dyn AttemptGate,
    ) -> Result<DirectoryUser, DirectoryError>;

    /// [`Directory::authenticate_user_gated`] with no limit on attempts: for tools (the CLI's
    /// `ldap test`) and tests, never for the sign-in page.
    async fn authenticate_user(&self, username: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        self.authenticate_user_gated(username, password, &AdmitEveryAttempt)
            .await
    }

    /// Looks a person up by their stable id (the `sub` claim; an objectGUID rendered as a
    /// UUID is searched as its 16 bytes), as the service account, with their current
    /// claims and groups. `Ok(None)`: no such person any more. An account that exists but
    /// may not sign in answers [`DirectoryError::AccountDisabled`],
    /// [`DirectoryError::AccountLocked`] or [`DirectoryError::AccountExpired`]; password
    /// expiry is not judged here (it needs the password). Other errors are the directory's.
    async fn find_user_by_id(&self, id: &str) -> Result<Option<DirectoryUser>, DirectoryError>;

    /// Binds as the service account and reads the base DN: the readiness check.
    async fn check_health(&self) -> Result<(), DirectoryError>;

    /// Each server's health and connection pool right now, for the metrics endpoint (a
    /// directory that is not a set of LDAP servers has none).
    fn server_samples(&self) -> Vec<crate::metrics::LdapServerSample> {
        Vec::new()
    }
}
