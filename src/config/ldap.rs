//! The `[ldap]` section: where the directory is, how people are found in it, which attributes
//! become which claims, where groups come from, and which account-state rules apply.
//!
//! A preset (`ldap.preset`) names the kind of directory and fills every mapping setting
//! with what that kind of directory uses; any setting written in the file or the
//! environment wins over the preset's value. The file is read into [`LdapConfigFile`],
//! where everything is optional, and resolved into the effective [`LdapConfig`] at once,
//! so the rest of Gatehouse (and `Config::validate`) only ever sees concrete values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// The kind of directory. It fills the defaults of the mapping settings; see
/// [`LdapConfig::for_preset`] and the README's "Directory" section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum LdapPreset {
    /// OpenLDAP and other RFC 2307bis directories: inetOrgPerson people found by `uid`,
    /// entryUUID as the id, groupOfNames / groupOfUniqueNames / posixGroup groups, ppolicy.
    #[default]
    #[serde(rename = "openldap")]
    OpenLdap,
    /// Microsoft Active Directory (and Samba AD): sAMAccountName, the binary objectGUID as
    /// the id, memberOf (or the in-chain group search), userAccountControl and lockoutTime.
    #[serde(rename = "active_directory")]
    ActiveDirectory,
    /// 389 Directory Server: nsUniqueId as the id, memberOf, nsAccountLock.
    #[serde(rename = "389ds")]
    Ds389,
    /// FreeIPA (389-DS underneath): ipaUniqueID as the id, memberOf, nsAccountLock.
    #[serde(rename = "freeipa")]
    FreeIpa,
    /// lldap: entryUUID, displayName, memberOf, groupOfUniqueNames groups with `member`.
    #[serde(rename = "lldap")]
    Lldap,
}

impl LdapPreset {
    pub const ALL: [LdapPreset; 5] = [
        LdapPreset::OpenLdap,
        LdapPreset::ActiveDirectory,
        LdapPreset::Ds389,
        LdapPreset::FreeIpa,
        LdapPreset::Lldap,
    ];

    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            LdapPreset::OpenLdap => "openldap",
            LdapPreset::ActiveDirectory => "active_directory",
            LdapPreset::Ds389 => "389ds",
            LdapPreset::FreeIpa => "freeipa",
            LdapPreset::Lldap => "lldap",
        }
    }

    fn user_object_filter(self) -> &'static str {
        match self {
            LdapPreset::OpenLdap | LdapPreset::FreeIpa => "(objectClass=inetOrgPerson)",
            // Normal user accounts only: no computers, trusts or groups.
            LdapPreset::ActiveDirectory => "(sAMAccountType=805306368)",
            // 389-DS 1.4+ (dsidm) creates nsAccount people; older instances inetOrgPerson.
            LdapPreset::Ds389 => "(|(objectClass=inetOrgPerson)(objectClass=nsAccount))",
            LdapPreset::Lldap => "(objectClass=person)",
        }
    }

    fn login_attribute(self) -> &'static str {
        match self {
            LdapPreset::ActiveDirectory => "sAMAccountName",
            _ => "uid",
        }
    }

    fn attributes(self) -> LdapAttributes {
        let (id, username, name, member_of) = match self {
            LdapPreset::OpenLdap => ("entryUUID", "uid", "cn", ""),
            LdapPreset::ActiveDirectory => ("objectGUID", "sAMAccountName", "displayName", "memberOf"),
            LdapPreset::Ds389 => ("nsUniqueId", "uid", "cn", "memberOf"),
            LdapPreset::FreeIpa => ("ipaUniqueID", "uid", "cn", "memberOf"),
            LdapPreset::Lldap => ("entryUUID", "uid", "displayName", "memberOf"),
        };
        LdapAttributes {
            id: id.into(),
            username: username.into(),
            name: name.into(),
            given_name: "givenName".into(),
            family_name: "sn".into(),
            email: "mail".into(),
            member_of: member_of.into(),
        }
    }

    fn groups(self) -> LdapGroups {
        const NAMES_OR_UNIQUE_NAMES: &str = "(|(&(objectClass=groupOfNames)(member={dn}))\
             (&(objectClass=groupOfUniqueNames)(uniqueMember={dn})))";
        let (filter, nested_filter, nested_depth) = match self {
            LdapPreset::OpenLdap => (
                "(|(&(objectClass=groupOfNames)(member={dn}))\
                 (&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))\
                 (&(objectClass=posixGroup)(memberUid={username})))",
                NAMES_OR_UNIQUE_NAMES,
                DEFAULT_NESTED_DEPTH,
            ),
            // The in-chain rule makes the server return every group, however nested.
            LdapPreset::ActiveDirectory => (
                "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))",
                "",
                DEFAULT_NESTED_DEPTH,
            ),
            LdapPreset::Ds389 => (NAMES_OR_UNIQUE_NAMES, NAMES_OR_UNIQUE_NAMES, DEFAULT_NESTED_DEPTH),
            // FreeIPA's memberOf already lists indirect memberships.
            LdapPreset::FreeIpa => (
                "(&(objectClass=groupOfNames)(member={dn}))",
                "(&(objectClass=groupOfNames)(member={dn}))",
                0,
            ),
            // lldap has no nested groups.
            LdapPreset::Lldap => ("(&(objectClass=groupOfUniqueNames)(member={dn}))", "", 0),
        };
        LdapGroups {
            base_dn: String::new(),
            filter: filter.into(),
            name_attribute: "cn".into(),
            value: GroupValue::Name,
            nested_depth,
            nested_filter: nested_filter.into(),
        }
    }

    fn account_checks(self) -> Vec<AccountCheck> {
        match self {
            LdapPreset::OpenLdap => vec![AccountCheck::Ppolicy],
            LdapPreset::ActiveDirectory => vec![AccountCheck::ActiveDirectory],
            LdapPreset::Ds389 | LdapPreset::FreeIpa => vec![AccountCheck::NsAccountLock],
            LdapPreset::Lldap => Vec::new(),
        }
    }
}

