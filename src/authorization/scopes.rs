//! The scopes Gatehouse understands and what each one means to a person.

/// Scopes in the order they are explained on the consent page.
pub const SUPPORTED_SCOPES: &[(&str, &str)] = &[
    ("openid", "Confirm who you are (your account identifier)"),
    ("profile", "See your name and username"),
    ("email", "See your email address"),
    ("groups", "See which groups you belong to"),
    (
        "offline_access",
        "Stay connected when you are not signed in (a refresh token)",
    ),
];

/// A normalised set of scopes: known ones only, deduplicated, in `SUPPORTED_SCOPES` order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parses a space-separated `scope` parameter. Unknown scopes are dropped, as OpenID
    /// Connect Core section 5.4 and RFC 6749 section 3.3 allow.
    pub fn parse(text: &str) -> ScopeSet {
        let requested: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
        ScopeSet(
            SUPPORTED_SCOPES
                .iter()
                .filter(|(name, _)| requested.contains(name))
                .map(|(name, _)| (*name).to_string())
                .collect(),
        )
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let joined = format!("{} {}", self, other);
        ScopeSet::parse(&joined)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// (scope, explanation) pairs for the consent page.
    pub fn descriptions(&self) -> Vec<(&'static str, &'static str)> {
        SUPPORTED_SCOPES
            .iter()
            .filter(|(name, _)| self.contains(name))
            .copied()
            .collect()
    }
}

impl std::fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// A scope token per RFC 6749 section 3.3: `%x21 / %x23-5B / %x5D-7E`.
pub fn is_valid_scope_parameter(text: &str) -> bool {
    text.split(' ').filter(|s| !s.is_empty()).all(|token| {
        token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_known_scopes_in_canonical_order() {
        let scopes = ScopeSet::parse("email  openid unknown groups openid");
        assert_eq!(scopes.to_string(), "openid email groups");
        assert!(scopes.contains("email"));
        assert!(!scopes.contains("profile"));
    }

    #[test]
    fn subset_and_union() {
        let small = ScopeSet::parse("openid email");
        let big = ScopeSet::parse("openid profile email");
        assert!(small.is_subset_of(&big));
        assert!(!big.is_subset_of(&small));
        assert_eq!(
            small.union(&ScopeSet::parse("groups")).to_string(),
            "openid email groups"
        );
    }

    #[test]
    fn scope_characters_are_checked() {
        assert!(is_valid_scope_parameter("openid profile"));
        assert!(!is_valid_scope_parameter("openid \"profile\""));
        assert!(!is_valid_scope_parameter("openid\\x"));
    }
}
