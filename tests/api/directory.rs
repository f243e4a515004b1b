//! `LdapDirectory` against a real slapd serving tests/fixtures/ldap/directory.ldif.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use gatehouse::config::{LdapConfig, LdapGroups};
use gatehouse::directory::{CredentialFailure, Directory, DirectoryError, DirectoryUser, LdapDirectory};
use ldap3::{Scope, SearchEntry};

use crate::support::slapd::TestSlapd;

async fn shared_config() -> LdapConfig {
    TestSlapd::shared().await.ldap_config()
}

async fn shared_directory() -> LdapDirectory {
    LdapDirectory::new(shared_config().await)
}

fn expect_refused(result: Result<DirectoryUser, DirectoryError>, expected: CredentialFailure, context: &str) {
    match result {
        Err(DirectoryError::InvalidCredentials(failure)) => assert_eq!(failure, expected, "{context}"),
        Err(other) => panic!("{context}: expected invalid credentials ({expected}), got the error {other}"),
        Ok(user) => panic!("{context}: expected invalid credentials ({expected}), signed in as {user:?}"),
    }
}

/// The entryUUID slapd holds for `dn`, read as the rootDN.
async fn entry_uuid(slapd: &TestSlapd, dn: &str) -> String {
    let mut ldap = slapd.admin_connection().await;
    let found = ldap
        .search(dn, Scope::Base, "(objectClass=*)", vec!["entryUUID"])
        .await
        .and_then(|result| result.success())
        .expect("read the entry");
    let entry = SearchEntry::construct(found.0.into_iter().next().expect("one entry"));
    entry.attrs["entryUUID"][0].clone()
}

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn alice_signs_in_with_her_groups_email_and_a_stable_id() {
    let slapd = TestSlapd::shared().await;
    let directory = shared_directory().await;

    let alice = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect("alice signs in");

    let dn = format!("uid=alice,{}", slapd.people_dn);
    assert_eq!(alice.dn, dn);
    assert_eq!(alice.id, entry_uuid(slapd, &dn).await);
    assert_ne!(alice.id, alice.dn);
    assert!(
        uuid::Uuid::parse_str(&alice.id).is_ok(),
        "entryUUID is a UUID: {}",
        alice.id
    );
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(alice.given_name.as_deref(), Some("Alice"));
    assert_eq!(alice.family_name.as_deref(), Some("Liddell"));
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert_eq!(alice.groups, ["admins", "staff"]);

    let again = directory
        .authenticate_user("ALICE", "alice-password")
        .await
        .expect("names are case-insensitive in uid");
    assert_eq!(again.id, alice.id, "the id is stable");
    assert_eq!(again.username, "alice", "the directory's spelling is kept");
}

