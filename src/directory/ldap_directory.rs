//! [`LdapDirectory`]: the [`Directory`] backed by an LDAP server through ldap3.

use std::fmt;
use std::sync::Arc;

use ldap3::{dn_escape, Ldap, LdapResult, Scope, SearchEntry};

use super::account_state::{
    account_state, judge_bind, password_policy_request, wants_password_policy, AccountState, BindOutcome, PasswordState,
};
use super::connection::{LdapServer, OperationFailure, SearchRequest, Step};
use super::directory_error::{describe_result_code, CredentialFailure, DirectoryError};
use super::directory_user::DirectoryUser;
use super::entry_mapping::{
    attempt_identity, group_from_entry, map_user, member_of_groups, requested_attributes, stable_id,
};
use super::nested_groups::{claim_values, group_dns, with_ancestors, GroupRef, MAX_GROUPS};
use super::search_filters::{group_search_filter, id_search_filter, parent_groups_filter, user_search_filter};
use super::server_set::ServerSet;
use super::{AttemptGate, AttemptSubject, Directory};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{GroupSource, LdapConfig};
use crate::metrics::{LdapMetrics, LdapServerSample};

/// Longer sign-in names are refused without a search (they cannot be real, and the
/// filter would grow with them).
pub const MAX_USERNAME_BYTES: usize = 256;
/// Longer passwords are refused without a bind: far beyond any passphrase, and nobody's
/// 64 KB form should travel to the directory server.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longer ids are not looked up either.
const MAX_ID_BYTES: usize = 256;
/// Two entries are enough to know that a name is ambiguous.
const USER_SEARCH_SIZE_LIMIT: i32 = 2;
/// Groups of one person; the server's own limit applies too.
const GROUP_SEARCH_SIZE_LIMIT: i32 = MAX_GROUPS as i32;
/// Groups whose own groups are asked for in one search (nested groups, search mode).
const PARENT_SEARCH_BATCH: usize = 50;
/// LDAP sizeLimitExceeded: the entries that were sent are still valid.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const NO_SUCH_OBJECT: u32 = 32;

/// Reserves the attempt with the caller's gate, or ends the sign-in.
async fn reserve(gate: &dyn AttemptGate, subject: AttemptSubject<'_>) -> Result<(), DirectoryError> {
    gate.reserve(subject)
        .await
        .map_err(|refused| DirectoryError::AttemptRefused {
            retry_after: refused.retry_after,
        })
}

/// The directory at `ldap.url` (and `ldap.urls`, for failover). Creating it does not
/// connect; the first request does.
pub struct LdapDirectory {
    config: LdapConfig,
    /// The servers, each with its pool of service-account connections; every operation
    /// goes through it (`with_service_connection`, `with_fresh_connection`).
    servers: ServerSet,
    user_attributes: Vec<String>,
    /// `ldap.user_filter`, or the filter built from the object filter and login attributes.
    user_filter: String,
    /// For account expiry (Active Directory's accountExpires).
    clock: SharedClock,
}

