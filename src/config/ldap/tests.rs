use super::*;
use crate::config::Config;

/// The `[ldap]` section of a configuration that is otherwise complete, plus every problem.
fn parse(ldap: &str) -> (Option<LdapConfig>, Vec<String>) {
    let text = format!("issuer = \"https://sso.example.org\"\n[ldap]\n{ldap}");
    let table = text.parse::<toml::Table>().expect("valid TOML");
    let mut problems = Vec::new();
    let config = Config::from_table(table, &mut problems);
    if let Some(config) = &config {
        problems.extend(config.validate());
    }
    (config.map(|config| config.ldap), problems)
}

fn resolved(ldap: &str) -> LdapConfig {
    let (config, problems) = parse(ldap);
    assert!(problems.is_empty(), "{problems:#?}");
    config.expect("parses")
}

const SERVER: &str = "url = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=example,dc=org\"\n";

#[test]
fn without_a_preset_the_openldap_defaults_apply() {
    let ldap = resolved(SERVER);
    assert_eq!(ldap.preset, LdapPreset::OpenLdap);
    assert_eq!(
        ldap,
        LdapConfig {
            url: "ldap://127.0.0.1:389".into(),
            base_dn: "dc=example,dc=org".into(),
            ..LdapConfig::default()
        }
    );
    assert_eq!(
        ldap.effective_user_filter(),
        "(&(objectClass=inetOrgPerson)(uid={username}))"
    );
    assert_eq!(ldap.attributes.id, "entryUUID");
    assert_eq!(ldap.account_checks, [AccountCheck::Ppolicy]);
    assert_eq!(ldap.groups.nested_depth, DEFAULT_NESTED_DEPTH);
    assert_eq!(ldap.groups.value, GroupValue::Name);
    assert_eq!(ldap.group_source(), GroupSource::None);
}

#[test]
fn the_active_directory_preset_fills_every_mapping() {
    let ldap = resolved(&format!("preset = \"active_directory\"\n{SERVER}"));
    assert_eq!(ldap.preset, LdapPreset::ActiveDirectory);
    assert_eq!(
        ldap.effective_user_filter(),
        "(&(sAMAccountType=805306368)(sAMAccountName={username}))"
    );
    assert_eq!(ldap.attributes.id, "objectGUID");
    assert_eq!(ldap.attributes.username, "sAMAccountName");
    assert_eq!(ldap.attributes.name, "displayName");
    assert_eq!(ldap.attributes.member_of, "memberOf");
    assert_eq!(ldap.group_source(), GroupSource::MemberOf);
    assert_eq!(
        ldap.groups.filter,
        "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))"
    );
    assert_eq!(ldap.groups.nested_filter, "");
    assert_eq!(ldap.account_checks, [AccountCheck::ActiveDirectory]);
}

#[test]
fn every_preset_is_valid_on_its_own() {
    for preset in LdapPreset::ALL {
        let (config, problems) = parse(&format!("preset = \"{}\"\n{SERVER}", preset.as_str()));
        assert!(problems.is_empty(), "{}: {problems:#?}", preset.as_str());
        let ldap = config.expect("parses");
        assert_eq!(ldap.preset, preset);
        assert_eq!(
            ldap,
            LdapConfig {
                url: "ldap://127.0.0.1:389".into(),
                base_dn: "dc=example,dc=org".into(),
                ..LdapConfig::for_preset(preset)
            }
        );
        assert!(
            ldap.effective_user_filter().contains("{username}"),
            "{}",
            preset.as_str()
        );
        assert!(is_parenthesised(&ldap.effective_user_filter()));
    }
    assert_eq!(LdapConfig::for_preset(LdapPreset::Ds389).attributes.id, "nsUniqueId");
    assert_eq!(LdapConfig::for_preset(LdapPreset::FreeIpa).attributes.id, "ipaUniqueID");
    assert_eq!(
        LdapConfig::for_preset(LdapPreset::FreeIpa).account_checks,
        [AccountCheck::NsAccountLock]
    );
    let lldap = LdapConfig::for_preset(LdapPreset::Lldap);
    assert_eq!(lldap.attributes.name, "displayName");
    assert_eq!(lldap.groups.filter, "(&(objectClass=groupOfUniqueNames)(member={dn}))");
    assert!(lldap.account_checks.is_empty());
}

