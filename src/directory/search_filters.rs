//! Search filters built from the configured templates. Every value is RFC 4515-escaped
//! (`ldap3::ldap_escape`), and placeholders are replaced in a single pass, so a value that
//! itself looks like `{dn}` is never expanded again.

use ldap3::ldap_escape;

/// The user search filter: `{username}` in `template` replaced by the escaped username.
pub(crate) fn user_search_filter(template: &str, username: &str) -> String {
    fill_placeholders(template, &[("{username}", &ldap_escape(username))])
}

/// The group search filter: `{dn}` and `{username}` replaced by the escaped user DN and
/// username.
pub(crate) fn group_search_filter(template: &str, user_dn: &str, username: &str) -> String {
    fill_placeholders(
        template,
        &[("{dn}", &ldap_escape(user_dn)), ("{username}", &ldap_escape(username))],
    )
}

/// Replaces each placeholder by its value, scanning `template` once from left to right.
fn fill_placeholders(template: &str, values: &[(&str, &str)]) -> String {
    let mut filled = String::with_capacity(template.len() + 64);
    let mut rest = template;
    'scan: while !rest.is_empty() {
        for (placeholder, value) in values {
            if let Some(after) = rest.strip_prefix(placeholder) {
                filled.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            filled.push(c);
        }
        rest = chars.as_str();
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_FILTER: &str = "(&(objectClass=inetOrgPerson)(uid={username}))";

    #[test]
    fn plain_usernames_are_inserted_as_they_are() {
        assert_eq!(
            user_search_filter(USER_FILTER, "alice"),
            "(&(objectClass=inetOrgPerson)(uid=alice))"
        );
        assert_eq!(
            user_search_filter(USER_FILTER, "José"),
            "(&(objectClass=inetOrgPerson)(uid=José))"
        );
    }

    #[test]
    fn filter_metacharacters_are_escaped() {
        assert_eq!(
            user_search_filter(USER_FILTER, "*"),
            "(&(objectClass=inetOrgPerson)(uid=\\2a))"
        );
        assert_eq!(
            user_search_filter(USER_FILTER, "*)(|(uid=*"),
            "(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28|\\28uid=\\2a))"
        );
        assert_eq!(
            user_search_filter(USER_FILTER, "a(b)c\\\0"),
            "(&(objectClass=inetOrgPerson)(uid=a\\28b\\29c\\5c\\00))"
        );
    }

    #[test]
    fn every_occurrence_is_replaced() {
        assert_eq!(
            user_search_filter("(|(uid={username})(mail={username}))", "o*malley"),
            "(|(uid=o\\2amalley)(mail=o\\2amalley))"
        );
    }

    #[test]
    fn group_filter_escapes_the_dn_and_the_username() {
        assert_eq!(
            group_search_filter(
                "(|(member={dn})(memberUid={username}))",
                "uid=a(b)c,ou=people,dc=example,dc=org",
                "a(b)c"
            ),
            "(|(member=uid=a\\28b\\29c,ou=people,dc=example,dc=org)(memberUid=a\\28b\\29c))"
        );
    }

    #[test]
    fn values_that_look_like_placeholders_are_not_expanded() {
        assert_eq!(
            group_search_filter("(&(member={dn})(memberUid={username}))", "cn={username}", "{dn}"),
            "(&(member=cn={username})(memberUid={dn}))"
        );
    }
}