#[tokio::test]
async fn bob_gets_only_his_own_group() {
    let bob = shared_directory()
        .await
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in");
    assert_eq!(bob.email.as_deref(), Some("bob@example.org"));
    assert_eq!(bob.groups, ["staff"]);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_invalid_credentials() {
    let directory = shared_directory().await;
    expect_refused(
        directory.authenticate_user("alice", "bob-password").await,
        CredentialFailure::WrongPassword,
        "alice with bob's password",
    );
    expect_refused(
        directory.authenticate_user("alice", "alice-password ").await,
        CredentialFailure::WrongPassword,
        "a trailing space matters",
    );
    expect_refused(
        directory.authenticate_user("nobody", "alice-password").await,
        CredentialFailure::UnknownUser,
        "unknown user",
    );
    let long_name = "a".repeat(300);
    expect_refused(
        directory.authenticate_user(&long_name, "alice-password").await,
        CredentialFailure::UnknownUser,
        "absurdly long name",
    );
    expect_refused(
        directory.authenticate_user("", "alice-password").await,
        CredentialFailure::UnknownUser,
        "empty name",
    );
}

#[tokio::test]
async fn empty_password_is_refused_without_asking_the_server() {
    let directory = shared_directory().await;
    expect_refused(
        directory.authenticate_user("alice", "").await,
        CredentialFailure::EmptyPassword,
        "empty password",
    );
    // Not even a connection is made: a directory that cannot be reached says the same.
    let unreachable = LdapDirectory::new(LdapConfig {
        url: format!("ldap://127.0.0.1:{}", dead_port()),
        ..shared_config().await
    });
    expect_refused(
        unreachable.authenticate_user("alice", "").await,
        CredentialFailure::EmptyPassword,
        "empty password, no server",
    );
}

#[tokio::test]
async fn non_ascii_names_and_passwords_work() {
    let directory = shared_directory().await;
    let jose = directory
        .authenticate_user("jose", "pässwörd-ñ-日本")
        .await
        .expect("jose signs in");
    assert_eq!(jose.name.as_deref(), Some("José Müller-Ñúñez"));
    assert_eq!(jose.given_name.as_deref(), Some("José"));
    assert_eq!(jose.family_name.as_deref(), Some("Müller-Ñúñez"));
    assert_eq!(jose.groups, ["développeurs", "staff"]);
    expect_refused(
        directory.authenticate_user("jose", "passwörd-ñ-日本").await,
        CredentialFailure::WrongPassword,
        "one letter differs",
    );
}

#[tokio::test]
async fn usernames_with_filter_metacharacters_sign_in_as_themselves() {
    let slapd = TestSlapd::shared().await;
    let directory = shared_directory().await;

    let omalley = directory
        .authenticate_user("o*malley", "omalley-password")
        .await
        .expect("o*malley signs in");
    assert_eq!(omalley.username, "o*malley");
    assert_eq!(omalley.dn, format!("uid=o*malley,{}", slapd.people_dn));
    assert_eq!(omalley.groups, ["staff"], "the group filter escapes the DN too");

    let abc = directory
        .authenticate_user("a(b)c", "abc-password")
        .await
        .expect("a(b)c signs in");
    assert_eq!(abc.username, "a(b)c");
    assert_eq!(abc.groups, ["testers"]);

    expect_refused(
        directory.authenticate_user("a(b)c", "omalley-password").await,
        CredentialFailure::WrongPassword,
        "a(b)c with o*malley's password",
    );
}

#[tokio::test]
async fn filter_injection_finds_nobody() {
    let directory = shared_directory().await;
    // Unescaped, `o*` and `admin*` would each match exactly one person (o*malley, admin2),
    // and the others would match everyone or break out of the filter.
    let attempts = [
        ("*", "alice-password"),
        ("*", "admin2-password"),
        (")(uid=*", "alice-password"),
        ("admin*", "admin2-password"),
        ("o*", "omalley-password"),
        ("*)(|(uid=*", "alice-password"),
        ("alice)(uid=*", "alice-password"),
        ("*)(uid=alice", "alice-password"),
        ("alice\\", "alice-password"),
        ("alice\0", "alice-password"),
    ];
    for (username, password) in attempts {
        expect_refused(
            directory.authenticate_user(username, password).await,
            CredentialFailure::UnknownUser,
            &format!("username {username:?}"),
        );
    }
}

#[tokio::test]
async fn a_name_matching_several_entries_is_refused() {
    let directory = LdapDirectory::new(LdapConfig {
        user_filter: "(|(uid={username})(objectClass={username}))".into(),
        ..shared_config().await
    });
    expect_refused(
        directory.authenticate_user("inetOrgPerson", "alice-password").await,
        CredentialFailure::AmbiguousUser,
        "every person matches",
    );
    directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect("a unique match still signs in");
}

#[tokio::test]
async fn carol_has_no_email_and_no_groups() {
    let carol = shared_directory()
        .await
        .authenticate_user("carol", "carol-password")
        .await
        .expect("carol signs in");
    assert_eq!(carol.email, None);
    assert_eq!(carol.name.as_deref(), Some("Carol Danvers"));
    assert!(carol.groups.is_empty());
}

#[tokio::test]
async fn groups_come_from_a_member_of_attribute_when_configured() {
    // The fixture repeats alice's group DNs in seeAlso, a DN-valued attribute standing in
    // for memberOf (which slapadd cannot fill).
    let mut config = shared_config().await;
    config.attributes.member_of = "seeAlso".into();
    config.groups = LdapGroups::default();
    let directory = LdapDirectory::new(config);
    let alice = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect("alice signs in");
    assert_eq!(alice.groups, ["admins", "staff"]);
    let bob = directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in");
    assert!(bob.groups.is_empty(), "bob has no seeAlso: {:?}", bob.groups);
}

#[tokio::test]
async fn without_any_group_source_there_are_no_groups() {
    let mut config = shared_config().await;
    config.groups = LdapGroups::default();
    let alice = LdapDirectory::new(config)
        .authenticate_user("alice", "alice-password")
        .await
        .expect("alice signs in");
    assert!(alice.groups.is_empty());
}

#[tokio::test]
async fn empty_attribute_names_leave_claims_out() {
    let mut config = shared_config().await;
    config.attributes.email = String::new();
    config.attributes.name = String::new();
    let alice = LdapDirectory::new(config)
        .authenticate_user("alice", "alice-password")
        .await
        .expect("alice signs in");
    assert_eq!(alice.email, None);
    assert_eq!(alice.name, None);
    assert_eq!(alice.given_name.as_deref(), Some("Alice"));
}

#[tokio::test]
async fn a_missing_id_attribute_is_reported_only_after_the_password_is_right() {
    let slapd = TestSlapd::shared().await;
    let mut config = slapd.ldap_config();
    config.attributes.id = "employeeNumber".into();
    let directory = LdapDirectory::new(config);
    let error = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect_err("alice has no employeeNumber");
    assert_eq!(
        error.to_string(),
        format!("attribute employeeNumber missing on uid=alice,{}", slapd.people_dn)
    );
    expect_refused(
        directory.authenticate_user("alice", "wrong").await,
        CredentialFailure::WrongPassword,
        "a stranger learns nothing about the mapping",
    );
}

#[tokio::test]
async fn check_health_reads_the_base_dn() {
    shared_directory()
        .await
        .check_health()
        .await
        .expect("the shared directory is healthy");
}

#[tokio::test]
async fn a_wrong_service_password_is_a_service_bind_error() {
    let mut config = shared_config().await;
    config.bind_password = gatehouse::config::Secret::new("not-the-password");
    let directory = LdapDirectory::new(config);
    let error = directory.check_health().await.expect_err("the bind fails");
    assert_eq!(
        error.to_string(),
        "service account bind failed: invalid credentials (49)"
    );
    let error = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect_err("no search without the service account");
    assert!(matches!(error, DirectoryError::ServiceBind(_)), "{error:?}");
    assert!(!error.is_invalid_credentials());
}

#[tokio::test]
async fn a_missing_search_base_is_named() {
    let slapd = TestSlapd::shared().await;
    let missing = format!("ou=nowhere,{}", slapd.base_dn);
    let expected = format!("search base {missing} does not exist (32)");
    let mut config = slapd.ldap_config();
    config.base_dn = missing.clone();
    let directory = LdapDirectory::new(config);
    let error = directory.check_health().await.expect_err("no such base");
    assert_eq!(error.to_string(), expected);
    let error = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect_err("no such base");
    assert_eq!(error.to_string(), expected);

    let mut config = slapd.ldap_config();
    config.groups.base_dn = missing.clone();
    let error = LdapDirectory::new(config)
        .authenticate_user("alice", "alice-password")
        .await
        .expect_err("no such group base");
    assert_eq!(
        error.to_string(),
        format!("group search base {missing} does not exist (32)")
    );
}

#[tokio::test]
async fn a_dead_port_is_unavailable_at_once() {
    let port = dead_port();
    let directory = LdapDirectory::new(LdapConfig {
        url: format!("ldap://127.0.0.1:{port}"),
        ..shared_config().await
    });
    let started = Instant::now();
    let error = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect_err("nothing listens");
    assert!(error.is_unavailable(), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("cannot connect to ldap://127.0.0.1:{port}: connection refused")
    );
    let error = directory.check_health().await.expect_err("nothing listens");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "within the 2 s connect timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_hung_server_costs_one_timeout_not_more() {
    // The kernel completes the TCP handshake for the backlog, but nobody ever answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let directory = LdapDirectory::new(LdapConfig {
        url: format!("ldap://127.0.0.1:{port}"),
        connect_timeout: 1,
        operation_timeout: 1,
        ..shared_config().await
    });

    let started = Instant::now();
    let error = directory.check_health().await.expect_err("no answer");
    let elapsed = started.elapsed();
    assert_eq!(
        error.to_string(),
        format!("ldap://127.0.0.1:{port} did not answer the service account bind within 1 s")
    );
    assert!(error.is_unavailable());
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
        "held for {elapsed:?}"
    );

    let started = Instant::now();
    let error = directory
        .authenticate_user("alice", "alice-password")
        .await
        .expect_err("no answer");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "held for {:?}",
        started.elapsed()
    );
    drop(listener);
}