/// Group levels above a person's own groups that are followed by default.
pub const DEFAULT_NESTED_DEPTH: u32 = 5;
/// The most levels `groups.nested_depth` may ask for.
pub const MAX_NESTED_DEPTH: u32 = 20;

/// A family of account-state rules. People whose account the rules call disabled, locked
/// or expired cannot sign in; an expired password or one that must be changed is refused
/// with a message saying so. Checked only once the password is known to be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountCheck {
    /// OpenLDAP's ppolicy overlay: `pwdAccountLockedTime` (000001010000Z: disabled by an
    /// administrator; any other time: locked), and the password policy control on the
    /// password check, which reports expired passwords and ones that must be changed
    /// (389-DS answers it too).
    Ppolicy,
    /// Active Directory: `userAccountControl` (ACCOUNTDISABLE 0x2, LOCKOUT 0x10),
    /// `lockoutTime` > 0, `accountExpires`, and the reason codes in a refused bind
    /// (data 532, 533, 701, 773, 775).
    ActiveDirectory,
    /// 389-DS and FreeIPA: `nsAccountLock: TRUE` is a disabled account; also asks for the
    /// password policy control, like `ppolicy`.
    NsAccountLock,
}

/// What a group contributes to the `groups` claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupValue {
    /// The group's name: `groups.name_attribute` for searched groups, the value of the
    /// first RDN for memberOf DNs (`cn=staff,ou=groups,...` gives `staff`).
    #[default]
    Name,
    /// The group's full DN, as the directory returns it.
    Dn,
}

