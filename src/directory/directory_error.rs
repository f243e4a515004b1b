//! Why a directory operation failed, in words an operator can act on
//! (`gatehouse ldap test USERNAME` prints these). No message ever contains a password.

/// Why a username and password were refused. The login page shows the same message for
/// all of them; the distinction is for logs and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialFailure {
    #[error("no user has that name")]
    UnknownUser,
    #[error("more than one entry matches that name")]
    AmbiguousUser,
    #[error("wrong password")]
    WrongPassword,
    #[error("the password is empty")]
    EmptyPassword,
    /// Longer than `MAX_PASSWORD_BYTES`: refused without asking the directory.
    #[error("the password is longer than any the directory is asked to check")]
    PasswordTooLong,
    /// The directory refused the password check of an account it lists as disabled, so
    /// whether the password was right is unknown (and must not be told).
    #[error("the directory refused the password check of a disabled account")]
    AccountDisabled,
    /// The same for a locked account (Active Directory's "data 775", ppolicy's lockout).
    #[error("the directory refused the password check of a locked account")]
    AccountLocked,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The person could not be signed in with what they typed.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(CredentialFailure),
    /// The server could not be reached or did not answer in time, or said it is busy or
    /// unavailable. E.g. "cannot connect to ldap://127.0.0.1:1389: connection refused".
    #[error("{0}")]
    Unavailable(String),
    /// The service account could not bind, e.g. "invalid credentials (49)".
    #[error("service account bind failed: {0}")]
    ServiceBind(String),
    /// A search failed, e.g. "search base ou=x,dc=y does not exist (32)".
    #[error("{0}")]
    Search(String),
    /// A required attribute is absent, e.g. "attribute entryUUID missing on uid=bob,...".
    #[error("{0}")]
    MissingAttribute(String),
    /// The server refused the password check for a reason other than a wrong password.
    #[error("{0}")]
    UserBind(String),
    /// The LDAP settings cannot work (an unusable URL or filter).
    #[error("invalid LDAP settings: {0}")]
    Configuration(String),
    /// The password was right, but the directory says the account is disabled, e.g.
    /// "userAccountControl 514 has ACCOUNTDISABLE (0x2)". Also what looking a person up by
    /// id answers for such an account.
    #[error("the account is disabled: {0}")]
    AccountDisabled(String),
    /// The password was right (or the person was looked up by id), but the account is
    /// locked, e.g. after too many failed attempts: "pwdAccountLockedTime is 20250101000000Z".
    #[error("the account is locked: {0}")]
    AccountLocked(String),
    /// The password was right, but the account itself has expired (Active Directory's
    /// accountExpires, "data 701").
    #[error("the account has expired: {0}")]
    AccountExpired(String),
    /// The password was right but has expired; it must be changed elsewhere first.
    #[error("the password has expired: {0}")]
    PasswordExpired(String),
    /// The password was right but must be changed before use (reset by an administrator).
    #[error("the password must be changed: {0}")]
    PasswordMustChange(String),
    /// The caller's limit on attempts refused this one before the password was checked
    /// (too many failed sign-ins for this entry or name): wait `retry_after` seconds.
    #[error("too many failed sign-ins; try again in {retry_after} seconds")]
    AttemptRefused { retry_after: i64 },
}

impl DirectoryError {
    pub fn is_invalid_credentials(&self) -> bool {
        matches!(self, DirectoryError::InvalidCredentials(_))
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, DirectoryError::Unavailable(_))
    }

    /// The account or its password cannot be used although the password was right:
    /// disabled, locked, expired, or a password that has expired or must be changed.
    pub fn is_account_state(&self) -> bool {
        self.person_message().is_some()
    }

    /// What the sign-in page tells the person for an account-state refusal (shown only after
    /// the directory accepted the password, so a stranger learns nothing). `None` for every
    /// other error: those get "Invalid username or password." or "unavailable".
    pub fn person_message(&self) -> Option<&'static str> {
        match self {
            DirectoryError::AccountDisabled(_) => Some("This account is disabled. Contact your administrator."),
            DirectoryError::AccountLocked(_) => {
                Some("This account is locked. Try again later, or contact your administrator.")
            }
            DirectoryError::AccountExpired(_) => Some("This account has expired. Contact your administrator."),
            DirectoryError::PasswordExpired(_) => Some("Your password has expired. Change it, then sign in again."),
            DirectoryError::PasswordMustChange(_) => {
                Some("Your password must be changed before you can sign in. Change it, then sign in again.")
            }
            _ => None,
        }
    }

    /// The reason credentials were refused, if that is what happened.
    pub fn credential_failure(&self) -> Option<CredentialFailure> {
        match self {
            DirectoryError::InvalidCredentials(failure) => Some(*failure),
            _ => None,
        }
    }

    pub(crate) fn missing_attribute(attribute: &str, dn: &str) -> Self {
        DirectoryError::MissingAttribute(format!("attribute {attribute} missing on {dn}"))
    }
}