impl fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("urls", &self.servers.urls())
            .field("base_dn", &self.config.base_dn)
            .field("bind_dn", &self.config.bind_dn)
            .field("preset", &self.config.preset)
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    pub fn new(config: LdapConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A directory whose account-expiry checks read `clock`.
    pub fn with_clock(config: LdapConfig, clock: SharedClock) -> Self {
        let servers = ServerSet::from_config(&config);
        let user_attributes = requested_attributes(&config);
        let user_filter = config.effective_user_filter();
        LdapDirectory {
            config,
            servers,
            user_attributes,
            user_filter,
            clock,
        }
    }

    /// Records bind and search latencies of every server in `metrics`.
    pub fn with_metrics(mut self, metrics: &LdapMetrics) -> Self {
        self.servers.attach_metrics(metrics);
        self
    }

    /// The entries matching the user filter: none, one, or two (meaning "several").
    async fn find_user_entries(
        &self,
        server: &LdapServer,
        ldap: Ldap,
        username: &str,
    ) -> Result<Vec<SearchEntry>, OperationFailure> {
        let filter = user_search_filter(&self.user_filter, username);
        self.search_people(server, ldap, &filter).await
    }

    /// People matching `filter` under the base DN: none, one, or two (meaning "several").
    async fn search_people(
        &self,
        server: &LdapServer,
        mut ldap: Ldap,
        filter: &str,
    ) -> Result<Vec<SearchEntry>, OperationFailure> {
        let outcome = server
            .search(
                &mut ldap,
                SearchRequest {
                    base: &self.config.base_dn,
                    scope: Scope::Subtree,
                    filter,
                    attributes: &self.user_attributes,
                    size_limit: USER_SEARCH_SIZE_LIMIT,
                },
                Step::UserSearch,
            )
            .await?;
        match outcome.result.rc {
            0 => Ok(outcome.entries),
            SIZE_LIMIT_EXCEEDED if outcome.entries.len() >= 2 => Ok(outcome.entries),
            _ => Err(self.search_failure(server, &outcome.result, &self.config.base_dn, Step::UserSearch)),
        }
    }

    /// One entry by its DN with the person's attributes; `None` when it is gone.
    async fn read_person(
        &self,
        server: &LdapServer,
        mut ldap: Ldap,
        dn: &str,
    ) -> Result<Option<SearchEntry>, OperationFailure> {
        let outcome = server
            .search(
                &mut ldap,
                SearchRequest {
                    base: dn,
                    scope: Scope::Base,
                    filter: "(objectClass=*)",
                    attributes: &self.user_attributes,
                    size_limit: 1,
                },
                Step::UserSearch,
            )
            .await?;
        match outcome.result.rc {
            0 => Ok(outcome.entries.into_iter().next()),
            NO_SUCH_OBJECT => Ok(None),
            _ => Err(self.search_failure(server, &outcome.result, dn, Step::UserSearch)),
        }
    }

    /// The groups the group search finds for a person (their direct groups).
    async fn search_direct_groups(
        &self,
        server: &LdapServer,
        ldap: Ldap,
        user_dn: &str,
        username: &str,
    ) -> Result<Vec<GroupRef>, OperationFailure> {
        let filter = group_search_filter(&self.config.groups.filter, user_dn, username);
        self.search_groups(server, ldap, &filter, user_dn).await
    }

    /// The groups that any of `group_dns` is a direct member of, by the nested filter.
    async fn search_parent_groups(
        &self,
        server: &LdapServer,
        ldap: Ldap,
        group_dns: &[String],
    ) -> Result<Vec<GroupRef>, OperationFailure> {
        let mut parents = Vec::new();
        for batch in group_dns.chunks(PARENT_SEARCH_BATCH) {
            let filter = parent_groups_filter(&self.config.groups.nested_filter, batch);
            let what = batch.first().map(String::as_str).unwrap_or_default();
            parents.extend(self.search_groups(server, ldap.clone(), &filter, what).await?);
        }
        Ok(parents)
    }

    async fn search_groups(
        &self,
        server: &LdapServer,
        mut ldap: Ldap,
        filter: &str,
        member_dn: &str,
    ) -> Result<Vec<GroupRef>, OperationFailure> {
        let groups = &self.config.groups;
        let attributes = [groups.name_attribute.clone()];
        let outcome = server
            .search(
                &mut ldap,
                SearchRequest {
                    base: &groups.base_dn,
                    scope: Scope::Subtree,
                    filter,
                    attributes: &attributes,
                    size_limit: GROUP_SEARCH_SIZE_LIMIT,
                },
                Step::GroupSearch,
            )
            .await?;
        match outcome.result.rc {
            0 => {}
            SIZE_LIMIT_EXCEEDED => tracing::warn!(
                member = %member_dn,
                groups = outcome.entries.len(),
                "the group search hit the size limit; only the groups returned are used"
            ),
            _ => return Err(self.search_failure(server, &outcome.result, &groups.base_dn, Step::GroupSearch)),
        }
        Ok(outcome
            .entries
            .iter()
            .map(|entry| group_from_entry(entry, &groups.name_attribute))
            .collect())
    }

    /// The groups listed in the memberOf attribute of each of `group_dns` (nested groups,
    /// memberOf mode). A group that is gone or hidden from the service account has none.
    async fn read_parent_groups(
        &self,
        server: &LdapServer,
        mut ldap: Ldap,
        group_dns: &[String],
    ) -> Result<Vec<GroupRef>, OperationFailure> {
        let member_of = &self.config.attributes.member_of;
        let attributes = [member_of.clone()];
        let mut parents = Vec::new();
        for dn in group_dns {
            let outcome = server
                .search(
                    &mut ldap,
                    SearchRequest {
                        base: dn,
                        scope: Scope::Base,
                        filter: "(objectClass=*)",
                        attributes: &attributes,
                        size_limit: 1,
                    },
                    Step::GroupSearch,
                )
                .await?;
            match outcome.result.rc {
                0 => parents.extend(
                    outcome
                        .entries
                        .iter()
                        .flat_map(|entry| member_of_groups(entry, member_of)),
                ),
                NO_SUCH_OBJECT => tracing::debug!(group = %dn, "a memberOf value names a group that does not exist"),
                _ => return Err(self.search_failure(server, &outcome.result, dn, Step::GroupSearch)),
            }
        }
        Ok(parents)
    }

    /// The groups of `entry`: from the configured source, nested groups followed to
    /// `groups.nested_depth` levels.
    async fn groups_of(&self, entry: &SearchEntry, username: &str) -> Result<Vec<GroupRef>, DirectoryError> {
        let groups = &self.config.groups;
        let found = match self.config.group_source() {
            GroupSource::None => return Ok(Vec::new()),
            GroupSource::MemberOf => {
                let direct = member_of_groups(entry, &self.config.attributes.member_of);
                with_ancestors(direct, groups.nested_depth, |level| async move {
                    self.servers
                        .with_service_connection(|server, ldap| self.read_parent_groups(server, ldap, &level))
                        .await
                })
                .await?
            }
            GroupSource::Search => {
                let direct = self
                    .servers
                    .with_service_connection(|server, ldap| {
                        self.search_direct_groups(server, ldap, &entry.dn, username)
                    })
                    .await?;
                // An empty nested filter: the group filter already finds nested groups.
                let depth = if groups.nested_filter.is_empty() {
                    0
                } else {
                    groups.nested_depth
                };
                with_ancestors(direct, depth, |level| async move {
                    self.servers
                        .with_service_connection(|server, ldap| self.search_parent_groups(server, ldap, &level))
                        .await
                })
                .await?
            }
        };
        Ok(found)
    }

    /// The person as the claims need them, groups included: the `groups` claim (names or
    /// DNs, as configured) and the groups' DNs.
    async fn directory_user(&self, entry: &SearchEntry, typed_username: &str) -> Result<DirectoryUser, DirectoryError> {
        let mut user = map_user(entry, &self.config, typed_username, Vec::new())?;
        let found = self.groups_of(entry, &user.username).await?;
        user.groups = claim_values(&found, self.config.groups.value);
        user.group_dns = group_dns(&found);
        Ok(user)
    }

    /// After the directory accepted the password of an account whose attributes (read before
    /// the bind) say it cannot be used: reads them again, since a successful bind may just
    /// have ended an expired lockout (Active Directory, ppolicy), and refuses if they still do.
    async fn refuse_unusable(&self, entry: &SearchEntry, before: AccountState) -> Result<(), DirectoryError> {
        if before.is_usable() {
            return Ok(());
        }
        let fresh = self
            .servers
            .with_service_connection(|server, ldap| self.read_person(server, ldap, &entry.dn))
            .await?;
        let state = match fresh {
            Some(fresh) => account_state(&fresh, &self.config.account_checks, self.clock.now()),
            None => before,
        };
        match state.into_error() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn read_search_base(&self, server: &LdapServer, mut ldap: Ldap) -> Result<(), OperationFailure> {
        let no_attributes = ["1.1".to_string()];
        let outcome = server
            .search(
                &mut ldap,
                SearchRequest {
                    base: &self.config.base_dn,
                    scope: Scope::Base,
                    filter: "(objectClass=*)",
                    attributes: &no_attributes,
                    size_limit: 1,
                },
                Step::BaseRead,
            )
            .await?;
        match (outcome.result.rc, outcome.entries.len()) {
            (0, 1) => Ok(()),
            // An entry the service account may not read looks absent: say so plainly.
            (0, _) => Err(OperationFailure {
                error: DirectoryError::Search(format!(
                    "search base {} is not visible to the service account",
                    self.config.base_dn
                )),
                connection_lost: false,
            }),
            _ => Err(self.search_failure(server, &outcome.result, &self.config.base_dn, Step::BaseRead)),
        }
    }

    fn search_failure(
        &self,
        server: &LdapServer,
        result: &ldap3::LdapResult,
        base: &str,
        step: Step,
    ) -> OperationFailure {
        let error = if let Some(unavailable) = server.unavailable_result(result, step) {
            unavailable
        } else if result.rc == NO_SUCH_OBJECT {
            let what = match step {
                Step::GroupSearch => "group search base",
                _ => "search base",
            };
            DirectoryError::Search(format!("{what} {base} does not exist ({NO_SUCH_OBJECT})"))
        } else {
            let what = match step {
                Step::GroupSearch => "group search",
                Step::BaseRead => "reading the search base",
                _ => "user search",
            };
            DirectoryError::Search(format!(
                "{what} under {base} failed: {}",
                describe_result_code(result.rc, &result.text)
            ))
        };
        OperationFailure {
            error,
            connection_lost: false,
        }
    }

    /// Binds as `dn` with `password` on a connection of its own (to the first server that
    /// answers), then closes it, and returns the server's answer for
    /// [`judge_bind`](super::account_state::judge_bind). The password policy control is
    /// asked for when a ppolicy-style check is configured.
    async fn check_password(&self, dn: &str, password: &str) -> Result<LdapResult, DirectoryError> {
        let ask_policy = wants_password_policy(&self.config.account_checks);
        self.servers
            .with_fresh_connection(|server, mut ldap| async move {
                if ask_policy {
                    ldap.with_controls(password_policy_request());
                }
                let result = server.bind(&mut ldap, dn, password, Step::PasswordCheck).await?;
                // Busy or unavailable: the next server is asked instead.
                match server.unavailable_result(&result, Step::PasswordCheck) {
                    Some(error) => Err(OperationFailure {
                        error,
                        connection_lost: false,
                    }),
                    None => Ok(result),
                }
            })
            .await
    }

    /// Spends what a real failed password check costs (a new connection and a bind with
    /// the supplied password), as a DN that cannot exist, so that the answer for an unknown
    /// name takes as long as the answer for a wrong password. The outcome is irrelevant.
    async fn spend_failed_bind(&self, password: &str) {
        let decoy = format!(
            "cn={},{}",
            dn_escape(format!("gatehouse-decoy-{}", uuid::Uuid::new_v4().simple())),
            self.config.base_dn
        );
        let decoy = decoy.as_str();
        let _ = self
            .servers
            .with_fresh_connection(|server, mut ldap| async move {
                server.bind(&mut ldap, decoy, password, Step::PasswordCheck).await
            })
            .await;
    }
}

#[async_trait::async_trait]
impl Directory for LdapDirectory {
    async fn authenticate_user_gated(
        &self,
        username: &str,
        password: &str,
        gate: &dyn AttemptGate,
    ) -> Result<DirectoryUser, DirectoryError> {
        // An empty password would make a successful "unauthenticated bind" (RFC 4513 5.1.2).
        if password.is_empty() {
            return Err(DirectoryError::InvalidCredentials(CredentialFailure::EmptyPassword));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(DirectoryError::InvalidCredentials(CredentialFailure::PasswordTooLong));
        }
        // No real sign-in name is blank, absurdly long or holds control characters (some
        // matching rules would ignore a trailing NUL, so "alice\0" is refused here).
        let unusable =
            username.trim().is_empty() || username.len() > MAX_USERNAME_BYTES || username.chars().any(char::is_control);
        let mut entries = if unusable {
            Vec::new()
        } else {
            self.servers
                .with_service_connection(|server, ldap| self.find_user_entries(server, ldap, username))
                .await?
        };
        let entry = match (entries.pop(), entries.is_empty()) {
            (Some(entry), true) => entry,
            (None, _) => {
                reserve(gate, AttemptSubject::NoEntry).await?;
                self.spend_failed_bind(password).await;
                return Err(DirectoryError::InvalidCredentials(CredentialFailure::UnknownUser));
            }
            (Some(_), false) => {
                tracing::warn!(
                    username = %username,
                    "more than one directory entry matches this sign-in name; refusing it"
                );
                reserve(gate, AttemptSubject::NoEntry).await?;
                self.spend_failed_bind(password).await;
                return Err(DirectoryError::InvalidCredentials(CredentialFailure::AmbiguousUser));
            }
        };
        let (id, entry_username) = attempt_identity(&entry, &self.config);
        reserve(
            gate,
            AttemptSubject::Entry {
                id: &id,
                username: entry_username.as_deref(),
            },
        )
        .await?;

        // Read now, judged only once the password is known to be right.
        let state = account_state(&entry, &self.config.account_checks, self.clock.now());
        let result = self.check_password(&entry.dn, password).await?;
        match judge_bind(&result, &self.config.account_checks) {
            BindOutcome::Accepted { password } => {
                self.refuse_unusable(&entry, state).await?;
                match password {
                    PasswordState::Fine => {}
                    PasswordState::Expired(why) => return Err(DirectoryError::PasswordExpired(why)),
                    PasswordState::MustChange(why) => return Err(DirectoryError::PasswordMustChange(why)),
                }
            }
            BindOutcome::Refused(error) => return Err(error),
            BindOutcome::Invalid(failure) => {
                if !result.text.trim().is_empty() {
                    // Active Directory says here why (locked, expired...); useful to operators.
                    tracing::debug!(user = %entry.dn, diagnostic = %result.text.trim(), "password check refused");
                }
                let failure = match failure {
                    CredentialFailure::WrongPassword => state.refused_bind(),
                    other => other,
                };
                return Err(DirectoryError::InvalidCredentials(failure));
            }
            BindOutcome::Other if !state.is_usable() => {
                // 389-DS refuses inactivated accounts with "unwilling to perform", whatever
                // the password: it is not known to be right, so nothing is told.
                tracing::debug!(
                    user = %entry.dn,
                    code = result.rc,
                    "password check of an account listed as unusable refused"
                );
                return Err(DirectoryError::InvalidCredentials(state.refused_bind()));
            }
            BindOutcome::Other => {
                return Err(DirectoryError::UserBind(format!(
                    "password check for {} refused: {}",
                    entry.dn,
                    describe_result_code(result.rc, &result.text)
                )))
            }
        }
        self.directory_user(&entry, username).await
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        if id.trim().is_empty() || id.len() > MAX_ID_BYTES {
            return Ok(None);
        }
        let id_attribute = &self.config.attributes.id;
        let filter = id_search_filter(&self.config.user_object_filter, id_attribute, id);
        let entries = self
            .servers
            .with_service_connection(|server, ldap| self.search_people(server, ldap, &filter))
            .await?;
        // The filter may match more loosely than the rendered id (case, hex or text): keep
        // only entries whose id reads exactly as asked.
        let mut matching: Vec<SearchEntry> = entries
            .into_iter()
            .filter(|entry| stable_id(entry, id_attribute).as_deref() == Some(id))
            .collect();
        let entry = match (matching.pop(), matching.is_empty()) {
            (None, _) => return Ok(None),
            (Some(entry), true) => entry,
            (Some(_), false) => {
                return Err(DirectoryError::Search(format!(
                    "more than one entry under {} has {id_attribute} {id}; the id attribute must be unique",
                    self.config.base_dn
                )))
            }
        };
        if let Some(error) = account_state(&entry, &self.config.account_checks, self.clock.now()).into_error() {
            return Err(error);
        }
        self.directory_user(&entry, "").await.map(Some)
    }

    async fn check_health(&self) -> Result<(), DirectoryError> {
        self.servers
            .with_service_connection(|server, ldap| self.read_search_base(server, ldap))
            .await
    }

    fn server_samples(&self) -> Vec<LdapServerSample> {
        self.servers.samples()
    }
}
