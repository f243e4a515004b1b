//! Which claims about a person each scope releases (OpenID Connect Core 5.4).

use serde_json::{Map, Value};

use super::people::PersonClaims;
use super::scopes::ScopeSet;

/// The claims `scope` releases, without `sub`. Absent attributes are left out rather than
/// sent as null.
pub fn scoped_claims(person: &PersonClaims, scope: &ScopeSet, email_verified: bool) -> Map<String, Value> {
    let mut claims = Map::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            claims.insert(name.to_string(), Value::String(value.clone()));
        }
    };
    if scope.contains("profile") {
        put("preferred_username", &Some(person.username.clone()));
        put("name", &person.name);
        put("given_name", &person.given_name);
        put("family_name", &person.family_name);
    }
    if scope.contains("email") && person.email.is_some() {
        put("email", &person.email);
        claims.insert("email_verified".into(), Value::Bool(email_verified));
    }
    if scope.contains("groups") {
        claims.insert(
            "groups".into(),
            Value::Array(person.groups.iter().cloned().map(Value::String).collect()),
        );
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_release_only_their_claims() {
        let person = PersonClaims {
            username: "alice".into(),
            name: Some("Alice".into()),
            email: Some("alice@example.org".into()),
            groups: vec!["staff".into()],
            ..PersonClaims::default()
        };
        let openid_only = scoped_claims(&person, &ScopeSet::parse("openid"), true);
        assert!(openid_only.is_empty());
        let all = scoped_claims(&person, &ScopeSet::parse("openid profile email groups"), true);
        assert_eq!(all["preferred_username"], "alice");
        assert_eq!(all["email_verified"], true);
        assert_eq!(all["groups"][0], "staff");
        assert!(!all.contains_key("given_name"));
        let no_email = PersonClaims { email: None, ..person };
        let claims = scoped_claims(&no_email, &ScopeSet::parse("openid email"), true);
        assert!(!claims.contains_key("email") && !claims.contains_key("email_verified"));
    }
}
