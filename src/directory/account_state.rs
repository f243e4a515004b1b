//! Account state: whether an account may sign in, read from two places.
//!
//! - The entry's attributes, through the service account (`ldap.account_checks`): ppolicy's
//!   `pwdAccountLockedTime`, Active Directory's `userAccountControl`, `lockoutTime` and
//!   `accountExpires`, 389-DS's `nsAccountLock`. This is also how a person looked up by id
//!   (session re-checks) is judged.
//! - The answer to the password check: the password policy response control (OpenLDAP
//!   ppolicy, 389-DS) and Active Directory's reason code in a refused bind ("data 533").
//!
//! Nothing here is told to the person unless the directory accepted their password: a
//! refused bind of a locked account stays "invalid username or password".

use ldap3::asn1::{parse_tag, TagClass, PL};
use ldap3::controls::RawControl;
use ldap3::{LdapResult, SearchEntry};
use time::OffsetDateTime;

use super::directory_error::{CredentialFailure, DirectoryError};
use crate::config::AccountCheck;

/// The password policy control (draft-behera-ldap-password-policy), request and response.
pub(crate) const PASSWORD_POLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// ppolicy's value for "locked until an administrator unlocks it": how OpenLDAP
/// administrators disable an account.
const LOCKED_BY_ADMINISTRATOR: &str = "000001010000Z";
const INVALID_CREDENTIALS: u32 = 49;
/// userAccountControl flags.
const UF_ACCOUNTDISABLE: i64 = 0x2;
const UF_LOCKOUT: i64 = 0x10;
/// Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET: i64 = 11_644_473_600;

/// The attributes the configured checks read, requested together with the person's.
pub(crate) fn state_attributes(checks: &[AccountCheck]) -> Vec<&'static str> {
    let mut names = Vec::new();
    for check in checks {
        let attributes: &[&'static str] = match check {
            AccountCheck::Ppolicy => &["pwdAccountLockedTime"],
            AccountCheck::ActiveDirectory => &["userAccountControl", "lockoutTime", "accountExpires"],
            AccountCheck::NsAccountLock => &["nsAccountLock"],
        };
        for name in attributes {
            if !names.contains(name) {
                names.push(*name);
            }
        }
    }
    names
}

/// Whether the password check asks for the password policy control.
pub(crate) fn wants_password_policy(checks: &[AccountCheck]) -> bool {
    checks
        .iter()
        .any(|check| matches!(check, AccountCheck::Ppolicy | AccountCheck::NsAccountLock))
}

/// The request control: no value, not critical (servers that do not know it ignore it).
pub(crate) fn password_policy_request() -> RawControl {
    RawControl {
        ctype: PASSWORD_POLICY_OID.to_string(),
        crit: false,
        val: None,
    }
}

/// What the entry's attributes say about the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AccountState {
    Usable,
    Disabled(String),
    Locked(String),
    Expired(String),
}

impl AccountState {
    pub fn is_usable(&self) -> bool {
        matches!(self, AccountState::Usable)
    }

    /// The error for an account that cannot be used; `None` when it can.
    pub fn into_error(self) -> Option<DirectoryError> {
        match self {
            AccountState::Usable => None,
            AccountState::Disabled(why) => Some(DirectoryError::AccountDisabled(why)),
            AccountState::Locked(why) => Some(DirectoryError::AccountLocked(why)),
            AccountState::Expired(why) => Some(DirectoryError::AccountExpired(why)),
        }
    }

    /// How a refused password check of this account is recorded: the password could not be
    /// verified, so it stays invalid credentials, with the likely reason for the logs.
    pub fn refused_bind(&self) -> CredentialFailure {
        match self {
            AccountState::Usable => CredentialFailure::WrongPassword,
            AccountState::Disabled(_) | AccountState::Expired(_) => CredentialFailure::AccountDisabled,
            AccountState::Locked(_) => CredentialFailure::AccountLocked,
        }
    }
}

