//! What the directory says about a person who signed in.

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
    /// Group names, sorted, without duplicates.
    pub groups: Vec<String>,
}