/// The effective `[ldap]` settings: the preset's defaults with everything the file or the
/// environment set on top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "LdapConfigFile")]
pub struct LdapConfig {
    /// The kind of directory whose defaults fill every setting not given explicitly.
    pub preset: LdapPreset,
    /// `ldap://host:port` or `ldaps://host:port`: the first server tried.
    pub url: String,
    /// More servers, tried in order after `url` when it is down or hung (failover).
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS before binding.
    pub starttls: bool,
    /// PEM file of CA certificates trusted for `ldaps://` and StartTLS, in addition to the
    /// system's. Empty: the system's trust store only.
    pub ca_file: Option<PathBuf>,
    /// Verify the server's certificate and name. Turning this off is for labs only and is
    /// logged loudly at every start.
    pub tls_verify: bool,
    /// Seconds a server that failed or timed out is skipped before it is tried again.
    pub retry_after: u64,
    /// Idle service-account connections kept open per server.
    pub pool_size: usize,
    /// The service account used to search for users. Empty: anonymous search.
    pub bind_dn: String,
    pub bind_password: Secret,
    /// Where users are searched (subtree).
    pub base_dn: String,
    /// The whole user search filter, `{username}` standing for the RFC 4515-escaped
    /// sign-in name. Empty (the default): built from `user_object_filter` and
    /// `login_attributes`, see [`LdapConfig::effective_user_filter`].
    pub user_filter: String,
    /// Which entries are people, e.g. `(objectClass=inetOrgPerson)`. Also used to find a
    /// person by id. Empty: any entry.
    pub user_object_filter: String,
    /// The attributes a sign-in name is compared with: `["uid"]`, `["mail"]` to sign in
    /// by email, `["uid", "mail"]` for either, `["userPrincipalName"]`...
    pub login_attributes: Vec<String>,
    /// Seconds allowed to open a connection.
    pub connect_timeout: u64,
    /// Seconds allowed for one bind or search.
    pub operation_timeout: u64,
    pub attributes: LdapAttributes,
    pub groups: LdapGroups,
    /// Release directory email addresses with `email_verified: true` (the directory's
    /// administrators manage them). Set false when people can edit their own address.
    pub email_verified: bool,
    /// The account-state rules applied at sign-in and when a person is looked up by id.
    pub account_checks: Vec<AccountCheck>,
    /// Further claims read from attributes: claim name -> attribute name, e.g.
    /// `department = "departmentNumber"`. Released as [`DirectoryUser::extra`]
    /// (crate::directory::DirectoryUser).
    pub extra_claims: BTreeMap<String, String>,
    /// Seconds between checks that a signed-in person still exists and is not disabled in
    /// the directory, made when their session is used (at most once per person per
    /// interval, shared by every instance through the database).
    pub recheck_interval: i64,
}

impl LdapConfig {
    /// Every setting as the preset has it; no server, base or account yet.
    pub fn for_preset(preset: LdapPreset) -> Self {
        LdapConfig {
            preset,
            url: String::new(),
            urls: Vec::new(),
            starttls: false,
            ca_file: None,
            tls_verify: true,
            retry_after: 30,
            pool_size: 4,
            bind_dn: String::new(),
            bind_password: Secret::default(),
            base_dn: String::new(),
            user_filter: String::new(),
            user_object_filter: preset.user_object_filter().into(),
            login_attributes: vec![preset.login_attribute().into()],
            connect_timeout: 5,
            operation_timeout: 5,
            attributes: preset.attributes(),
            groups: preset.groups(),
            email_verified: true,
            account_checks: preset.account_checks(),
            recheck_interval: 300,
            extra_claims: BTreeMap::new(),
        }
    }

    /// Every server URL, in the order they are tried.
    pub fn server_urls(&self) -> Vec<&str> {
        std::iter::once(self.url.as_str())
            .chain(self.urls.iter().map(String::as_str))
            .filter(|url| !url.is_empty())
            .collect()
    }

    /// The user search filter with its `{username}` placeholder: `user_filter` when set,
    /// else `(&OBJECT(ATTR={username}))` from `user_object_filter` and the one login
    /// attribute, or `(&OBJECT(|(A={username})(B={username})))` for several.
    pub fn effective_user_filter(&self) -> String {
        if !self.user_filter.is_empty() {
            return self.user_filter.clone();
        }
        let assertions: Vec<String> = self
            .login_attributes
            .iter()
            .filter(|name| !name.is_empty())
            .map(|name| format!("({name}={{username}})"))
            .collect();
        let login = match assertions.as_slice() {
            [one] => one.clone(),
            several => format!("(|{})", several.concat()),
        };
        if self.user_object_filter.is_empty() {
            login
        } else {
            format!("(&{}{login})", self.user_object_filter)
        }
    }

    /// Where groups come from.
    pub fn group_source(&self) -> GroupSource {
        if !self.groups.base_dn.is_empty() {
            GroupSource::Search
        } else if !self.attributes.member_of.is_empty() {
            GroupSource::MemberOf
        } else {
            GroupSource::None
        }
    }

