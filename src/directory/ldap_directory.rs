//! [`LdapDirectory`]: the [`Directory`] backed by an LDAP server through ldap3.

use std::fmt;

use ldap3::{dn_escape, Ldap, Scope};

use super::connection::{LdapServer, OperationFailure, SearchRequest, Step};
use super::directory_error::{describe_result_code, CredentialFailure, DirectoryError};
use super::directory_user::DirectoryUser;
use super::entry_mapping::{
    group_name_from_entry, groups_from_member_of, map_user, requested_attributes, sorted_unique,
};
use super::search_filters::{group_search_filter, user_search_filter};
use super::server_set::ServerSet;
use super::Directory;
use crate::config::LdapConfig;

/// Longer sign-in names are refused without a search (they cannot be real, and the
/// filter would grow with them).
const MAX_USERNAME_BYTES: usize = 256;
/// Two entries are enough to know that a name is ambiguous.
const USER_SEARCH_SIZE_LIMIT: i32 = 2;
/// Groups of one person; the server's own limit applies too.
const GROUP_SEARCH_SIZE_LIMIT: i32 = 1000;
/// LDAP sizeLimitExceeded: the entries that were sent are still valid.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const NO_SUCH_OBJECT: u32 = 32;
const INVALID_CREDENTIALS: u32 = 49;

/// The directory at `ldap.url` (and `ldap.urls`, for failover). Creating it does not
/// connect; the first request does.
pub struct LdapDirectory {
    config: LdapConfig,
    /// The servers, each with its pool of service-account connections; every operation
    /// goes through it (`with_service_connection`, `with_fresh_connection`).
    servers: ServerSet,
    user_attributes: Vec<String>,
}

impl fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("urls", &self.servers.urls())
            .field("base_dn", &self.config.base_dn)
            .field("bind_dn", &self.config.bind_dn)
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    pub fn new(config: LdapConfig) -> Self {
        let servers = ServerSet::from_config(&config);
        let user_attributes = requested_attributes(&config.attributes);
        LdapDirectory {
            config,
            servers,
            user_attributes,
        }
    }

    /// The entries matching the user filter: none, one, or two (meaning "several").
    async fn find_user_entries(
        &self,
        server: &LdapServer,
        mut ldap: Ldap,
        username: &str,
    ) -> Result<Vec<ldap3::SearchEntry>, OperationFailure> {
        let filter = user_search_filter(&self.config.user_filter, username);
        let outcome = server
            .search(
                &mut ldap,
                SearchRequest {
                    base: &self.config.base_dn,
                    scope: Scope::Subtree,
                    filter: &filter,
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

    async fn find_group_names(
        &self,
        server: &LdapServer,
        mut ldap: Ldap,
        user_dn: &str,
        username: &str,
    ) -> Result<Vec<String>, OperationFailure> {
        let groups = &self.config.groups;
        let filter = group_search_filter(&groups.filter, user_dn, username);
        let attributes = [groups.name_attribute.clone()];
        let outcome = server
            .search(
                &mut ldap,
                SearchRequest {
                    base: &groups.base_dn,
                    scope: Scope::Subtree,
                    filter: &filter,
                    attributes: &attributes,
                    size_limit: GROUP_SEARCH_SIZE_LIMIT,
                },
                Step::GroupSearch,
            )
            .await?;
        match outcome.result.rc {
            0 => {}
            SIZE_LIMIT_EXCEEDED => tracing::warn!(
                user = %user_dn,
                groups = outcome.entries.len(),
                "the group search hit the size limit; only the groups returned are used"
            ),
            _ => return Err(self.search_failure(server, &outcome.result, &groups.base_dn, Step::GroupSearch)),
        }
        Ok(sorted_unique(
            outcome
                .entries
                .iter()
                .map(|entry| group_name_from_entry(entry, &groups.name_attribute))
                .collect(),
        ))
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
    /// answers), then closes it.
    async fn check_password(&self, dn: &str, password: &str) -> Result<(), DirectoryError> {
        let result = self
            .servers
            .with_fresh_connection(|server, mut ldap| async move {
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
            .await?;
        match result.rc {
            0 => Ok(()),
            INVALID_CREDENTIALS => {
                if !result.text.trim().is_empty() {
                    // Active Directory says here why (locked, expired...); useful to operators.
                    tracing::debug!(user = %dn, diagnostic = %result.text.trim(), "password check refused");
                }
                Err(DirectoryError::InvalidCredentials(CredentialFailure::WrongPassword))
            }
            _ => Err(DirectoryError::UserBind(format!(
                "password check for {dn} refused: {}",
                describe_result_code(result.rc, &result.text)
            ))),
        }
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
    async fn authenticate_user(&self, username: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        // An empty password would make a successful "unauthenticated bind" (RFC 4513 5.1.2).
        if password.is_empty() {
            return Err(DirectoryError::InvalidCredentials(CredentialFailure::EmptyPassword));
        }
        let mut entries = if username.trim().is_empty() || username.len() > MAX_USERNAME_BYTES {
            Vec::new()
        } else {
            self.servers
                .with_service_connection(|server, ldap| self.find_user_entries(server, ldap, username))
                .await?
        };
        let entry = match (entries.pop(), entries.is_empty()) {
            (Some(entry), true) => entry,
            (None, _) => {
                self.spend_failed_bind(password).await;
                return Err(DirectoryError::InvalidCredentials(CredentialFailure::UnknownUser));
            }
            (Some(_), false) => {
                tracing::warn!(
                    username = %username,
                    "more than one directory entry matches this sign-in name; refusing it"
                );
                self.spend_failed_bind(password).await;
                return Err(DirectoryError::InvalidCredentials(CredentialFailure::AmbiguousUser));
            }
        };

        self.check_password(&entry.dn, password).await?;

        let attributes = &self.config.attributes;
        let groups = if !attributes.member_of.is_empty() {
            groups_from_member_of(&entry, &attributes.member_of)
        } else if !self.config.groups.base_dn.is_empty() {
            let user = map_user(&entry, attributes, username, Vec::new())?;
            self.servers
                .with_service_connection(|server, ldap| self.find_group_names(server, ldap, &user.dn, &user.username))
                .await?
        } else {
            Vec::new()
        };
        map_user(&entry, attributes, username, groups)
    }

    async fn check_health(&self) -> Result<(), DirectoryError> {
        self.servers
            .with_service_connection(|server, ldap| self.read_search_base(server, ldap))
            .await
    }
}