#[test]
fn explicit_settings_win_over_the_preset() {
    let ldap = resolved(&format!(
        "preset = \"active_directory\"\n{SERVER}login_attributes = [\"userPrincipalName\"]\n\
         account_checks = []\n\
         [ldap.attributes]\nname = \"cn\"\nmember_of = \"\"\n\
         [ldap.groups]\nbase_dn = \"dc=example,dc=org\"\nvalue = \"dn\"\nnested_depth = 2\n"
    ));
    assert_eq!(ldap.preset, LdapPreset::ActiveDirectory);
    assert_eq!(
        ldap.effective_user_filter(),
        "(&(sAMAccountType=805306368)(userPrincipalName={username}))"
    );
    assert_eq!(ldap.attributes.name, "cn");
    assert_eq!(ldap.attributes.member_of, "");
    // Untouched settings keep the preset's values.
    assert_eq!(ldap.attributes.id, "objectGUID");
    assert_eq!(ldap.attributes.username, "sAMAccountName");
    assert!(ldap.groups.filter.contains("1.2.840.113556.1.4.1941"));
    assert_eq!(ldap.groups.value, GroupValue::Dn);
    assert_eq!(ldap.groups.nested_depth, 2);
    assert_eq!(ldap.group_source(), GroupSource::Search);
    assert!(ldap.account_checks.is_empty());
}

