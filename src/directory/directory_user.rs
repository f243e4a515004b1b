//! What the directory says about a person who signed in.

use std::collections::BTreeMap;

/// A person found in the directory, with the attributes mapped to claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The stable, never reassigned id (entryUUID, objectGUID rendered as a UUID...); the
    /// `sub` claim. Never the DN, which changes when a person is renamed or moved.
    pub id: String,
    /// The entry's distinguished name, as the server returned it.
    pub dn: String,
    /// The sign-in name as the directory spells it (which may differ in case from what
    /// was typed).
    pub username: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    /// Group names (or DNs, per `ldap.groups.value`), nested groups included, sorted,
    /// without duplicates: the `groups` claim.
    pub groups: Vec<String>,
    /// The DNs of the same groups, as the server spelt them, sorted, one per group (DNs
    /// that differ only in case or spacing count once). What administrator groups named by
    /// DN are matched against, so that two groups with one name in different places of
    /// the directory are never confused.
    pub group_dns: Vec<String>,
    /// The claims configured in `[ldap.extra_claims]`: claim name -> the attribute's
    /// non-blank values in the directory's order (binary values as a UUID for 16 bytes,
    /// else lowercase hex). A claim whose attribute is absent or empty is left out.
    pub extra: BTreeMap<String, Vec<String>>,
}
