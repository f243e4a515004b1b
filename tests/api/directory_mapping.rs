//! Presets, claims, groups and account state, against real slapd: the shared directory
//! (tests/fixtures/ldap/directory.ldif, with the ppolicy and memberof overlays), directories
//! of their own for tests that change it, and an Active Directory look-alike
//! (tests/fixtures/ldap/active-directory.ldif).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use gatehouse::config::{AccountCheck, GroupValue, LdapConfig, LdapGroups, LdapPreset, Secret};
use gatehouse::directory::{CredentialFailure, Directory, DirectoryError, DirectoryUser, LdapDirectory};
use ldap3::{Mod, Scope, SearchEntry};

use crate::support::browser::Browser;
use crate::support::oauth::is_signed_in;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::spawn_app;

const AD_BASE: &str = "OU=Corp,DC=example,DC=org";
const ANN_GUID: &str = "8a3c5f5e-1b2c-4d4e-9f10-112233445566";
/// Bo's objectGUID bytes are the ASCII text "0123456789abcdef".
const BO_GUID: &str = "33323130-3534-3736-3839-616263646566";
const DAN_GUID: &str = "0b6f3c1e-5d7a-4c2b-8e9f-a1b2c3d4e5f6";

fn seed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ldap")
        .join(name)
}

async fn shared_config() -> LdapConfig {
    TestSlapd::shared().await.ldap_config()
}

/// The shared directory with groups from the memberOf attribute instead of a search.
async fn member_of_config() -> LdapConfig {
    let mut config = shared_config().await;
    config.attributes.member_of = "memberOf".into();
    config.groups.base_dn = String::new();
    config
}

/// The Active Directory preset pointed at a look-alike, as an administrator would write it.
fn active_directory_config(slapd: &TestSlapd) -> LdapConfig {
    LdapConfig {
        url: slapd.url.clone(),
        bind_dn: slapd.bind_dn.clone(),
        bind_password: Secret::new(&slapd.bind_password),
        base_dn: AD_BASE.into(),
        connect_timeout: 2,
        operation_timeout: 5,
        extra_claims: BTreeMap::from([("department".to_string(), "departmentNumber".to_string())]),
        ..LdapConfig::for_preset(LdapPreset::ActiveDirectory)
    }
}

async fn sign_in(config: &LdapConfig, username: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
    LdapDirectory::new(config.clone())
        .authenticate_user(username, password)
        .await
}

fn expect_refused(result: Result<DirectoryUser, DirectoryError>, expected: CredentialFailure, context: &str) {
    match result {
        Err(error @ DirectoryError::InvalidCredentials(_)) => {
            assert_eq!(error.credential_failure(), Some(expected), "{context}");
            assert_eq!(error.person_message(), None, "{context}: nothing particular is told");
        }
        Err(other) => panic!("{context}: expected invalid credentials ({expected}), got the error {other:?}"),
        Ok(user) => panic!("{context}: expected invalid credentials ({expected}), signed in as {user:?}"),
    }
}

/// The entryUUID slapd holds for `dn`, read as the rootDN.
async fn entry_uuid(slapd: &TestSlapd, dn: &str) -> String {
    let mut ldap = slapd.admin_connection().await;
    let (entries, _) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", vec!["entryUUID"])
        .await
        .and_then(|result| result.success())
        .expect("read the entry");
    let entry = SearchEntry::construct(entries.into_iter().next().expect("one entry"));
    entry.attrs["entryUUID"][0].clone()
}

async fn modify(slapd: &TestSlapd, dn: &str, changes: Vec<Mod<&str>>) {
    let mut ldap = slapd.admin_connection().await;
    ldap.modify(dn, changes)
        .await
        .and_then(|result| result.success())
        .unwrap_or_else(|e| panic!("modify {dn}: {e}"));
}

