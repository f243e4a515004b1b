//! LDAP settings in the database, live: the file seeds them once, a change saved through
//! one instance reaches every instance without a restart, the bind password stays
//! encrypted and out of the audit trail, invalid settings are refused whole, and "Test
//! connection" says plainly which step failed. Against real slapd servers and a real
//! database shared by two instances.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::app::state::AppState;
use gatehouse::clock::ManualClock;
use gatehouse::config::{Config, LdapConfig, Secret};
use gatehouse::directory::{test_connection, CredentialFailure, Directory, DirectoryError};
use gatehouse::settings::ldap_settings::{read_ldap_settings, save_ldap_settings, LDAP_SETTING};
use gatehouse::settings::SettingsError;
use gatehouse::Application;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::database::fresh_test_database_url;
use crate::support::slapd::TestSlapd;

/// Longer than the poll interval of every instance (5 s), with room for a slow machine.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(20);

/// One running instance of a deployment, with its state for looking inside.
struct Instance {
    state: AppState,
    _data_dir: tempfile::TempDir,
}

/// Starts an instance on `database_url` with `master_key` (instances of one deployment
/// share both) and the file's `[ldap]`.
async fn start_instance(database_url: &str, master_key: &str, ldap: LdapConfig) -> Instance {
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let mut config = Config {
        issuer: format!("http://127.0.0.1:{port}"),
        listen: format!("127.0.0.1:{port}"),
        data_dir: data_dir.path().to_path_buf(),
        master_key: Some(Secret::new(master_key)),
        ldap,
        ..Config::default()
    };
    config.database.url = Some(Secret::new(database_url));
    config.database.max_connections = 5;
    let problems = config.validate();
    assert!(problems.is_empty(), "test configuration is invalid: {problems:?}");
    let app = Application::build_on_listener(config, Arc::new(ManualClock::new()), listener)
        .await
        .expect("build the application");
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    Instance {
        state,
        _data_dir: data_dir,
    }
}

/// A deployment's shared database and master key.
struct Deployment {
    database_url: String,
    master_key: String,
    _database_dir: tempfile::TempDir,
}

async fn new_deployment() -> Deployment {
    let database_dir = tempfile::tempdir().expect("temporary database directory");
    Deployment {
        database_url: fresh_test_database_url(database_dir.path()).await,
        master_key: gatehouse::crypto::hex_encode(&gatehouse::crypto::random_bytes(32)),
        _database_dir: database_dir,
    }
}