/// Applies the configured checks to `entry`: disabled first, then expired, then locked.
pub(crate) fn account_state(entry: &SearchEntry, checks: &[AccountCheck], now: OffsetDateTime) -> AccountState {
    let mut expired = None;
    let mut locked = None;
    for check in checks {
        match check {
            AccountCheck::Ppolicy => {
                if let Some(time) = first_value(entry, "pwdAccountLockedTime") {
                    if time == LOCKED_BY_ADMINISTRATOR {
                        return AccountState::Disabled(format!(
                            "pwdAccountLockedTime is {time} (locked until an administrator unlocks it)"
                        ));
                    }
                    locked.get_or_insert_with(|| format!("pwdAccountLockedTime is {time}"));
                }
            }
            AccountCheck::ActiveDirectory => {
                if let Some(flags) = integer_value(entry, "userAccountControl") {
                    if flags & UF_ACCOUNTDISABLE != 0 {
                        return AccountState::Disabled(format!("userAccountControl {flags} has ACCOUNTDISABLE (0x2)"));
                    }
                    if flags & UF_LOCKOUT != 0 {
                        locked.get_or_insert_with(|| format!("userAccountControl {flags} has LOCKOUT (0x10)"));
                    }
                }
                if let Some(filetime) = integer_value(entry, "accountExpires") {
                    if let Some(at) = filetime_to_unix(filetime) {
                        if at <= now.unix_timestamp() {
                            expired.get_or_insert_with(|| format!("accountExpires {filetime} has passed"));
                        }
                    }
                }
                if let Some(filetime) = integer_value(entry, "lockoutTime") {
                    if filetime > 0 {
                        locked.get_or_insert_with(|| format!("lockoutTime is {filetime}"));
                    }
                }
            }
            AccountCheck::NsAccountLock => {
                if first_value(entry, "nsAccountLock").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
                    return AccountState::Disabled("nsAccountLock is TRUE".into());
                }
            }
        }
    }
    match (expired, locked) {
        (Some(why), _) => AccountState::Expired(why),
        (None, Some(why)) => AccountState::Locked(why),
        (None, None) => AccountState::Usable,
    }
}

/// A FILETIME (100 ns since 1601) as Unix seconds; `None` for 0 and the maximum, which
/// Active Directory uses for "never".
fn filetime_to_unix(filetime: i64) -> Option<i64> {
    if filetime <= 0 || filetime == i64::MAX {
        return None;
    }
    Some(filetime / 10_000_000 - FILETIME_UNIX_OFFSET)
}

/// What the password check's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BindOutcome {
    /// The password is right. `password` says whether it can be used as it is.
    Accepted { password: PasswordState },
    /// The password is right, but the directory refused the sign-in for a reason it states
    /// (an account-state error for the person).
    Refused(DirectoryError),
    /// The password is wrong, or could not be checked: invalid credentials.
    Invalid(CredentialFailure),
    /// Another result code, for the caller to report.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PasswordState {
    Fine,
    Expired(String),
    MustChange(String),
}

/// Judges the result of the bind as the person.
pub(crate) fn judge_bind(result: &LdapResult, checks: &[AccountCheck]) -> BindOutcome {
    let policy = if wants_password_policy(checks) {
        password_policy_response(result)
    } else {
        None
    };
    match result.rc {
        0 => BindOutcome::Accepted {
            password: match policy {
                Some(PolicyResponse {
                    error: Some(PolicyError::ChangeAfterReset),
                    ..
                }) => PasswordState::MustChange("the password policy requires a change after a reset".into()),
                Some(PolicyResponse {
                    error: Some(PolicyError::PasswordExpired),
                    ..
                }) => PasswordState::Expired("the password policy reports it expired".into()),
                Some(PolicyResponse {
                    grace_sign_ins_left: Some(left),
                    ..
                }) => PasswordState::Expired(format!("signed in on a grace sign-in; {left} left")),
                _ => PasswordState::Fine,
            },
        },
        INVALID_CREDENTIALS => {
            if checks.contains(&AccountCheck::ActiveDirectory) {
                if let Some(outcome) = active_directory_reason(&result.text) {
                    return outcome;
                }
            }
            match policy.and_then(|policy| policy.error) {
                // ppolicy reports an expired password only once the password matched.
                Some(PolicyError::PasswordExpired) => BindOutcome::Refused(DirectoryError::PasswordExpired(
                    "the password policy reports it expired".into(),
                )),
                Some(PolicyError::AccountLocked) => BindOutcome::Invalid(CredentialFailure::AccountLocked),
                _ => BindOutcome::Invalid(CredentialFailure::WrongPassword),
            }
        }
        _ => BindOutcome::Other,
    }
}