/// An LDAP result code in words, followed by the number and the server's diagnostic text:
/// "invalid credentials (49)", "insufficient access rights (50): no read access".
pub(crate) fn describe_result_code(rc: u32, text: &str) -> String {
    let words = match rc {
        0 => "success",
        1 => "operations error",
        2 => "protocol error",
        3 => "time limit exceeded",
        4 => "size limit exceeded",
        7 => "authentication method not supported",
        8 => "stronger authentication required",
        10 => "referral",
        11 => "administrative limit exceeded",
        12 => "unavailable critical extension",
        13 => "confidentiality required",
        16 => "no such attribute",
        17 => "undefined attribute type",
        18 => "inappropriate matching",
        19 => "constraint violation",
        21 => "invalid attribute syntax",
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        54 => "loop detected",
        80 => "other error",
        _ => "error",
    };
    let text = text.trim();
    if text.is_empty() {
        format!("{words} ({rc})")
    } else {
        format!("{words} ({rc}): {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_read_plainly() {
        assert_eq!(describe_result_code(49, ""), "invalid credentials (49)");
        assert_eq!(
            describe_result_code(50, " no read access "),
            "insufficient access rights (50): no read access"
        );
        assert_eq!(describe_result_code(4242, ""), "error (4242)");
    }

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(
            DirectoryError::ServiceBind(describe_result_code(49, "")).to_string(),
            "service account bind failed: invalid credentials (49)"
        );
        assert_eq!(
            DirectoryError::missing_attribute("entryUUID", "uid=bob,dc=example,dc=org").to_string(),
            "attribute entryUUID missing on uid=bob,dc=example,dc=org"
        );
        let refused = DirectoryError::InvalidCredentials(CredentialFailure::WrongPassword);
        assert!(refused.is_invalid_credentials());
        assert!(!refused.is_unavailable());
        assert_eq!(refused.credential_failure(), Some(CredentialFailure::WrongPassword));
        assert!(DirectoryError::Unavailable("down".into()).is_unavailable());
    }

    #[test]
    fn account_states_have_a_message_for_the_person() {
        let disabled = DirectoryError::AccountDisabled("userAccountControl 514 has ACCOUNTDISABLE (0x2)".into());
        assert_eq!(
            disabled.to_string(),
            "the account is disabled: userAccountControl 514 has ACCOUNTDISABLE (0x2)"
        );
        assert_eq!(
            disabled.person_message(),
            Some("This account is disabled. Contact your administrator.")
        );
        assert!(disabled.is_account_state());
        assert!(!disabled.is_invalid_credentials() && !disabled.is_unavailable());
        for error in [
            DirectoryError::AccountLocked(String::new()),
            DirectoryError::AccountExpired(String::new()),
            DirectoryError::PasswordExpired(String::new()),
            DirectoryError::PasswordMustChange(String::new()),
        ] {
            let message = error.person_message().expect("a message");
            assert!(message.ends_with('.') && !message.contains("Invalid"), "{message}");
        }
        assert_eq!(
            DirectoryError::PasswordExpired(String::new()).person_message(),
            Some("Your password has expired. Change it, then sign in again.")
        );
        // Refusals whose password was not verified say nothing particular.
        let hidden = DirectoryError::InvalidCredentials(CredentialFailure::AccountLocked);
        assert!(hidden.is_invalid_credentials());
        assert_eq!(hidden.person_message(), None);
        assert_eq!(DirectoryError::Unavailable("down".into()).person_message(), None);
    }
}