/// Waits, polling, until `instance` uses settings `version`; fails after the limit.
async fn wait_for_version(instance: &Instance, version: i64, which: &str) -> Duration {
    let started = Instant::now();
    while instance.state.directory.version() != version {
        assert!(
            started.elapsed() < PROPAGATION_LIMIT,
            "{which} still uses settings version {} after {PROPAGATION_LIMIT:?}; expected {version}",
            instance.state.directory.version()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Every text and binary value of every row of `table`, as bytes.
async fn raw_rows(database_url: &str, table: &str) -> Vec<Vec<u8>> {
    let db = Database::connect(database_url)
        .await
        .expect("connect to the test database");
    let backend = db.get_database_backend();
    let rows = db
        .query_all(Statement::from_string(backend, format!("SELECT * FROM {table}")))
        .await
        .expect("read the table");
    let mut values = Vec::new();
    for row in rows {
        for column in row.column_names() {
            if let Ok(Some(text)) = row.try_get::<Option<String>>("", &column) {
                values.push(text.into_bytes());
            } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>>("", &column) {
                values.push(bytes);
            }
        }
    }
    db.close().await.ok();
    values
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

fn expect_unknown_user(result: Result<gatehouse::directory::DirectoryUser, DirectoryError>, which: &str) {
    match result {
        Err(DirectoryError::InvalidCredentials(CredentialFailure::UnknownUser)) => {}
        other => panic!("{which}: expected an unknown user, got {other:?}"),
    }
}

#[tokio::test]
async fn the_file_seeds_once_and_a_change_reaches_every_instance_without_a_restart() {
    let first_directory = TestSlapd::shared().await;
    let second_directory = TestSlapd::start().await;
    let deployment = new_deployment().await;

    // The file signs people in by email address: "alice" is nobody.
    let file_ldap = LdapConfig {
        login_attributes: vec!["mail".into()],
        ..first_directory.ldap_config()
    };
    let one = start_instance(&deployment.database_url, &deployment.master_key, file_ldap.clone()).await;
    assert_eq!(one.state.directory.version(), 1, "the first start seeds version 1");
    // The second instance's file differs; the database's settings win.
    let other_file = LdapConfig {
        url: "ldap://127.0.0.1:9/".into(),
        ..file_ldap.clone()
    };
    let two = start_instance(&deployment.database_url, &deployment.master_key, other_file).await;
    assert_eq!(
        two.state.directory.version(),
        1,
        "the second instance uses the stored settings"
    );
    assert_eq!(
        *two.state.directory.settings(),
        file_ldap,
        "the stored settings, not its own file's"
    );

    let before = one
        .state
        .directory
        .authenticate_user("alice@example.org", "alice-password")
        .await
        .expect("alice signs in by email");
    for (instance, which) in [(&one, "instance one"), (&two, "instance two")] {
        expect_unknown_user(
            instance
                .state
                .directory
                .authenticate_user("alice", "alice-password")
                .await,
            which,
        );
    }

    // An administrator moves Gatehouse to another server and to sign-in by uid.
    let (stored, version) = read_ldap_settings(&one.state.db, &one.state.master_key)
        .await
        .expect("read the settings")
        .expect("seeded settings");
    assert_eq!(version, 1);
    let changed = LdapConfig {
        url: second_directory.url.clone(),
        login_attributes: vec!["uid".into()],
        ..stored
    };
    let new_version = save_ldap_settings(
        &one.state.db,
        &one.state.master_key,
        &changed,
        version,
        "admin-sub",
        &one.state.audit,
        one.state.now(),
    )
    .await
    .expect("save the new settings");
    assert_eq!(new_version, 2);
    // The admin code refreshes its own instance at once.
    assert!(one.state.refresh_directory().await.expect("refresh"));
    assert_eq!(one.state.directory.version(), 2);
    let waited = wait_for_version(&two, new_version, "instance two").await;
    assert!(waited <= PROPAGATION_LIMIT);

    for (instance, which) in [(&one, "instance one"), (&two, "instance two")] {
        let alice = instance
            .state
            .directory
            .authenticate_user("alice", "alice-password")
            .await
            .unwrap_or_else(|e| panic!("{which}: alice signs in with the new settings: {e}"));
        assert_ne!(
            alice.id, before.id,
            "{which}: the entryUUID comes from the second server, whose entries have their own"
        );
        assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    }
    // A third instance started now uses version 2 straight away.
    let three = start_instance(&deployment.database_url, &deployment.master_key, file_ldap).await;
    assert_eq!(three.state.directory.version(), 2);
}

#[tokio::test]
async fn the_bind_password_is_neither_readable_in_the_settings_table_nor_in_the_audit_trail() {
    let slapd = TestSlapd::shared().await;
    let deployment = new_deployment().await;
    let file_ldap = slapd.ldap_config();
    let instance = start_instance(&deployment.database_url, &deployment.master_key, file_ldap.clone()).await;
    let state = &instance.state;

    let new_password = "Distinctive-Bind-Password-7f3a";
    let changed = LdapConfig {
        bind_password: Secret::new(new_password),
        operation_timeout: 7,
        ..file_ldap.clone()
    };
    let version = save_ldap_settings(
        &state.db,
        &state.master_key,
        &changed,
        1,
        "admin-sub",
        &state.audit,
        state.now(),
    )
    .await
    .expect("save");
    assert_eq!(version, 2);
    state.audit.flush().await;

    let settings_rows = raw_rows(&deployment.database_url, "settings").await;
    assert!(!settings_rows.is_empty());
    for value in &settings_rows {
        assert!(
            !contains(value, new_password),
            "the new bind password is readable in `settings`"
        );
        assert!(
            !contains(value, slapd.bind_password.as_str()),
            "the seeded bind password is readable in `settings`"
        );
    }
    let audit_rows = raw_rows(&deployment.database_url, "audit_events").await;
    let mut saw_change = false;
    for value in &audit_rows {
        assert!(
            !contains(value, new_password),
            "the bind password is in the audit trail"
        );
        assert!(
            !contains(value, slapd.bind_password.as_str()),
            "the seeded bind password is in the audit trail"
        );
        saw_change |= contains(value, r#"{"changed":["bind_password","operation_timeout"]}"#);
    }
    assert!(
        saw_change,
        "the change is in the audit trail, naming the keys: {audit_rows:?}"
    );
    // The stored settings still hold the password, decrypted with the master key.
    let (stored, _) = read_ldap_settings(&state.db, &state.master_key)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.bind_password.expose(), new_password);
    assert!(!format!("{stored:?}").contains(new_password), "Debug never shows it");
}

#[tokio::test]
async fn invalid_settings_are_refused_with_every_problem_and_change_nothing() {
    let slapd = TestSlapd::shared().await;
    let deployment = new_deployment().await;
    let file_ldap = slapd.ldap_config();
    let instance = start_instance(&deployment.database_url, &deployment.master_key, file_ldap.clone()).await;
    let state = &instance.state;
    state.audit.flush().await;
    let audit_before = raw_rows(&deployment.database_url, "audit_events").await;

    let invalid = LdapConfig {
        url: "http://directory.example.org".into(),
        base_dn: String::new(),
        pool_size: 0,
        user_filter: "(uid=alice)".into(),
        ..file_ldap.clone()
    };
    let refused = save_ldap_settings(
        &state.db,
        &state.master_key,
        &invalid,
        1,
        "admin-sub",
        &state.audit,
        state.now(),
    )
    .await;
    match refused {
        Err(SettingsError::Invalid(problems)) => {
            assert_eq!(problems.len(), 4, "{problems:?}");
            let all = problems.join("\n");
            for expected in ["ldap://", "base_dn", "pool_size", "{username}"] {
                assert!(all.contains(expected), "`{expected}` is not named in {problems:?}");
            }
        }
        other => panic!("expected the settings to be refused, got {other:?}"),
    }
    assert_eq!(
        read_ldap_settings(&state.db, &state.master_key).await.expect("read"),
        Some((file_ldap, 1)),
        "nothing was stored"
    );
    assert!(!state.refresh_directory().await.expect("refresh"));
    assert_eq!(state.directory.version(), 1);
    state.audit.flush().await;
    assert_eq!(
        raw_rows(&deployment.database_url, "audit_events").await,
        audit_before,
        "nothing was audited"
    );
    // A stale version is refused too.
    let stale = save_ldap_settings(
        &state.db,
        &state.master_key,
        &LdapConfig {
            operation_timeout: 9,
            ..slapd.ldap_config()
        },
        0,
        "admin-sub",
        &state.audit,
        state.now(),
    )
    .await;
    assert!(matches!(stale, Err(SettingsError::Conflict(LDAP_SETTING))), "{stale:?}");
}

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn test_connection_names_the_step_that_failed_or_shows_the_mapped_claims() {
    let slapd = TestSlapd::shared().await;
    let good = slapd.ldap_config();

    let report = test_connection(&good, "alice").await;
    assert!(report.ok(), "{report:?}");
    let names: Vec<&str> = report.steps.iter().map(|step| step.name).collect();
    assert_eq!(
        names,
        [
            "name resolution",
            "connect",
            "service bind",
            "search base",
            "user search",
            "claims",
            "groups"
        ]
    );
    let alice = report.user.as_ref().expect("alice is mapped");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert_eq!(alice.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(alice.groups, ["admins", "staff"]);
    assert!(
        report.steps[6].detail.contains("admins, staff"),
        "{:?}",
        report.steps[6]
    );

    let failing_step = |report: &gatehouse::directory::ConnectionReport| {
        let failure = report
            .first_failure()
            .unwrap_or_else(|| panic!("a step fails: {report:?}"))
            .clone();
        assert!(!report.ok());
        failure
    };

    let port = dead_port();
    let wrong_port = LdapConfig {
        url: format!("ldap://127.0.0.1:{port}/"),
        ..good.clone()
    };
    let failure = failing_step(&test_connection(&wrong_port, "alice").await);
    assert_eq!(failure.name, "connect");
    assert!(failure.detail.contains("connection refused"), "{}", failure.detail);
    assert!(failure.detail.contains(&port.to_string()), "{}", failure.detail);

    let wrong_password = "not-the-service-password-93b1";
    let report = test_connection(
        &LdapConfig {
            bind_password: Secret::new(wrong_password),
            ..good.clone()
        },
        "alice",
    )
    .await;
    let failure = failing_step(&report);
    assert_eq!(failure.name, "service bind");
    assert!(
        failure.detail.contains(&slapd.bind_dn) && failure.detail.contains("invalid credentials (49)"),
        "{}",
        failure.detail
    );
    assert!(
        report.steps.iter().all(|step| !step.detail.contains(wrong_password)),
        "the report never shows the bind password"
    );

    let missing_base = LdapConfig {
        base_dn: format!("ou=nowhere,{}", slapd.base_dn),
        ..good.clone()
    };
    let failure = failing_step(&test_connection(&missing_base, "alice").await);
    assert_eq!(failure.name, "search base");
    assert!(
        failure.detail.contains("ou=nowhere") && failure.detail.contains("does not exist"),
        "{}",
        failure.detail
    );

    let report = test_connection(&good, "nobody-by-this-name").await;
    let failure = failing_step(&report);
    assert_eq!(failure.name, "user search");
    assert!(failure.detail.contains("no entry"), "{}", failure.detail);
    assert!(failure.detail.contains("nobody-by-this-name"), "{}", failure.detail);
    assert!(report.user.is_none());

    // An attribute the claims need is missing.
    let mut missing_attribute = good.clone();
    missing_attribute.attributes.id = "employeeNumber".into();
    let failure = failing_step(&test_connection(&missing_attribute, "alice").await);
    assert_eq!(failure.name, "claims");
    assert!(failure.detail.contains("employeeNumber"), "{}", failure.detail);

    // A filter the server cannot parse.
    let bad_filter = LdapConfig {
        user_filter: "(&(uid={username})(objectClass=*)(x~~y))".into(),
        ..good.clone()
    };
    let failure = failing_step(&test_connection(&bad_filter, "alice").await);
    assert_eq!(failure.name, "user search");
    assert!(failure.detail.contains("filter"), "{}", failure.detail);
}

#[tokio::test]
async fn test_connection_checks_tls_with_the_configured_ca() {
    let slapd = TestSlapd::start_with_tls().await;
    let ldaps_url = slapd.ldaps_url.clone().expect("an ldaps:// listener");
    let trusted = LdapConfig {
        url: ldaps_url.clone(),
        ca_file: Some(slapd.certificates().ca_file.clone()),
        ..slapd.ldap_config()
    };
    let report = test_connection(&trusted, "alice").await;
    assert!(report.ok(), "{report:?}");
    assert!(report.steps.iter().any(|step| step.name == "TLS" && step.ok));

    let wrong_ca = LdapConfig {
        ca_file: Some(slapd.certificates().other_ca_file.clone()),
        ..trusted
    };
    let report = test_connection(&wrong_ca, "alice").await;
    let failure = report.first_failure().expect("TLS fails").clone();
    assert_eq!(failure.name, "TLS", "{report:?}");
    assert!(failure.detail.contains("not trusted"), "{}", failure.detail);
}