#[test]
fn the_environment_can_choose_the_preset_and_override_a_mapping() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, format!("issuer = \"https://sso.example.org\"\n[ldap]\n{SERVER}")).expect("write");
    let env = [
        ("GATEHOUSE__LDAP__PRESET", "lldap"),
        ("GATEHOUSE__LDAP__LOGIN_ATTRIBUTES", "[\"uid\", \"mail\"]"),
        ("GATEHOUSE__LDAP__ATTRIBUTES__ID", "uid"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load(&path, true, env).expect("loads");
    assert_eq!(config.ldap.preset, LdapPreset::Lldap);
    assert_eq!(
        config.ldap.effective_user_filter(),
        "(&(objectClass=person)(|(uid={username})(mail={username})))"
    );
    assert_eq!(config.ldap.attributes.id, "uid");
    assert_eq!(config.ldap.attributes.name, "displayName");
}

#[test]
fn an_explicit_user_filter_is_used_as_it_is() {
    let ldap = resolved(&format!(
        "{SERVER}user_filter = \"(|(uid={{username}})(mail={{username}}))\"\n"
    ));
    assert_eq!(ldap.effective_user_filter(), "(|(uid={username})(mail={username}))");
}

#[test]
fn a_user_filter_without_an_object_filter_is_just_the_login_assertion() {
    let ldap = LdapConfig {
        user_object_filter: String::new(),
        login_attributes: vec!["mail".into()],
        ..LdapConfig::default()
    };
    assert_eq!(ldap.effective_user_filter(), "(mail={username})");
}

#[test]
fn unknown_presets_checks_and_keys_are_reported() {
    let (_, problems) = parse(&format!("preset = \"novell\"\n{SERVER}\n[ldap.groups]\ncolour = 1\n"));
    let all = problems.join("\n");
    assert!(all.contains("novell"), "{all}");
    let (_, problems) = parse(&format!(
        "account_checks = [\"kerberos\"]\n{SERVER}[ldap.groups]\ncolour = 1\n"
    ));
    let all = problems.join("\n");
    assert!(all.contains("kerberos"), "{all}");
    let (_, problems) = parse(&format!("{SERVER}[ldap.groups]\ncolour = 1\n"));
    assert_eq!(problems, ["unknown key `ldap.groups.colour`"]);
}

#[test]
fn every_mapping_problem_is_reported_at_once() {
    let (_, problems) = parse(&format!(
        "{SERVER}login_attributes = [\"uid)(x\"]\nuser_object_filter = \"objectClass=person\"\n\
         [ldap.attributes]\nid = \"dn\"\nemail = \"mail address\"\n\
         [ldap.groups]\nbase_dn = \"ou=groups,dc=example,dc=org\"\nfilter = \"(objectClass=groupOfNames)\"\n\
         nested_filter = \"(member={{username}})\"\nnested_depth = 50\nname_attribute = \"c n\"\n\
         [ldap.extra_claims]\nsub = \"uid\"\n\"bad claim\" = \"uid\"\ndepartment = \"department(Number)\"\n"
    ));
    let all = problems.join("\n");
    for expected in [
        "`ldap.login_attributes`: `uid)(x` is not an attribute name",
        "`ldap.user_object_filter` must be a parenthesised LDAP filter",
        "never the DN",
        "`ldap.attributes.email`: `mail address` is not an attribute name",
        "`ldap.groups.filter` must contain {dn} or {username}",
        "`ldap.groups.nested_filter` must contain {dn}",
        "{username} means nothing there",
        "`ldap.groups.nested_depth` must be at most 20, got 50",
        "`ldap.groups.name_attribute`: `c n` is not an attribute name",
        "`sub` is a standard claim",
        "`bad claim` is not a usable claim name",
        "`ldap.extra_claims.department`: `department(Number)` is not an attribute name",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}

#[test]
fn an_explicit_user_filter_must_hold_the_username() {
    let (_, problems) = parse(&format!("{SERVER}user_filter = \"(uid=alice)\"\n"));
    assert!(
        problems.iter().any(|p| p.contains("must contain {username}")),
        "{problems:?}"
    );
    let (_, problems) = parse(&format!("{SERVER}user_filter = \"(uid={{username}}\"\n"));
    assert!(problems.iter().any(|p| p.contains("parenthesised")), "{problems:?}");
    let (_, problems) = parse(&format!("{SERVER}login_attributes = []\n"));
    assert!(
        problems.iter().any(|p| p.contains("must name at least one attribute")),
        "{problems:?}"
    );
}

#[test]
fn extra_claims_map_claim_names_to_attributes() {
    let ldap = resolved(&format!(
        "{SERVER}[ldap.extra_claims]\ndepartment = \"departmentNumber\"\n\"https://example.org/role\" = \"employeeType\"\n"
    ));
    assert_eq!(ldap.extra_claims.len(), 2);
    assert_eq!(ldap.extra_claims["department"], "departmentNumber");
    assert_eq!(ldap.extra_claims["https://example.org/role"], "employeeType");
}

#[test]
fn attribute_names_follow_rfc_4512() {
    for good in [
        "uid",
        "entryUUID",
        "sAMAccountName",
        "x-custom-1",
        "2.5.4.3",
        "userCertificate;binary",
    ] {
        assert!(is_attribute_name(good), "{good}");
    }
    for bad in ["", "1uid", "uid=", "u id", "uid)", "2.5..4", "uid;", "*", "cn;(x)"] {
        assert!(!is_attribute_name(bad), "{bad}");
    }
}

#[test]
fn parentheses_must_balance() {
    assert!(is_parenthesised("(&(a=b)(c=d))"));
    assert!(!is_parenthesised("(a=b))("));
    assert!(!is_parenthesised("(a=b)(c=d"));
    assert!(!is_parenthesised("a=b"));
}

#[test]
fn the_effective_settings_serialize_and_read_back_unchanged() {
    let ldap = LdapConfig {
        url: "ldaps://ad.example.org".into(),
        base_dn: "DC=example,DC=org".into(),
        login_attributes: vec!["sAMAccountName".into(), "userPrincipalName".into()],
        extra_claims: BTreeMap::from([("department".to_string(), "department".to_string())]),
        ..LdapConfig::for_preset(LdapPreset::ActiveDirectory)
    };
    let text = toml::to_string(&ldap).expect("serializes");
    let back: LdapConfig = toml::from_str(&text).expect("reads back");
    assert_eq!(back, ldap);
}

#[test]
fn the_example_configuration_spells_out_the_openldap_preset() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gatehouse.example.toml");
    let config = Config::load(&path, true, Vec::new()).expect("the example loads");
    let ldap = config.ldap;
    let preset = LdapConfig::for_preset(LdapPreset::OpenLdap);
    assert_eq!(ldap.preset, LdapPreset::OpenLdap);
    assert_eq!(ldap.effective_user_filter(), preset.effective_user_filter());
    assert_eq!(ldap.user_object_filter, preset.user_object_filter);
    assert_eq!(ldap.login_attributes, preset.login_attributes);
    assert_eq!(ldap.attributes, preset.attributes);
    assert_eq!(ldap.account_checks, preset.account_checks);
    assert_eq!(
        ldap.groups,
        LdapGroups {
            base_dn: "ou=groups,dc=example,dc=org".into(),
            ..preset.groups
        }
    );
    assert!(ldap.extra_claims.is_empty());
}

#[test]
fn the_readme_directory_examples_are_valid() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let start = readme.find("\n## Directory\n").expect("a Directory section");
    let section = &readme[start..];
    let section = &section[..section.find("\n## Registering").unwrap_or(section.len())];
    let mut presets = Vec::new();
    for block in section.split("```toml\n").skip(1) {
        let block = block.split("```").next().expect("a closed block");
        // The examples read the password from a file; here it is given inline.
        let block = block.replace(
            "bind_password_file = \"/run/secrets/gatehouse-ldap\"",
            "bind_password = \"x\"",
        );
        let text = format!("issuer = \"https://sso.example.org\"\n{block}");
        let table = text.parse::<toml::Table>().unwrap_or_else(|e| panic!("{e}\n{block}"));
        let mut problems = Vec::new();
        let config = Config::from_table(table, &mut problems).expect("parses");
        problems.extend(config.validate());
        assert!(problems.is_empty(), "{problems:#?}\n{block}");
        presets.push(config.ldap.preset);
    }
    assert_eq!(presets, LdapPreset::ALL, "one worked example per preset, in order");
}