    /// Adds every problem with these settings to `problems` (also used before saving
    /// settings an administrator changed).
    pub fn validate(&self, problems: &mut Vec<String>) {
        let servers = self.server_urls();
        if servers.is_empty() {
            problems.push("`ldap.url` is required (ldap://host:port or ldaps://host:port)".into());
        }
        for url in &servers {
            if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
                problems.push(format!(
                    "`ldap.url`/`ldap.urls` must start with ldap:// or ldaps://, got `{url}`"
                ));
            } else if self.starttls && url.starts_with("ldaps://") {
                problems.push(format!(
                    "`ldap.starttls` applies to ldap:// URLs; `{url}` is already TLS"
                ));
            }
        }
        if let Some(path) = &self.ca_file {
            if !path.is_file() {
                problems.push(format!("`ldap.ca_file` {} is not a readable file", path.display()));
            }
        }
        if self.pool_size == 0 {
            problems.push("`ldap.pool_size` must be at least 1".into());
        }
        if self.base_dn.is_empty() {
            problems.push("`ldap.base_dn` is required".into());
        }
        if !self.bind_dn.is_empty() && self.bind_password.is_empty() {
            problems.push("`ldap.bind_password` is required when `ldap.bind_dn` is set".into());
        }
        if self.connect_timeout == 0 || self.operation_timeout == 0 {
            problems.push("`ldap.connect_timeout` and `ldap.operation_timeout` must be at least 1 second".into());
        }
        if self.recheck_interval <= 0 {
            problems.push("`ldap.recheck_interval` must be a positive number of seconds".into());
        }
        self.validate_user_search(problems);
        self.validate_attributes(problems);
        self.validate_groups(problems);
        self.validate_extra_claims(problems);
    }

    fn validate_user_search(&self, problems: &mut Vec<String>) {
        if self.user_filter.is_empty() {
            if self.login_attributes.is_empty() {
                problems.push(
                    "`ldap.login_attributes` must name at least one attribute (or set `ldap.user_filter`)".into(),
                );
            }
            for name in &self.login_attributes {
                if !is_attribute_name(name) {
                    problems.push(format!("`ldap.login_attributes`: `{name}` is not an attribute name"));
                }
            }
        } else {
            if !self.user_filter.contains("{username}") {
                problems.push("`ldap.user_filter` must contain {username}".into());
            }
            if !is_parenthesised(&self.user_filter) {
                problems.push("`ldap.user_filter` must be a parenthesised LDAP filter".into());
            }
        }
        if !self.user_object_filter.is_empty() && !is_parenthesised(&self.user_object_filter) {
            problems.push(
                "`ldap.user_object_filter` must be a parenthesised LDAP filter, e.g. (objectClass=person)".into(),
            );
        }
        if self.user_object_filter.contains('{') {
            problems.push("`ldap.user_object_filter` takes no placeholders".into());
        }
    }

    fn validate_attributes(&self, problems: &mut Vec<String>) {
        let attributes = &self.attributes;
        if attributes.id.is_empty() || attributes.username.is_empty() {
            problems.push("`ldap.attributes.id` and `ldap.attributes.username` are required".into());
        }
        if attributes.id.eq_ignore_ascii_case("dn") || attributes.id.eq_ignore_ascii_case("distinguishedName") {
            problems.push("`ldap.attributes.id` must be a stable id (entryUUID, objectGUID...), never the DN".into());
        }
        let named = [
            ("id", &attributes.id),
            ("username", &attributes.username),
            ("name", &attributes.name),
            ("given_name", &attributes.given_name),
            ("family_name", &attributes.family_name),
            ("email", &attributes.email),
            ("member_of", &attributes.member_of),
        ];
        for (key, name) in named {
            if !name.is_empty() && !is_attribute_name(name) {
                problems.push(format!("`ldap.attributes.{key}`: `{name}` is not an attribute name"));
            }
        }
    }

    fn validate_groups(&self, problems: &mut Vec<String>) {
        let groups = &self.groups;
        if !groups.base_dn.is_empty() {
            if !groups.filter.contains("{dn}") && !groups.filter.contains("{username}") {
                problems.push("`ldap.groups.filter` must contain {dn} or {username}".into());
            }
            if !is_parenthesised(&groups.filter) {
                problems.push("`ldap.groups.filter` must be a parenthesised LDAP filter".into());
            }
        }
        if !groups.nested_filter.is_empty() {
            if !groups.nested_filter.contains("{dn}") {
                problems.push("`ldap.groups.nested_filter` must contain {dn} (the DN of a group)".into());
            }
            if groups.nested_filter.contains("{username}") {
                problems.push(
                    "`ldap.groups.nested_filter` finds the groups of a group: {username} means nothing there".into(),
                );
            }
            if !is_parenthesised(&groups.nested_filter) {
                problems.push("`ldap.groups.nested_filter` must be a parenthesised LDAP filter".into());
            }
        }
        if groups.nested_depth > MAX_NESTED_DEPTH {
            problems.push(format!(
                "`ldap.groups.nested_depth` must be at most {MAX_NESTED_DEPTH}, got {}",
                groups.nested_depth
            ));
        }
        if !groups.name_attribute.is_empty() && !is_attribute_name(&groups.name_attribute) {
            problems.push(format!(
                "`ldap.groups.name_attribute`: `{}` is not an attribute name",
                groups.name_attribute
            ));
        }
    }

    fn validate_extra_claims(&self, problems: &mut Vec<String>) {
        for (claim, attribute) in &self.extra_claims {
            let well_formed = !claim.is_empty()
                && claim.len() <= 128
                && claim
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'));
            if !well_formed {
                problems.push(format!(
                    "`ldap.extra_claims`: `{claim}` is not a usable claim name (letters, digits, _ - . : /)"
                ));
            } else if RESERVED_CLAIMS.contains(&claim.as_str()) {
                problems.push(format!(
                    "`ldap.extra_claims`: `{claim}` is a standard claim; Gatehouse sets it itself"
                ));
            }
            if !is_attribute_name(attribute) {
                problems.push(format!(
                    "`ldap.extra_claims.{claim}`: `{attribute}` is not an attribute name"
                ));
            }
        }
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig::for_preset(LdapPreset::OpenLdap)
    }
}