fn values(items: &[&'static str]) -> HashSet<&'static str> {
    items.iter().copied().collect()
}

// --- Nested groups, group sources, group values --------------------------------------

#[tokio::test]
async fn nested_groups_are_followed_to_the_configured_depth() {
    let mut config = shared_config().await;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    // team-a is in dept-x, in division, in company, in holding, in conglomerate (5 levels
    // up: the default), in world (6: not followed). club is a groupOfUniqueNames and
    // posix-users a posixGroup with memberUid.
    assert_eq!(
        nina.groups,
        [
            "club",
            "company",
            "conglomerate",
            "dept-x",
            "division",
            "holding",
            "posix-users",
            "team-a"
        ]
    );

    config.groups.nested_depth = 0;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert_eq!(nina.groups, ["club", "posix-users", "team-a"]);

    config.groups.nested_depth = 1;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert_eq!(nina.groups, ["club", "dept-x", "posix-users", "team-a"]);

    config.groups.nested_depth = 20;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert!(nina.groups.contains(&"world".to_string()), "{:?}", nina.groups);
    assert_eq!(nina.groups.len(), 9);

    // Without a nested filter the group filter's answer is all there is.
    config.groups.nested_filter = String::new();
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert_eq!(nina.groups, ["club", "posix-users", "team-a"]);
}

#[tokio::test]
async fn a_cycle_of_groups_ends() {
    // cycle-a (groupOfNames) holds cycle-b (groupOfUniqueNames), which holds cycle-a.
    let cyrus = sign_in(&shared_config().await, "cyrus", "cyrus-password")
        .await
        .expect("cyrus signs in");
    assert_eq!(cyrus.groups, ["cycle-a", "cycle-b"]);
    let cyrus = sign_in(&member_of_config().await, "cyrus", "cyrus-password")
        .await
        .expect("cyrus signs in with memberOf groups");
    assert_eq!(cyrus.groups, ["cycle-a", "cycle-b"]);
}

#[tokio::test]
async fn member_of_mode_follows_each_groups_own_member_of() {
    let mut config = member_of_config().await;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    // memberOf lists groupOfNames memberships only: no club, no posix-users.
    assert_eq!(
        nina.groups,
        ["company", "conglomerate", "dept-x", "division", "holding", "team-a"]
    );
    config.groups.nested_depth = 0;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert_eq!(nina.groups, ["team-a"]);
    // People without memberOf have no groups in this mode.
    let alice = sign_in(&config, "alice", "alice-password")
        .await
        .expect("alice signs in");
    assert!(alice.groups.is_empty(), "{:?}", alice.groups);
}

#[tokio::test]
async fn groups_can_be_released_as_dns() {
    let slapd = TestSlapd::shared().await;
    let mut config = shared_config().await;
    config.groups.value = GroupValue::Dn;
    config.groups.nested_depth = 1;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    let dn = |cn: &str| format!("cn={cn},{}", slapd.groups_dn);
    let mut expected = vec![dn("club"), dn("dept-x"), dn("posix-users"), dn("team-a")];
    expected.sort();
    assert_eq!(nina.groups, expected);

    let mut config = member_of_config().await;
    config.groups.value = GroupValue::Dn;
    config.groups.nested_depth = 1;
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert_eq!(nina.groups, [dn("dept-x"), dn("team-a")]);
}

#[tokio::test]
async fn member_of_kept_by_the_overlay_is_used() {
    // Groups added over LDAP: the memberof overlay writes memberOf on bob and on live-team.
    let slapd = TestSlapd::start().await;
    let mut ldap = slapd.admin_connection().await;
    let bob = format!("uid=bob,{}", slapd.people_dn);
    let carol = format!("uid=carol,{}", slapd.people_dn);
    let team = format!("cn=live-team,{}", slapd.groups_dn);
    let dept = format!("cn=live-dept,{}", slapd.groups_dn);
    let groups = [
        (&team, "live-team", vec![bob.as_str(), carol.as_str()]),
        (&dept, "live-dept", vec![team.as_str()]),
    ];
    for (dn, cn, members) in groups {
        ldap.add(
            dn,
            vec![
                ("objectClass", values(&["groupOfNames"])),
                ("cn", HashSet::from([cn])),
                ("member", members.into_iter().collect()),
            ],
        )
        .await
        .and_then(|result| result.success())
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
    }
    let mut config = LdapConfig {
        groups: LdapGroups::default(),
        ..slapd.ldap_config()
    };
    config.attributes.member_of = "memberOf".into();
    let bob_user = sign_in(&config, "bob", "bob-password").await.expect("bob signs in");
    assert_eq!(bob_user.groups, ["live-dept", "live-team"]);

    let carol_user = sign_in(&config, "carol", "carol-password")
        .await
        .expect("carol signs in");
    assert_eq!(carol_user.groups, ["live-dept", "live-team"]);

    // Removing him from live-team takes both away at once.
    modify(
        &slapd,
        &team,
        vec![Mod::Delete("member", HashSet::from([bob.as_str()]))],
    )
    .await;
    let bob_user = sign_in(&config, "bob", "bob-password").await.expect("bob signs in");
    assert!(bob_user.groups.is_empty(), "{:?}", bob_user.groups);
}

// --- Sign-in names and claims ----------------------------------------------------------

#[tokio::test]
async fn people_sign_in_by_username_or_email_as_configured() {
    let mut config = shared_config().await;
    expect_refused(
        sign_in(&config, "alice@example.org", "alice-password").await,
        CredentialFailure::UnknownUser,
        "by default the username only",
    );

    config.login_attributes = vec!["uid".into(), "mail".into()];
    for name in ["alice", "alice@example.org", "ALICE@EXAMPLE.ORG"] {
        let alice = sign_in(&config, name, "alice-password")
            .await
            .unwrap_or_else(|e| panic!("alice signs in as {name}: {e}"));
        assert_eq!(alice.username, "alice", "{name}");
        assert_eq!(alice.groups, ["admins", "staff"]);
    }
    expect_refused(
        sign_in(&config, "alice@example.org", "bob-password").await,
        CredentialFailure::WrongPassword,
        "wrong password by email",
    );

    config.login_attributes = vec!["mail".into()];
    let bob = sign_in(&config, "bob@example.org", "bob-password")
        .await
        .expect("bob signs in by email");
    assert_eq!(bob.username, "bob", "preferred_username is still the uid");
    expect_refused(
        sign_in(&config, "bob", "bob-password").await,
        CredentialFailure::UnknownUser,
        "email only",
    );
}

#[tokio::test]
async fn injection_finds_nobody_with_email_sign_in_either() {
    let mut config = shared_config().await;
    config.login_attributes = vec!["uid".into(), "mail".into()];
    let directory = LdapDirectory::new(config);
    // Unescaped, `alice@*` and `*` would match someone, and the others would widen the
    // filter or break out of it.
    for attempt in [
        "*",
        "alice@*",
        "*@example.org",
        "*)(mail=*",
        "alice@example.org)(|(uid=*",
        "x)(|(objectClass=*",
        "alice@example.org\0",
        "\\2a",
    ] {
        expect_refused(
            directory.authenticate_user(attempt, "alice-password").await,
            CredentialFailure::UnknownUser,
            &format!("sign-in name {attempt:?}"),
        );
    }
    for attempt in ["*", "(objectClass=*)", "*)(uid=*"] {
        assert_eq!(
            directory.find_user_by_id(attempt).await.expect("no directory error"),
            None,
            "id {attempt:?}"
        );
    }
}

#[tokio::test]
async fn extra_claims_are_read_from_the_configured_attributes() {
    let mut config = shared_config().await;
    config.extra_claims = BTreeMap::from([
        ("department".to_string(), "departmentNumber".to_string()),
        ("kind".to_string(), "employeeType".to_string()),
        ("office".to_string(), "roomNumber".to_string()),
    ]);
    let nina = sign_in(&config, "nina", "nina-password").await.expect("nina signs in");
    assert_eq!(
        nina.extra,
        BTreeMap::from([
            ("department".to_string(), vec!["4711".to_string(), "0815".to_string()]),
            ("kind".to_string(), vec!["contractor".to_string()]),
        ]),
        "roomNumber is absent, so office is left out"
    );
    let alice = sign_in(&config, "alice", "alice-password")
        .await
        .expect("alice signs in");
    assert!(alice.extra.is_empty(), "{:?}", alice.extra);
    let plain = sign_in(&shared_config().await, "nina", "nina-password")
        .await
        .expect("nina signs in");
    assert!(plain.extra.is_empty(), "nothing configured, nothing released");
}

// --- Account state (ppolicy) -----------------------------------------------------------

#[tokio::test]
async fn disabled_and_locked_accounts_cannot_sign_in() {
    let config = shared_config().await;
    // The default policy does not enforce lockout (pwdLockout FALSE), so slapd lets them
    // bind: Gatehouse's own check of pwdAccountLockedTime is what refuses them.
    let error = sign_in(&config, "dora", "dora-password").await.expect_err("disabled");
    assert!(matches!(error, DirectoryError::AccountDisabled(_)), "{error:?}");
    assert_eq!(
        error.person_message(),
        Some("This account is disabled. Contact your administrator.")
    );
    let error = sign_in(&config, "lou", "lou-password").await.expect_err("locked");
    assert_eq!(
        error,
        DirectoryError::AccountLocked("pwdAccountLockedTime is 20250101000000Z".into())
    );
    assert!(error.person_message().is_some());

    // With a wrong password nothing about the account is told.
    expect_refused(
        sign_in(&config, "dora", "wrong").await,
        CredentialFailure::AccountDisabled,
        "dora, wrong password",
    );
    expect_refused(
        sign_in(&config, "lou", "wrong").await,
        CredentialFailure::AccountLocked,
        "lou, wrong password",
    );

    // The check is configuration: without it, the directory alone decides.
    let mut unchecked = config.clone();
    unchecked.account_checks = Vec::new();
    sign_in(&unchecked, "dora", "dora-password")
        .await
        .expect("no account checks configured");
}

#[tokio::test]
async fn expired_and_must_change_passwords_are_named() {
    let config = shared_config().await;
    // exa: expired, no grace sign-ins: slapd refuses the bind and says why in the
    // password policy control, only because the password was right.
    let error = sign_in(&config, "exa", "exa-password").await.expect_err("expired");
    assert!(matches!(error, DirectoryError::PasswordExpired(_)), "{error:?}");
    assert_eq!(
        error.person_message(),
        Some("Your password has expired. Change it, then sign in again.")
    );
    expect_refused(
        sign_in(&config, "exa", "wrong").await,
        CredentialFailure::WrongPassword,
        "exa, wrong password",
    );
    // gus: expired, on a grace sign-in: slapd lets him in, Gatehouse does not.
    let error = sign_in(&config, "gus", "gus-password").await.expect_err("expired");
    match &error {
        DirectoryError::PasswordExpired(why) => assert!(why.contains("grace sign-in"), "{why}"),
        other => panic!("expected an expired password, got {other:?}"),
    }
    // rex: reset by an administrator, must be changed first.
    let error = sign_in(&config, "rex", "rex-password").await.expect_err("must change");
    assert!(matches!(error, DirectoryError::PasswordMustChange(_)), "{error:?}");
    assert!(error.person_message().is_some_and(|m| m.contains("must be changed")));
    expect_refused(
        sign_in(&config, "rex", "wrong").await,
        CredentialFailure::WrongPassword,
        "rex, wrong password",
    );
}

#[tokio::test]
async fn an_administrator_disables_and_enables_an_account_in_the_directory() {
    let slapd = TestSlapd::start().await;
    let config = slapd.ldap_config();
    let directory = LdapDirectory::new(config.clone());
    let bob_dn = format!("uid=bob,{}", slapd.people_dn);
    let bob = directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in");

    modify(
        &slapd,
        &bob_dn,
        vec![Mod::Replace("pwdAccountLockedTime", HashSet::from(["000001010000Z"]))],
    )
    .await;
    let error = directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect_err("disabled");
    assert!(matches!(error, DirectoryError::AccountDisabled(_)), "{error:?}");
    let error = directory.find_user_by_id(&bob.id).await.expect_err("disabled");
    assert!(matches!(error, DirectoryError::AccountDisabled(_)), "{error:?}");

    modify(
        &slapd,
        &bob_dn,
        vec![Mod::Delete("pwdAccountLockedTime", HashSet::new())],
    )
    .await;
    directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in again");
    assert_eq!(directory.find_user_by_id(&bob.id).await.expect("found"), Some(bob));
}

#[tokio::test]
async fn an_account_locked_by_failed_attempts_is_refused_without_saying_so() {
    // lena's policy locks her after three wrong passwords, and slapd then refuses even the
    // right one: her password cannot be verified, so she gets "invalid credentials".
    let slapd = TestSlapd::start().await;
    let directory = LdapDirectory::new(slapd.ldap_config());
    let lena = directory
        .authenticate_user("lena", "lena-password")
        .await
        .expect("lena signs in");
    for attempt in 1..=3 {
        expect_refused(
            directory.authenticate_user("lena", "guess").await,
            CredentialFailure::WrongPassword,
            &format!("wrong password {attempt}"),
        );
    }
    // slapd's ppolicy overlay records the lock on its own schedule: the right password is
    // then either refused by slapd itself (the password cannot be proven right, so nothing
    // particular is told) or accepted by slapd and refused by Gatehouse's own account-state
    // check. Both refuse; signing in is never possible.
    match directory.authenticate_user("lena", "lena-password").await {
        Err(error @ DirectoryError::InvalidCredentials(_)) => {
            assert_eq!(error.credential_failure(), Some(CredentialFailure::AccountLocked));
            assert_eq!(error.person_message(), None, "nothing particular is told");
        }
        Err(DirectoryError::AccountLocked(_)) => {}
        other => panic!("a locked account must not sign in, got {other:?}"),
    }
    let error = directory.find_user_by_id(&lena.id).await.expect_err("locked");
    assert!(matches!(error, DirectoryError::AccountLocked(_)), "{error:?}");

    modify(
        &slapd,
        &format!("uid=lena,{}", slapd.people_dn),
        vec![Mod::Delete("pwdAccountLockedTime", HashSet::new())],
    )
    .await;
    directory
        .authenticate_user("lena", "lena-password")
        .await
        .expect("unlocked by an administrator");
}

#[tokio::test]
async fn the_sign_in_page_names_the_account_problem_only_to_the_right_password() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let login = app.url("/login");
    for (username, password, shown) in [
        (
            "dora",
            "dora-password",
            "This account is disabled. Contact your administrator.",
        ),
        ("dora", "wrong", "Invalid username or password."),
        (
            "exa",
            "exa-password",
            "Your password has expired. Change it, then sign in again.",
        ),
        ("exa", "wrong", "Invalid username or password."),
        ("lou", "lou-password", "This account is locked."),
    ] {
        let (status, location, body) = browser.submit_login(&login, username, password).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{username}: {body}");
        assert_eq!(location, None, "{username}");
        assert!(
            body.contains(shown),
            "{username} / {password}: expected {shown:?} in\n{body}"
        );
    }
    assert!(!is_signed_in(&app, &browser).await);
}

// --- Looking people up by id -----------------------------------------------------------

#[tokio::test]
async fn find_user_by_id_returns_the_person_as_the_directory_has_them_now() {
    let slapd = TestSlapd::shared().await;
    let directory = LdapDirectory::new(shared_config().await);
    let alice_id = entry_uuid(slapd, &format!("uid=alice,{}", slapd.people_dn)).await;
    let alice = directory
        .find_user_by_id(&alice_id)
        .await
        .expect("no error")
        .expect("alice is there");
    let signed_in = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect("alice signs in");
    assert_eq!(alice, signed_in);
    assert_eq!(alice.groups, ["admins", "staff"]);

    for absent in [
        uuid::Uuid::new_v4().to_string(),
        alice_id.to_uppercase(),
        String::new(),
        "a".repeat(300),
    ] {
        assert_eq!(
            directory.find_user_by_id(&absent).await.expect("no error"),
            None,
            "{absent}"
        );
    }

    let dora_id = entry_uuid(slapd, &format!("uid=dora,{}", slapd.people_dn)).await;
    let error = directory.find_user_by_id(&dora_id).await.expect_err("disabled");
    assert!(matches!(error, DirectoryError::AccountDisabled(_)), "{error:?}");
    let lou_id = entry_uuid(slapd, &format!("uid=lou,{}", slapd.people_dn)).await;
    let error = directory.find_user_by_id(&lou_id).await.expect_err("locked");
    assert!(matches!(error, DirectoryError::AccountLocked(_)), "{error:?}");
    // Password state needs the password: rex is found.
    let rex_id = entry_uuid(slapd, &format!("uid=rex,{}", slapd.people_dn)).await;
    let rex = directory.find_user_by_id(&rex_id).await.expect("no error");
    assert_eq!(rex.map(|rex| rex.username).as_deref(), Some("rex"));
}

#[tokio::test]
async fn find_user_by_id_reports_a_directory_that_is_down() {
    let mut slapd = TestSlapd::start().await;
    let directory = LdapDirectory::new(slapd.ldap_config());
    let bob = directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in");
    slapd.stop();
    let error = directory.find_user_by_id(&bob.id).await.expect_err("down");
    assert!(error.is_unavailable(), "{error:?}");
}

// --- Active Directory look-alike -------------------------------------------------------

#[tokio::test]
async fn active_directory_people_sign_in_with_their_sam_account_name() {
    let slapd = TestSlapd::start_with_seed(&seed("active-directory.ldif")).await;
    let config = active_directory_config(&slapd);
    let ann = sign_in(&config, "ann", "ann-password").await.expect("ann signs in");
    assert_eq!(ann.id, ANN_GUID, "the binary objectGUID, rendered as a UUID");
    assert_eq!(ann.dn, "cn=Ann Andrews,ou=Staff,ou=Corp,dc=example,dc=org");
    assert_eq!(ann.username, "ann");
    assert_eq!(ann.name.as_deref(), Some("Ann Andrews"));
    assert_eq!(ann.given_name.as_deref(), Some("Ann"));
    assert_eq!(ann.family_name.as_deref(), Some("Andrews"));
    assert_eq!(ann.email.as_deref(), Some("ann.andrews@example.org"));
    // memberOf lists Engineers; R&D and All Staff come from the groups' own memberOf.
    assert_eq!(ann.groups, ["All Staff", "Engineers", "R&D"]);
    assert_eq!(ann.extra["department"], ["Engineering"]);

    let again = sign_in(&config, "ANN", "ann-password").await.expect("case-insensitive");
    assert_eq!(again.id, ann.id);
    expect_refused(
        sign_in(&config, "ann", "Ann-password").await,
        CredentialFailure::WrongPassword,
        "wrong password",
    );
    // By default the principal name is not a sign-in name.
    expect_refused(
        sign_in(&config, "ann@corp.example.org", "ann-password").await,
        CredentialFailure::UnknownUser,
        "userPrincipalName not configured",
    );
    // Computer accounts are not people (sAMAccountType).
    expect_refused(
        sign_in(&config, "ws01$", "ws01-password").await,
        CredentialFailure::UnknownUser,
        "a computer account",
    );
    for attempt in ["*", "a*", "ann)(sAMAccountName=*", "*)(|(objectClass=*"] {
        expect_refused(
            sign_in(&config, attempt, "ann-password").await,
            CredentialFailure::UnknownUser,
            &format!("sign-in name {attempt:?}"),
        );
    }

    // Sign-in by principal name, or by either.
    let mut by_principal = config.clone();
    by_principal.login_attributes = vec!["userPrincipalName".into()];
    let ann_upn = sign_in(&by_principal, "ann@corp.example.org", "ann-password")
        .await
        .expect("ann signs in by userPrincipalName");
    assert_eq!(ann_upn.username, "ann", "preferred_username stays the sAMAccountName");
    expect_refused(
        sign_in(&by_principal, "ann", "ann-password").await,
        CredentialFailure::UnknownUser,
        "principal name only",
    );
    let mut either = config.clone();
    either.login_attributes = vec!["sAMAccountName".into(), "userPrincipalName".into()];
    for name in ["ann", "ann@corp.example.org"] {
        let user = sign_in(&either, name, "ann-password").await.expect("either name");
        assert_eq!(user.id, ANN_GUID);
    }
}

#[tokio::test]
async fn active_directory_ids_groups_and_cycles_with_awkward_values() {
    let slapd = TestSlapd::start_with_seed(&seed("active-directory.ldif")).await;
    let mut config = active_directory_config(&slapd);
    let bo = sign_in(&config, "bo", "bo-password").await.expect("bo signs in");
    // Bo's objectGUID bytes happen to be valid UTF-8; it is still a GUID.
    assert_eq!(bo.id, BO_GUID);
    // A comma in a group's name, and Loop A and Loop B holding each other.
    assert_eq!(bo.groups, ["Loop A", "Loop B", "Ops, Europe"]);

    config.groups.value = GroupValue::Dn;
    let bo = sign_in(&config, "bo", "bo-password").await.expect("bo signs in");
    assert_eq!(
        bo.groups,
        [
            "CN=Loop A,OU=Groups,OU=Corp,DC=example,DC=org",
            "CN=Loop B,OU=Groups,OU=Corp,DC=example,DC=org",
            "CN=Ops\\, Europe,OU=Groups,OU=Corp,DC=example,DC=org",
        ]
    );
}

#[tokio::test]
async fn active_directory_account_state_is_enforced() {
    let slapd = TestSlapd::start_with_seed(&seed("active-directory.ldif")).await;
    let config = active_directory_config(&slapd);
    // slapd lets them all bind; userAccountControl, lockoutTime and accountExpires refuse.
    let error = sign_in(&config, "dan", "dan-password").await.expect_err("disabled");
    assert_eq!(
        error,
        DirectoryError::AccountDisabled("userAccountControl 514 has ACCOUNTDISABLE (0x2)".into())
    );
    let error = sign_in(&config, "lee", "lee-password").await.expect_err("locked out");
    assert_eq!(
        error,
        DirectoryError::AccountLocked("lockoutTime is 133500000000000000".into())
    );
    let error = sign_in(&config, "eve", "eve-password").await.expect_err("expired");
    assert!(matches!(error, DirectoryError::AccountExpired(_)), "{error:?}");
    assert_eq!(
        error.person_message(),
        Some("This account has expired. Contact your administrator.")
    );
    for (name, failure) in [
        ("dan", CredentialFailure::AccountDisabled),
        ("lee", CredentialFailure::AccountLocked),
        ("eve", CredentialFailure::AccountDisabled),
    ] {
        expect_refused(sign_in(&config, name, "wrong").await, failure, name);
    }

    // An administrator re-enables dan (userAccountControl 512) and unlocks lee.
    modify(
        &slapd,
        "CN=Dan Disabled,OU=Staff,OU=Corp,DC=example,DC=org",
        vec![Mod::Replace("userAccountControl", HashSet::from(["512"]))],
    )
    .await;
    modify(
        &slapd,
        "CN=Lee Locked,OU=Staff,OU=Corp,DC=example,DC=org",
        vec![Mod::Replace("lockoutTime", HashSet::from(["0"]))],
    )
    .await;
    let dan = sign_in(&config, "dan", "dan-password").await.expect("dan is enabled");
    assert_eq!(dan.id, DAN_GUID);
    assert_eq!(dan.groups, ["All Staff", "Engineers", "R&D"]);
    sign_in(&config, "lee", "lee-password").await.expect("lee is unlocked");
}

#[tokio::test]
async fn active_directory_people_are_found_by_their_binary_object_guid() {
    let slapd = TestSlapd::start_with_seed(&seed("active-directory.ldif")).await;
    let config = active_directory_config(&slapd);
    let directory = LdapDirectory::new(config.clone());
    let ann = directory
        .find_user_by_id(ANN_GUID)
        .await
        .expect("no error")
        .expect("ann is there");
    assert_eq!(ann.username, "ann");
    assert_eq!(
        ann,
        sign_in(&config, "ann", "ann-password").await.expect("ann signs in")
    );
    let bo = directory
        .find_user_by_id(BO_GUID)
        .await
        .expect("no error")
        .expect("bo is there");
    assert_eq!(bo.username, "bo");
    let error = directory.find_user_by_id(DAN_GUID).await.expect_err("disabled");
    assert!(matches!(error, DirectoryError::AccountDisabled(_)), "{error:?}");
    for absent in [
        uuid::Uuid::new_v4().to_string(),
        ANN_GUID.to_uppercase(),
        "5e5f3c8a2c1b4e4d9f10112233445566".to_string(),
    ] {
        assert_eq!(
            directory.find_user_by_id(&absent).await.expect("no error"),
            None,
            "{absent}"
        );
    }
    // The computer account has a GUID too, but is not a person.
    assert_eq!(
        directory
            .find_user_by_id("f00dbabe-4321-4cba-9fed-5544332211ee")
            .await
            .expect("no error"),
        None
    );

    // Account checks are configuration.
    let unchecked = LdapDirectory::new(LdapConfig {
        account_checks: vec![AccountCheck::Ppolicy],
        ..config
    });
    let dan = unchecked
        .find_user_by_id(DAN_GUID)
        .await
        .expect("no Active Directory check")
        .expect("dan is there");
    assert_eq!(dan.username, "dan");
}