#[tokio::test]
async fn a_restarted_server_is_used_again_without_errors() {
    let mut slapd = TestSlapd::start().await;
    let directory = LdapDirectory::new(slapd.ldap_config());
    directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in");

    // The pooled connections die with the server...
    slapd.stop();
    let error = directory.check_health().await.expect_err("the server is down");
    assert!(error.is_unavailable(), "{error:?}");
    slapd.restart().await;
    // ...and are replaced without the caller noticing.
    directory.check_health().await.expect("healthy again");
    let bob = directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in again");
    assert_eq!(bob.groups, ["staff"]);

    // A restart while connections sit idle in the pool: still no error.
    slapd.restart().await;
    directory
        .authenticate_user("bob", "bob-password")
        .await
        .expect("bob signs in after a restart behind the pool's back");
}

#[tokio::test]
async fn many_sign_ins_at_once_all_succeed() {
    let directory = std::sync::Arc::new(shared_directory().await);
    let mut tasks = Vec::new();
    for round in 0..20 {
        let directory = directory.clone();
        tasks.push(tokio::spawn(async move {
            let (username, password) = if round % 2 == 0 {
                ("alice", "alice-password")
            } else {
                ("bob", "bob-password")
            };
            directory
                .authenticate_user(username, password)
                .await
                .map(|user| user.username)
        }));
    }
    for task in tasks {
        let username = task.await.expect("task").expect("signs in");
        assert!(username == "alice" || username == "bob");
    }
}
