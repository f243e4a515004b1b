//! From a directory entry to a [`DirectoryUser`]: which attributes to ask for, how each
//! claim is read, how binary ids are rendered, and how group DNs become group names.

use std::collections::BTreeMap;

use ldap3::SearchEntry;

use super::account_state::state_attributes;
use super::directory_error::DirectoryError;
use super::directory_user::DirectoryUser;
use super::nested_groups::GroupRef;
use crate::config::LdapConfig;

/// The attributes to request for a user: every non-empty mapped name, the account-state
/// attributes and the extra claims' attributes, each once. Operational attributes such as
/// entryUUID, memberOf and pwdAccountLockedTime are only returned when asked for by name.
pub(crate) fn requested_attributes(config: &LdapConfig) -> Vec<String> {
    let attributes = &config.attributes;
    let mapped = [
        &attributes.id,
        &attributes.username,
        &attributes.name,
        &attributes.given_name,
        &attributes.family_name,
        &attributes.email,
        &attributes.member_of,
    ];
    let mut names: Vec<String> = Vec::new();
    let all = mapped
        .into_iter()
        .map(String::as_str)
        .chain(state_attributes(&config.account_checks))
        .chain(config.extra_claims.values().map(String::as_str));
    for name in all {
        if !name.is_empty() && !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    names
}

/// Builds the user from an entry found with [`requested_attributes`]. `typed_username` picks
/// the matching value when the username attribute has several (empty: the first).
/// `groups` are sorted and deduplicated here.
pub(crate) fn map_user(
    entry: &SearchEntry,
    config: &LdapConfig,
    typed_username: &str,
    groups: Vec<String>,
) -> Result<DirectoryUser, DirectoryError> {
    let attributes = &config.attributes;
    let id =
        stable_id(entry, &attributes.id).ok_or_else(|| DirectoryError::missing_attribute(&attributes.id, &entry.dn))?;
    let usernames = text_values(entry, &attributes.username);
    let username = usernames
        .iter()
        .find(|value| value.eq_ignore_ascii_case(typed_username))
        .or_else(|| usernames.iter().find(|value| !value.trim().is_empty()))
        .map(|value| value.to_string())
        .ok_or_else(|| DirectoryError::missing_attribute(&attributes.username, &entry.dn))?;
    let mut extra = BTreeMap::new();
    for (claim, attribute) in &config.extra_claims {
        let values = claim_values(entry, attribute);
        if !values.is_empty() {
            extra.insert(claim.clone(), values);
        }
    }
    Ok(DirectoryUser {
        id,
        dn: entry.dn.clone(),
        username,
        name: first_text(entry, &attributes.name),
        given_name: first_text(entry, &attributes.given_name),
        family_name: first_text(entry, &attributes.family_name),
        email: first_text(entry, &attributes.email),
        groups: sorted_unique(groups),
        group_dns: Vec::new(),
        extra,
    })
}

/// What a sign-in attempt on `entry` is counted against: its stable id (its DN when it has
/// none), and its username as the directory spells it.
pub(crate) fn attempt_identity(entry: &SearchEntry, config: &LdapConfig) -> (String, Option<String>) {
    let id = stable_id(entry, &config.attributes.id).unwrap_or_else(|| entry.dn.to_lowercase());
    (id, first_text(entry, &config.attributes.username))
}

/// The groups listed in a memberOf-style attribute, each named by its DN's first RDN value.
pub(crate) fn member_of_groups(entry: &SearchEntry, attribute: &str) -> Vec<GroupRef> {
    text_values(entry, attribute)
        .into_iter()
        .filter(|dn| !dn.trim().is_empty())
        .map(|dn| GroupRef {
            dn: dn.to_string(),
            name: group_name_from_dn(dn).unwrap_or_else(|| dn.to_string()),
        })
        .collect()
}

/// A group entry found by a group search, named by the first value of `name_attribute`,
/// else the value of the entry's first RDN.
pub(crate) fn group_from_entry(entry: &SearchEntry, name_attribute: &str) -> GroupRef {
    GroupRef {
        dn: entry.dn.clone(),
        name: first_text(entry, name_attribute)
            .or_else(|| group_name_from_dn(&entry.dn))
            .unwrap_or_else(|| entry.dn.clone()),
    }
}

pub(crate) fn sorted_unique(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// The value of the first RDN of `dn` with RFC 4514 escapes undone:
/// `cn=Ops\, Europe,ou=groups,dc=example,dc=org` gives `Ops, Europe`. For a multi-valued
/// RDN (`cn=a+ou=b,...`) the first value is taken. `None` when `dn` has no `attr=value`.
pub(crate) fn group_name_from_dn(dn: &str) -> Option<String> {
    let (_, value) = dn.split_once('=')?;
    let value = value.trim_start();
    if let Some(hex) = value.strip_prefix('#') {
        // A BER-encoded value: keep it as written, there is no text to recover.
        let end = hex.find([',', '+', ';']).unwrap_or(hex.len());
        return Some(format!("#{}", hex.get(..end)?.trim_end()));
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    // Trailing unescaped spaces are not part of the value (RFC 4514 section 3).
    let mut significant_len = 0;
    while let Some((&byte, after)) = rest.split_first() {
        match byte {
            b',' | b'+' | b';' => break,
            b'\\' => {
                let (decoded, after_escape) = match after {
                    [high, low, tail @ ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                        (hex_value(*high) * 16 + hex_value(*low), tail)
                    }
                    [escaped, tail @ ..] => (*escaped, tail),
                    [] => return None,
                };
                bytes.push(decoded);
                significant_len = bytes.len();
                rest = after_escape;
            }
            _ => {
                bytes.push(byte);
                if byte != b' ' {
                    significant_len = bytes.len();
                }
                rest = after;
            }
        }
    }
    bytes.truncate(significant_len);
    if bytes.is_empty() {
        return None;
    }
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

/// A binary id as text: 16 bytes are a GUID in Active Directory's byte order (the first
/// three fields little-endian), rendered as a lowercase UUID; anything else as hex.
pub(crate) fn format_binary_id(bytes: &[u8]) -> String {
    match <[u8; 16]>::try_from(bytes) {
        Ok(guid) => uuid::Uuid::from_bytes_le(guid).hyphenated().to_string(),
        Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// The id attribute's value. Binary values (objectGUID) are rendered by
/// [`format_binary_id`]; a 16-byte value of a `*guid` attribute is too, even in the rare
/// case that its bytes happen to be valid UTF-8.
pub(crate) fn stable_id(entry: &SearchEntry, attribute: &str) -> Option<String> {
    if let Some(bytes) = binary_values(entry, attribute).into_iter().find(|v| !v.is_empty()) {
        return Some(format_binary_id(bytes));
    }
    let text = text_values(entry, attribute)
        .into_iter()
        .find(|v| !v.trim().is_empty())?;
    if attribute.to_ascii_lowercase().ends_with("guid") && text.len() == 16 {
        return Some(format_binary_id(text.as_bytes()));
    }
    Some(text.to_string())
}

/// Every non-blank value of an extra claim's attribute, binary ones rendered by
/// [`format_binary_id`].
fn claim_values(entry: &SearchEntry, attribute: &str) -> Vec<String> {
    text_values(entry, attribute)
        .into_iter()
        .filter(|value| !value.trim().is_empty())
        .map(str::to_string)
        .chain(
            binary_values(entry, attribute)
                .into_iter()
                .filter(|value| !value.is_empty())
                .map(format_binary_id),
        )
        .collect()
}

/// The first non-blank text value; `None` for an empty attribute name.
fn first_text(entry: &SearchEntry, attribute: &str) -> Option<String> {
    text_values(entry, attribute)
        .into_iter()
        .find(|value| !value.trim().is_empty())
        .map(str::to_string)
}

/// Attribute names are case-insensitive, and servers answer with their own spelling.
fn text_values<'e>(entry: &'e SearchEntry, attribute: &str) -> Vec<&'e str> {
    if attribute.is_empty() {
        return Vec::new();
    }
    entry
        .attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().map(String::as_str))
        .collect()
}

fn binary_values<'e>(entry: &'e SearchEntry, attribute: &str) -> Vec<&'e [u8]> {
    if attribute.is_empty() {
        return Vec::new();
    }
    entry
        .bin_attrs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .flat_map(|(_, values)| values.iter().map(Vec::as_slice))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::LdapPreset;

    fn entry(dn: &str, attrs: &[(&str, &[&str])], bin_attrs: &[(&str, &[u8])]) -> SearchEntry {
        SearchEntry {
            dn: dn.to_string(),
            attrs: attrs
                .iter()
                .map(|(name, values)| (name.to_string(), values.iter().map(|v| v.to_string()).collect()))
                .collect(),
            bin_attrs: bin_attrs
                .iter()
                .map(|(name, value)| (name.to_string(), vec![value.to_vec()]))
                .collect::<HashMap<_, _>>(),
        }
    }

    #[test]
    fn group_name_is_the_first_rdn_value() {
        assert_eq!(
            group_name_from_dn("cn=staff,ou=groups,dc=example,dc=org").as_deref(),
            Some("staff")
        );
        assert_eq!(group_name_from_dn("CN = Admins ,OU=Groups").as_deref(), Some("Admins"));
        assert_eq!(group_name_from_dn("cn=solo").as_deref(), Some("solo"));
        assert_eq!(group_name_from_dn("cn=a+ou=b,dc=x").as_deref(), Some("a"));
    }

    #[test]
    fn group_name_undoes_rfc4514_escapes() {
        assert_eq!(
            group_name_from_dn("cn=Ops\\, Europe,ou=groups,dc=example,dc=org").as_deref(),
            Some("Ops, Europe")
        );
        assert_eq!(group_name_from_dn("cn=a\\2Cb\\3dc,dc=x").as_deref(), Some("a,b=c"));
        assert_eq!(
            group_name_from_dn("cn=d\\C3\\A9veloppeurs,dc=x").as_deref(),
            Some("développeurs")
        );
        assert_eq!(
            group_name_from_dn("cn=développeurs,dc=x").as_deref(),
            Some("développeurs")
        );
        assert_eq!(group_name_from_dn("cn=trailing\\ ,dc=x").as_deref(), Some("trailing "));
        assert_eq!(group_name_from_dn("cn=#04024869,dc=x").as_deref(), Some("#04024869"));
    }

    #[test]
    fn group_name_of_nonsense_is_none() {
        assert_eq!(group_name_from_dn("not a dn"), None);
        assert_eq!(group_name_from_dn("cn=,dc=x"), None);
        assert_eq!(group_name_from_dn("cn=broken\\"), None);
    }

    #[test]
    fn sixteen_byte_ids_are_guids_in_active_directory_order() {
        // The objectGUID bytes of {8a3c5f5e-1b2c-4d4e-9f10-112233445566}.
        let bytes = [
            0x5e, 0x5f, 0x3c, 0x8a, 0x2c, 0x1b, 0x4e, 0x4d, 0x9f, 0x10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
        ];
        assert_eq!(format_binary_id(&bytes), "8a3c5f5e-1b2c-4d4e-9f10-112233445566");
        assert_eq!(format_binary_id(&[0x01, 0xab, 0xff]), "01abff");
    }

    /// The OpenLDAP preset with memberOf groups.
    fn mapping() -> LdapConfig {
        let mut config = LdapConfig::default();
        config.attributes.member_of = "memberOf".into();
        config
    }

    fn names(groups: &[GroupRef]) -> Vec<String> {
        sorted_unique(groups.iter().map(|group| group.name.clone()).collect())
    }

    #[test]
    fn requested_attributes_skip_empty_and_repeated_names() {
        let mut config = mapping();
        config.attributes.given_name = String::new();
        config.attributes.name = "UID".into();
        config.account_checks = Vec::new();
        assert_eq!(
            requested_attributes(&config),
            ["entryUUID", "uid", "sn", "mail", "memberOf"]
        );
    }

    #[test]
    fn requested_attributes_include_account_state_and_extra_claims() {
        let mut config = LdapConfig::for_preset(LdapPreset::ActiveDirectory);
        config.extra_claims = BTreeMap::from([
            ("department".to_string(), "department".to_string()),
            ("mail2".to_string(), "MAIL".to_string()),
        ]);
        assert_eq!(
            requested_attributes(&config),
            [
                "objectGUID",
                "sAMAccountName",
                "displayName",
                "givenName",
                "sn",
                "mail",
                "memberOf",
                "userAccountControl",
                "lockoutTime",
                "accountExpires",
                "department",
            ]
        );
        assert!(requested_attributes(&LdapConfig::default()).contains(&"pwdAccountLockedTime".to_string()));
    }

    #[test]
    fn an_entry_maps_to_a_user() {
        let found = entry(
            "uid=alice,ou=people,dc=example,dc=org",
            &[
                ("entryuuid", &["0f8d0a64-7f1b-103e-8e4c-21c5c1a3b0a1"]),
                ("uid", &["alice", "Alice.L"]),
                ("cn", &["Alice Liddell"]),
                ("givenName", &["Alice"]),
                ("sn", &[" "]),
                (
                    "memberOf",
                    &[
                        "cn=staff,ou=groups,dc=example,dc=org",
                        "cn=admins,ou=groups,dc=example,dc=org",
                    ],
                ),
            ],
            &[],
        );
        let config = mapping();
        let groups = names(&member_of_groups(&found, &config.attributes.member_of));
        let user = map_user(&found, &config, "ALICE.l", groups).expect("maps");
        assert_eq!(
            user,
            DirectoryUser {
                id: "0f8d0a64-7f1b-103e-8e4c-21c5c1a3b0a1".into(),
                dn: "uid=alice,ou=people,dc=example,dc=org".into(),
                username: "Alice.L".into(),
                name: Some("Alice Liddell".into()),
                given_name: Some("Alice".into()),
                family_name: None,
                email: None,
                groups: vec!["admins".into(), "staff".into()],
                group_dns: Vec::new(),
                extra: BTreeMap::new(),
            }
        );
        // Found by something else than the username: the first value.
        assert_eq!(
            map_user(&found, &config, "", Vec::new()).expect("maps").username,
            "alice"
        );
    }

    #[test]
    fn extra_claims_take_every_value_and_skip_absent_attributes() {
        let guid = [
            0x5e, 0x5f, 0x3c, 0x8a, 0x2c, 0x1b, 0x4e, 0x4d, 0x9f, 0x10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
        ];
        let found = entry(
            "uid=nina,dc=x",
            &[
                ("entryUUID", &["id-1"]),
                ("uid", &["nina"]),
                ("departmentnumber", &["4711", " ", "0815"]),
            ],
            &[("externalGuid", &guid)],
        );
        let mut config = mapping();
        config.extra_claims = BTreeMap::from([
            ("department".to_string(), "departmentNumber".to_string()),
            ("external".to_string(), "externalGuid".to_string()),
            ("office".to_string(), "roomNumber".to_string()),
        ]);
        let user = map_user(&found, &config, "nina", Vec::new()).expect("maps");
        assert_eq!(
            user.extra,
            BTreeMap::from([
                ("department".to_string(), vec!["4711".to_string(), "0815".to_string()]),
                (
                    "external".to_string(),
                    vec!["8a3c5f5e-1b2c-4d4e-9f10-112233445566".to_string()]
                ),
            ])
        );
    }

    #[test]
    fn empty_attribute_names_leave_claims_out() {
        let found = entry(
            "uid=bob,dc=x",
            &[
                ("entryUUID", &["id-1"]),
                ("uid", &["bob"]),
                ("cn", &["Bob"]),
                ("mail", &["bob@x"]),
            ],
            &[],
        );
        let mut config = mapping();
        config.attributes.name = String::new();
        config.attributes.email = String::new();
        let user = map_user(&found, &config, "bob", vec!["b".into(), "a".into(), "b".into()]).expect("maps");
        assert_eq!(user.name, None);
        assert_eq!(user.email, None);
        assert_eq!(user.groups, ["a", "b"]);
    }

    #[test]
    fn binary_object_guid_becomes_a_uuid() {
        let guid = [
            0x5e, 0x5f, 0x3c, 0x8a, 0x2c, 0x1b, 0x4e, 0x4d, 0x9f, 0x10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
        ];
        let found = entry(
            "CN=Bob,DC=corp",
            &[("sAMAccountName", &["bob"])],
            &[("objectGUID", &guid)],
        );
        let config = LdapConfig::for_preset(LdapPreset::ActiveDirectory);
        let user = map_user(&found, &config, "bob", Vec::new()).expect("maps");
        assert_eq!(user.id, "8a3c5f5e-1b2c-4d4e-9f10-112233445566");
        assert_eq!(user.dn, "CN=Bob,DC=corp");
    }

    #[test]
    fn an_object_guid_that_happens_to_be_utf8_is_still_a_uuid() {
        let found = entry(
            "CN=Eve,DC=corp",
            &[("objectGUID", &["0123456789abcdef"]), ("uid", &["eve"])],
            &[],
        );
        let mut config = LdapConfig::default();
        config.attributes.id = "objectGUID".into();
        let user = map_user(&found, &config, "eve", Vec::new()).expect("maps");
        assert_eq!(user.id, "33323130-3534-3736-3839-616263646566");
    }

    #[test]
    fn missing_id_or_username_is_reported_with_the_dn() {
        let found = entry("uid=bob,dc=x", &[("uid", &["bob"])], &[]);
        assert_eq!(
            map_user(&found, &mapping(), "bob", Vec::new()),
            Err(DirectoryError::MissingAttribute(
                "attribute entryUUID missing on uid=bob,dc=x".into()
            ))
        );
        let found = entry("uid=bob,dc=x", &[("entryUUID", &["id-1"])], &[]);
        assert_eq!(
            map_user(&found, &mapping(), "bob", Vec::new()),
            Err(DirectoryError::MissingAttribute(
                "attribute uid missing on uid=bob,dc=x".into()
            ))
        );
    }

    #[test]
    fn group_entries_are_named_by_attribute_or_rdn() {
        let named = entry("cn=staff,ou=groups,dc=x", &[("cn", &["Staff", "Employees"])], &[]);
        assert_eq!(
            group_from_entry(&named, "cn"),
            GroupRef {
                dn: "cn=staff,ou=groups,dc=x".into(),
                name: "Staff".into()
            }
        );
        let unnamed = entry("cn=ops\\2C eu,ou=groups,dc=x", &[], &[]);
        assert_eq!(group_from_entry(&unnamed, "cn").name, "ops, eu");
    }

    #[test]
    fn member_of_values_are_named_by_their_rdn() {
        let found = entry(
            "uid=x,dc=x",
            &[("memberOf", &["CN=Ops\\, Europe,OU=Groups,DC=x", "", "not a dn"])],
            &[],
        );
        assert_eq!(
            member_of_groups(&found, "memberof"),
            [
                GroupRef {
                    dn: "CN=Ops\\, Europe,OU=Groups,DC=x".into(),
                    name: "Ops, Europe".into()
                },
                GroupRef {
                    dn: "not a dn".into(),
                    name: "not a dn".into()
                },
            ]
        );
    }
}