/// Active Directory's reason in an invalidCredentials diagnostic such as
/// `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563`.
/// 532, 533, 701 and 773 come only with the right password; 775 (locked out) comes
/// whatever the password, so it proves nothing and stays invalid credentials.
fn active_directory_reason(diagnostic: &str) -> Option<BindOutcome> {
    let (_, after) = diagnostic.split_once("data ")?;
    let code: String = after
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let reason = format!("the directory answered `data {code}`");
    Some(match code.as_str() {
        "532" => BindOutcome::Refused(DirectoryError::PasswordExpired(reason)),
        "533" => BindOutcome::Refused(DirectoryError::AccountDisabled(reason)),
        "701" => BindOutcome::Refused(DirectoryError::AccountExpired(reason)),
        "773" => BindOutcome::Refused(DirectoryError::PasswordMustChange(reason)),
        "775" => BindOutcome::Invalid(CredentialFailure::AccountLocked),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyError {
    PasswordExpired,
    AccountLocked,
    ChangeAfterReset,
    /// The other values concern password changes, which Gatehouse does not make.
    Other,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PolicyResponse {
    seconds_before_expiration: Option<u64>,
    grace_sign_ins_left: Option<u64>,
    error: Option<PolicyError>,
}

/// The password policy response control in `result`, if the server sent a readable one.
fn password_policy_response(result: &LdapResult) -> Option<PolicyResponse> {
    let control = result
        .ctrls
        .iter()
        .find(|control| control.1.ctype == PASSWORD_POLICY_OID)?;
    parse_policy_response(control.1.val.as_deref()?)
}

/// ```text
/// PasswordPolicyResponseValue ::= SEQUENCE {
///     warning [0] CHOICE {
///         timeBeforeExpiration [0] INTEGER (0 .. maxInt),
///         graceAuthNsRemaining [1] INTEGER (0 .. maxInt) } OPTIONAL,
///     error   [1] ENUMERATED { passwordExpired (0), accountLocked (1),
///                 changeAfterReset (2), ... } OPTIONAL }
/// ```
fn parse_policy_response(value: &[u8]) -> Option<PolicyResponse> {
    let (_, outer) = parse_tag(value).ok()?;
    let PL::C(elements) = outer.payload else {
        return None;
    };
    let mut response = PolicyResponse::default();
    for element in elements {
        if element.class != TagClass::Context {
            continue;
        }
        match (element.id, element.payload) {
            (0, PL::C(choice)) => {
                for warning in choice {
                    if let (TagClass::Context, PL::P(bytes)) = (warning.class, &warning.payload) {
                        let number = unsigned(bytes);
                        match warning.id {
                            0 => response.seconds_before_expiration = Some(number),
                            1 => response.grace_sign_ins_left = Some(number),
                            _ => {}
                        }
                    }
                }
            }
            (1, PL::P(bytes)) => {
                response.error = Some(match unsigned(&bytes) {
                    0 => PolicyError::PasswordExpired,
                    1 => PolicyError::AccountLocked,
                    2 => PolicyError::ChangeAfterReset,
                    _ => PolicyError::Other,
                });
            }
            _ => {}
        }
    }
    Some(response)
}

/// A non-negative BER integer (at most 8 significant bytes are kept).
fn unsigned(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |value, &byte| (value << 8) | u64::from(byte))
}

fn first_value<'e>(entry: &'e SearchEntry, attribute: &str) -> Option<&'e str> {
    entry
        .attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter())
        .map(|value| value.trim())
        .find(|value| !value.is_empty())
}

