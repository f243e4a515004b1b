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

/// The filter for the groups that any of `group_dns` is a direct member of: the nested
/// filter once per DN (escaped), OR-ed together.
pub(crate) fn parent_groups_filter(template: &str, group_dns: &[String]) -> String {
    let parts: Vec<String> = group_dns
        .iter()
        .map(|dn| fill_placeholders(template, &[("{dn}", &ldap_escape(dn.as_str()))]))
        .collect();
    match parts.as_slice() {
        [one] => one.clone(),
        several => format!("(|{})", several.concat()),
    }
}

/// The filter that finds a person by their stable id: `object_filter` AND the id. A
/// `*guid` attribute with a UUID-shaped id is matched as the 16 bytes Active Directory
/// stores (byte order as [`format_binary_id`](super::entry_mapping::format_binary_id)
/// renders them); an id of hex digits may also be a binary id rendered as hex, so both
/// forms are asked for. Every byte is escaped.
pub(crate) fn id_search_filter(object_filter: &str, attribute: &str, id: &str) -> String {
    let guid = attribute.to_ascii_lowercase().ends_with("guid");
    let assertion = match uuid::Uuid::parse_str(id) {
        Ok(uuid) if guid => format!("({attribute}={})", escape_bytes(&uuid.to_bytes_le())),
        _ => match hex_bytes(id) {
            Some(bytes) => format!(
                "(|({attribute}={})({attribute}={}))",
                ldap_escape(id),
                escape_bytes(&bytes)
            ),
            None => format!("({attribute}={})", ldap_escape(id)),
        },
    };
    if object_filter.is_empty() {
        assertion
    } else {
        format!("(&{object_filter}{assertion})")
    }
}

/// Every byte as `\xx`: RFC 4515's form for any octet.
fn escape_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The bytes an even-length string of hex digits stands for.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
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
    fn parent_group_filters_or_one_assertion_per_group() {
        let template = "(&(objectClass=groupOfNames)(member={dn}))";
        assert_eq!(
            parent_groups_filter(template, &["cn=a,dc=x".into()]),
            "(&(objectClass=groupOfNames)(member=cn=a,dc=x))"
        );
        assert_eq!(
            parent_groups_filter(template, &["cn=a,dc=x".into(), "cn=b*(c),dc=x".into()]),
            "(|(&(objectClass=groupOfNames)(member=cn=a,dc=x))\
             (&(objectClass=groupOfNames)(member=cn=b\\2a\\28c\\29,dc=x)))"
        );
    }

    #[test]
    fn object_guid_ids_are_searched_as_their_bytes() {
        assert_eq!(
            id_search_filter(
                "(sAMAccountType=805306368)",
                "objectGUID",
                "8a3c5f5e-1b2c-4d4e-9f10-112233445566"
            ),
            "(&(sAMAccountType=805306368)\
             (objectGUID=\\5e\\5f\\3c\\8a\\2c\\1b\\4e\\4d\\9f\\10\\11\\22\\33\\44\\55\\66))"
        );
    }

    #[test]
    fn text_ids_are_escaped() {
        assert_eq!(
            id_search_filter(
                "(objectClass=inetOrgPerson)",
                "entryUUID",
                "0f8d0a64-7f1b-103e-8e4c-21c5c1a3b0a1"
            ),
            "(&(objectClass=inetOrgPerson)(entryUUID=0f8d0a64-7f1b-103e-8e4c-21c5c1a3b0a1))"
        );
        assert_eq!(id_search_filter("", "uid", "*)(uid=*"), "(uid=\\2a\\29\\28uid=\\2a)");
        // Not a UUID, so not a GUID either: searched as text.
        assert_eq!(id_search_filter("", "objectGUID", "x*"), "(objectGUID=x\\2a)");
    }

    #[test]
    fn hex_ids_are_also_tried_as_binary() {
        assert_eq!(
            id_search_filter("", "nsUniqueId", "01abff"),
            "(|(nsUniqueId=01abff)(nsUniqueId=\\01\\ab\\ff))"
        );
        assert_eq!(hex_bytes("abc"), None);
        assert_eq!(hex_bytes("zz"), None);
        assert_eq!(hex_bytes("00ff"), Some(vec![0, 255]));
    }

    #[test]
    fn values_that_look_like_placeholders_are_not_expanded() {
        assert_eq!(
            group_search_filter("(&(member={dn})(memberUid={username}))", "cn={username}", "{dn}"),
            "(&(member=cn={username})(memberUid={dn}))"
        );
    }
}