/// Where the `groups` claim comes from, decided by which settings are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSource {
    /// `groups.base_dn` is set: groups are searched there with `groups.filter`.
    Search,
    /// Otherwise, `attributes.member_of` names an attribute listing the person's groups.
    MemberOf,
    /// Neither: no groups.
    None,
}

/// Claims Gatehouse sets itself (OpenID Connect Core 5.1 and 2, RFC 9068, RFC 7519), which
/// `extra_claims` may not take.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
    "s_hash",
    "scope",
    "client_id",
    "cnf",
    "typ",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    "groups",
];

/// An attribute description as RFC 4512 has it: a name (letters, digits, hyphens, starting
/// with a letter) or a numeric OID, optionally followed by `;options`.
pub fn is_attribute_name(name: &str) -> bool {
    let mut parts = name.split(';');
    let Some(base) = parts.next() else {
        return false;
    };
    let keystring = base.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let numeric_oid = !base.is_empty()
        && base
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    (keystring || numeric_oid)
        && parts.all(|option| !option.is_empty() && option.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Starts with `(`, ends with `)`, and its parentheses balance (escaped ones are `\28`/`\29`
/// in a filter, so every literal parenthesis counts).
fn is_parenthesised(filter: &str) -> bool {
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return false;
    }
    let mut depth: i64 = 0;
    for c in filter.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Which directory attribute fills which claim. An empty name leaves the claim out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LdapAttributes {
    /// The stable, never reassigned id that becomes `sub` (entryUUID, objectGUID, ...).
    /// A binary value (objectGUID) is rendered as a UUID in Active Directory's byte order.
    pub id: String,
    /// `preferred_username`.
    pub username: String,
    pub name: String,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    /// Attribute on the user listing group DNs (memberOf), used when `groups.base_dn` is
    /// empty. Empty too: no groups.
    pub member_of: String,
}

impl Default for LdapAttributes {
    /// The OpenLDAP preset's.
    fn default() -> Self {
        LdapPreset::OpenLdap.attributes()
    }
}

/// Groups: searched under `base_dn` when it is set, else read from `attributes.member_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LdapGroups {
    /// Where groups are searched. Empty: no search (memberOf is used when named).
    pub base_dn: String,
    /// `{dn}` is the user's escaped DN, `{username}` the escaped username.
    pub filter: String,
    /// The group attribute that names it in the `groups` claim.
    pub name_attribute: String,
    /// The group's name or its DN in the `groups` claim.
    pub value: GroupValue,
    /// How many levels of groups-in-groups above a person's own groups are followed
    /// (0: none). Cycles are harmless.
    pub nested_depth: u32,
    /// In search mode, the filter that finds the groups a group `{dn}` is a member of.
    /// Empty: the group filter already returns nested groups (Active Directory's in-chain
    /// rule) and none are followed. In memberOf mode each group's own memberOf is read.
    pub nested_filter: String,
}

impl Default for LdapGroups {
    /// The OpenLDAP preset's.
    fn default() -> Self {
        LdapPreset::OpenLdap.groups()
    }
}

/// The `[ldap]` section as written: every key optional. Resolved into [`LdapConfig`] by
/// taking the preset's defaults and replacing each one that is given.
#[derive(Debug, Default, Deserialize)]
pub struct LdapConfigFile {
    preset: Option<LdapPreset>,
    url: Option<String>,
    urls: Option<Vec<String>>,
    starttls: Option<bool>,
    ca_file: Option<PathBuf>,
    tls_verify: Option<bool>,
    retry_after: Option<u64>,
    pool_size: Option<usize>,
    bind_dn: Option<String>,
    bind_password: Option<Secret>,
    base_dn: Option<String>,
    user_filter: Option<String>,
    user_object_filter: Option<String>,
    login_attributes: Option<Vec<String>>,
    connect_timeout: Option<u64>,
    operation_timeout: Option<u64>,
    #[serde(default)]
    attributes: LdapAttributesFile,
    #[serde(default)]
    groups: LdapGroupsFile,
    email_verified: Option<bool>,
    account_checks: Option<Vec<AccountCheck>>,
    extra_claims: Option<BTreeMap<String, String>>,
    recheck_interval: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LdapAttributesFile {
    id: Option<String>,
    username: Option<String>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    member_of: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LdapGroupsFile {
    base_dn: Option<String>,
    filter: Option<String>,
    name_attribute: Option<String>,
    value: Option<GroupValue>,
    nested_depth: Option<u32>,
    nested_filter: Option<String>,
}

/// `target = value` for each given value.
fn given<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

impl From<LdapConfigFile> for LdapConfig {
    fn from(file: LdapConfigFile) -> Self {
        let mut config = LdapConfig::for_preset(file.preset.unwrap_or_default());
        given(&mut config.url, file.url);
        given(&mut config.urls, file.urls);
        given(&mut config.starttls, file.starttls);
        config.ca_file = file.ca_file.or(config.ca_file);
        given(&mut config.tls_verify, file.tls_verify);
        given(&mut config.retry_after, file.retry_after);
        given(&mut config.pool_size, file.pool_size);
        given(&mut config.bind_dn, file.bind_dn);
        given(&mut config.bind_password, file.bind_password);
        given(&mut config.base_dn, file.base_dn);
        given(&mut config.user_filter, file.user_filter);
        given(&mut config.user_object_filter, file.user_object_filter);
        given(&mut config.login_attributes, file.login_attributes);
        given(&mut config.connect_timeout, file.connect_timeout);
        given(&mut config.operation_timeout, file.operation_timeout);
        given(&mut config.email_verified, file.email_verified);
        given(&mut config.account_checks, file.account_checks);
        given(&mut config.extra_claims, file.extra_claims);
        given(&mut config.recheck_interval, file.recheck_interval);
        let (attributes, target) = (file.attributes, &mut config.attributes);
        given(&mut target.id, attributes.id);
        given(&mut target.username, attributes.username);
        given(&mut target.name, attributes.name);
        given(&mut target.given_name, attributes.given_name);
        given(&mut target.family_name, attributes.family_name);
        given(&mut target.email, attributes.email);
        given(&mut target.member_of, attributes.member_of);
        let (groups, target) = (file.groups, &mut config.groups);
        given(&mut target.base_dn, groups.base_dn);
        given(&mut target.filter, groups.filter);
        given(&mut target.name_attribute, groups.name_attribute);
        given(&mut target.value, groups.value);
        given(&mut target.nested_depth, groups.nested_depth);
        given(&mut target.nested_filter, groups.nested_filter);
        config
    }
}

#[cfg(test)]
mod tests;