fn integer_value(entry: &SearchEntry, attribute: &str) -> Option<i64> {
    first_value(entry, attribute)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ldap3::controls::Control;

    use super::*;

    fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
        SearchEntry {
            dn: "uid=x,dc=example,dc=org".into(),
            attrs: attrs
                .iter()
                .map(|(name, value)| (name.to_string(), vec![value.to_string()]))
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 12:00 UTC)
    }

    fn result(rc: u32, text: &str, policy: Option<Vec<u8>>) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.into(),
            refs: Vec::new(),
            ctrls: policy
                .map(|value| {
                    vec![Control(
                        None,
                        RawControl {
                            ctype: PASSWORD_POLICY_OID.into(),
                            crit: false,
                            val: Some(value),
                        },
                    )]
                })
                .unwrap_or_default(),
        }
    }

    const ALL: [AccountCheck; 3] = [
        AccountCheck::Ppolicy,
        AccountCheck::ActiveDirectory,
        AccountCheck::NsAccountLock,
    ];

    #[test]
    fn the_checks_read_their_own_attributes() {
        assert_eq!(state_attributes(&[AccountCheck::Ppolicy]), ["pwdAccountLockedTime"]);
        assert_eq!(
            state_attributes(&[AccountCheck::ActiveDirectory, AccountCheck::ActiveDirectory]),
            ["userAccountControl", "lockoutTime", "accountExpires"]
        );
        assert!(state_attributes(&[]).is_empty());
        assert!(wants_password_policy(&[AccountCheck::NsAccountLock]));
        assert!(!wants_password_policy(&[AccountCheck::ActiveDirectory]));
    }

    #[test]
    fn ppolicy_lock_times_mean_disabled_or_locked() {
        let checks = [AccountCheck::Ppolicy];
        assert_eq!(account_state(&entry(&[]), &checks, now()), AccountState::Usable);
        assert!(matches!(
            account_state(&entry(&[("pwdAccountLockedTime", "000001010000Z")]), &checks, now()),
            AccountState::Disabled(_)
        ));
        assert_eq!(
            account_state(&entry(&[("pwdaccountlockedtime", "20260101000000Z")]), &checks, now()),
            AccountState::Locked("pwdAccountLockedTime is 20260101000000Z".into())
        );
        // Without the check, the attribute means nothing.
        assert_eq!(
            account_state(&entry(&[("pwdAccountLockedTime", "000001010000Z")]), &[], now()),
            AccountState::Usable
        );
    }

    #[test]
    fn active_directory_flags_lockout_and_expiry() {
        let checks = [AccountCheck::ActiveDirectory];
        let usable = [
            ("userAccountControl", "512"),
            ("lockoutTime", "0"),
            ("accountExpires", "0"),
        ];
        assert_eq!(account_state(&entry(&usable), &checks, now()), AccountState::Usable);
        assert_eq!(
            account_state(&entry(&[("userAccountControl", "514")]), &checks, now()),
            AccountState::Disabled("userAccountControl 514 has ACCOUNTDISABLE (0x2)".into())
        );
        assert_eq!(
            account_state(&entry(&[("userAccountControl", "528")]), &checks, now()),
            AccountState::Locked("userAccountControl 528 has LOCKOUT (0x10)".into())
        );
        assert_eq!(
            account_state(&entry(&[("lockoutTime", "133500000000000000")]), &checks, now()),
            AccountState::Locked("lockoutTime is 133500000000000000".into())
        );
        // 2012 has passed; 2100 has not; i64::MAX is "never".
        assert!(matches!(
            account_state(&entry(&[("accountExpires", "130000000000000000")]), &checks, now()),
            AccountState::Expired(_)
        ));
        for later in ["159000000000000000", "9223372036854775807"] {
            assert_eq!(
                account_state(&entry(&[("accountExpires", later)]), &checks, now()),
                AccountState::Usable,
                "{later}"
            );
        }
        // Disabled wins over locked and expired.
        let everything = [
            ("userAccountControl", "530"),
            ("lockoutTime", "1"),
            ("accountExpires", "1"),
        ];
        assert!(matches!(
            account_state(&entry(&everything), &checks, now()),
            AccountState::Disabled(_)
        ));
        // Expired wins over locked.
        assert!(matches!(
            account_state(&entry(&[("lockoutTime", "1"), ("accountExpires", "1")]), &checks, now()),
            AccountState::Expired(_)
        ));
    }

    #[test]
    fn filetimes_convert_to_unix_seconds() {
        assert_eq!(filetime_to_unix(116_444_736_000_000_000), Some(0));
        assert_eq!(filetime_to_unix(0), None);
        assert_eq!(filetime_to_unix(i64::MAX), None);
    }

    #[test]
    fn ns_account_lock_true_is_disabled() {
        let checks = [AccountCheck::NsAccountLock];
        assert!(matches!(
            account_state(&entry(&[("nsAccountLock", "TRUE")]), &checks, now()),
            AccountState::Disabled(_)
        ));
        assert_eq!(
            account_state(&entry(&[("nsAccountLock", "false")]), &checks, now()),
            AccountState::Usable
        );
    }

    #[test]
    fn states_become_errors_only_when_unusable() {
        assert_eq!(AccountState::Usable.into_error(), None);
        assert_eq!(
            AccountState::Locked("x".into()).into_error(),
            Some(DirectoryError::AccountLocked("x".into()))
        );
        assert_eq!(
            AccountState::Expired("x".into()).refused_bind(),
            CredentialFailure::AccountDisabled
        );
        assert_eq!(AccountState::Usable.refused_bind(), CredentialFailure::WrongPassword);
    }

    /// Control values as the draft encodes them; tests/api/directory_mapping.rs checks
    /// what slapd really sends.
    const POLICY_EXPIRED: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x00];
    const POLICY_LOCKED: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x01];
    const POLICY_CHANGE_AFTER_RESET: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x02];
    const POLICY_GRACE_99: [u8; 7] = [0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x63];
    const POLICY_WARNING_3600: [u8; 8] = [0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x0e, 0x10];

    #[test]
    fn password_policy_responses_parse() {
        assert_eq!(
            parse_policy_response(&POLICY_EXPIRED),
            Some(PolicyResponse {
                error: Some(PolicyError::PasswordExpired),
                ..PolicyResponse::default()
            })
        );
        assert_eq!(
            parse_policy_response(&POLICY_GRACE_99),
            Some(PolicyResponse {
                grace_sign_ins_left: Some(99),
                ..PolicyResponse::default()
            })
        );
        assert_eq!(
            parse_policy_response(&POLICY_WARNING_3600),
            Some(PolicyResponse {
                seconds_before_expiration: Some(3600),
                ..PolicyResponse::default()
            })
        );
        assert_eq!(parse_policy_response(&[0x30, 0x00]), Some(PolicyResponse::default()));
        assert_eq!(parse_policy_response(&[0x30, 0x05, 0x81]), None);
        assert_eq!(parse_policy_response(&[]), None);
    }

    #[test]
    fn an_accepted_bind_can_still_carry_a_password_problem() {
        let checks = [AccountCheck::Ppolicy];
        assert_eq!(
            judge_bind(&result(0, "", None), &checks),
            BindOutcome::Accepted {
                password: PasswordState::Fine
            }
        );
        assert!(matches!(
            judge_bind(&result(0, "", Some(POLICY_CHANGE_AFTER_RESET.to_vec())), &checks),
            BindOutcome::Accepted {
                password: PasswordState::MustChange(_)
            }
        ));
        assert_eq!(
            judge_bind(&result(0, "", Some(POLICY_GRACE_99.to_vec())), &checks),
            BindOutcome::Accepted {
                password: PasswordState::Expired("signed in on a grace sign-in; 99 left".into())
            }
        );
        assert_eq!(
            judge_bind(&result(0, "", Some(POLICY_WARNING_3600.to_vec())), &checks),
            BindOutcome::Accepted {
                password: PasswordState::Fine
            }
        );
        // Without a ppolicy-style check the control is not even read.
        assert_eq!(
            judge_bind(
                &result(0, "", Some(POLICY_CHANGE_AFTER_RESET.to_vec())),
                &[AccountCheck::ActiveDirectory]
            ),
            BindOutcome::Accepted {
                password: PasswordState::Fine
            }
        );
    }

    #[test]
    fn a_refused_bind_is_wrong_password_unless_the_server_proves_otherwise() {
        let checks = [AccountCheck::Ppolicy];
        assert_eq!(
            judge_bind(&result(49, "", None), &checks),
            BindOutcome::Invalid(CredentialFailure::WrongPassword)
        );
        assert!(matches!(
            judge_bind(&result(49, "", Some(POLICY_EXPIRED.to_vec())), &checks),
            BindOutcome::Refused(DirectoryError::PasswordExpired(_))
        ));
        assert_eq!(
            judge_bind(&result(49, "", Some(POLICY_LOCKED.to_vec())), &checks),
            BindOutcome::Invalid(CredentialFailure::AccountLocked)
        );
        assert_eq!(judge_bind(&result(53, "unwilling", None), &checks), BindOutcome::Other);
    }

    fn ad_diagnostic(code: &str) -> String {
        format!("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {code}, v4563\0")
    }

    #[test]
    fn active_directory_reason_codes_are_read() {
        let checks = [AccountCheck::ActiveDirectory];
        let judge = |code: &str| judge_bind(&result(49, &ad_diagnostic(code), None), &checks);
        assert_eq!(
            judge("533"),
            BindOutcome::Refused(DirectoryError::AccountDisabled(
                "the directory answered `data 533`".into()
            ))
        );
        assert!(matches!(
            judge("532"),
            BindOutcome::Refused(DirectoryError::PasswordExpired(_))
        ));
        assert!(matches!(
            judge("701"),
            BindOutcome::Refused(DirectoryError::AccountExpired(_))
        ));
        assert!(matches!(
            judge("773"),
            BindOutcome::Refused(DirectoryError::PasswordMustChange(_))
        ));
        // Locked out: said whatever the password, so it proves nothing.
        assert_eq!(judge("775"), BindOutcome::Invalid(CredentialFailure::AccountLocked));
        assert_eq!(judge("52e"), BindOutcome::Invalid(CredentialFailure::WrongPassword));
        assert_eq!(judge("525"), BindOutcome::Invalid(CredentialFailure::WrongPassword));
        // Only read when the Active Directory check is on.
        assert_eq!(
            judge_bind(&result(49, &ad_diagnostic("533"), None), &[AccountCheck::Ppolicy]),
            BindOutcome::Invalid(CredentialFailure::WrongPassword)
        );
        assert_eq!(
            judge_bind(&result(49, "no reason given", None), &ALL),
            BindOutcome::Invalid(CredentialFailure::WrongPassword)
        );
    }
}
