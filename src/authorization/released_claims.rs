//! Which claims about a person each scope releases (OpenID Connect Core 5.4).

use serde_json::{Map, Value};

use super::people::PersonClaims;
use super::scopes::ScopeSet;

/// The claims `scope` releases, without `sub`. Absent attributes are left out rather than
/// sent as null.
pub fn scoped_claims(person: &PersonClaims, scope: &ScopeSet, email_verified: bool) -> Map<String, Value> {
    let mut claims = Map::new();
    if scope.contains("profile") {
        put(&mut claims, "preferred_username", &Some(person.username.clone()));
        put(&mut claims, "name", &person.name);
        put(&mut claims, "given_name", &person.given_name);
        put(&mut claims, "family_name", &person.family_name);
        // `[ldap.extra_claims]`: one value is released as a string, several as an array.
        for (name, values) in &person.extra {
            let value = match values.as_slice() {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            };
            claims.entry(name.clone()).or_insert(value);
        }
    }
    if scope.contains("email") && person.email.is_some() {
        put(&mut claims, "email", &person.email);
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

fn put(claims: &mut Map<String, Value>, name: &str, value: &Option<String>) {
    if let Some(value) = value {
        claims.insert(name.to_string(), Value::String(value.clone()));
    }
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
        let no_email = PersonClaims {
            email: None,
            ..person.clone()
        };
        let claims = scoped_claims(&no_email, &ScopeSet::parse("openid email"), true);
        assert!(!claims.contains_key("email") && !claims.contains_key("email_verified"));
    }
}

#[cfg(test)]
mod extra_claim_tests {
    use super::*;

    #[test]
    fn extra_claims_come_with_profile_as_string_or_array() {
        let mut person = PersonClaims {
            username: "alice".into(),
            ..PersonClaims::default()
        };
        person.extra.insert("department".into(), vec!["R&D".into()]);
        person.extra.insert("roles".into(), vec!["a".into(), "b".into()]);
        let claims = scoped_claims(&person, &ScopeSet::parse("openid profile"), true);
        assert_eq!(claims["department"], "R&D");
        assert_eq!(claims["roles"], serde_json::json!(["a", "b"]));
        assert!(!scoped_claims(&person, &ScopeSet::parse("openid email"), true).contains_key("department"));
    }
}
