//! Connections to the directory against real slapd: ldaps:// and StartTLS with a test CA,
//! certificates that must be refused, failover past a dead or hung first server, and an
//! outage seen through the real HTTP server, then recovery without a restart.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gatehouse::config::{Config, LdapConfig};
use gatehouse::directory::{Directory, DirectoryError, DirectoryUser, LdapDirectory};
use reqwest::StatusCode;

use crate::support::browser::Browser;
use crate::support::oauth::{http_client, JsonReply};
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::{spawn_app_with, TestApp};

const UNTRUSTED: &str =
    "TLS failed: certificate not trusted: unknown issuer (add the CA that signed it to ldap.ca_file)";
const UNAVAILABLE_PAGE: &str = "The directory that checks passwords is unavailable right now.";
/// How long `/readyz` keeps an answer, in seconds.
const READINESS_WINDOW: i64 = gatehouse::readiness::READINESS_CACHE_TIME.whole_seconds();

/// A loopback port with nothing listening on it: connections are refused at once.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("ldap://127.0.0.1:{}/", listener.local_addr().expect("address").port())
}

/// `slapd`'s settings with short timeouts, pointed at `url` (then `more`, for failover).
fn config_for(slapd: &TestSlapd, url: &str, more: &[&str]) -> LdapConfig {
    LdapConfig {
        url: url.to_string(),
        urls: more.iter().map(|url| url.to_string()).collect(),
        connect_timeout: 1,
        operation_timeout: 1,
        ..slapd.ldap_config()
    }
}

async fn sign_in_alice(directory: &LdapDirectory) -> Result<DirectoryUser, DirectoryError> {
    directory.authenticate_user("alice", "alice-password").await
}

/// Signs alice in and returns how long it took.
async fn timed_sign_in(directory: &LdapDirectory, context: &str) -> Duration {
    let started = Instant::now();
    let alice = sign_in_alice(directory)
        .await
        .unwrap_or_else(|e| panic!("{context}: alice should sign in: {e}"));
    assert_eq!(alice.groups, ["admins", "staff"], "{context}");
    started.elapsed()
}

fn expect_unavailable(result: Result<DirectoryUser, DirectoryError>, context: &str) -> String {
    match result {
        Err(error @ DirectoryError::Unavailable(_)) => error.to_string(),
        Err(other) => panic!("{context}: expected the directory to be unavailable, got {other:?}"),
        Ok(user) => panic!("{context}: expected the directory to be unavailable, signed in as {user:?}"),
    }
}

#[tokio::test]
async fn ldaps_with_the_test_ca_signs_people_in_by_address_and_by_name() {
    let slapd = TestSlapd::start_with_tls().await;
    let ldaps_url = slapd.ldaps_url.clone().expect("an ldaps listener");
    let ca_file = Some(slapd.certificates().ca_file.clone());

    let directory = LdapDirectory::new(LdapConfig {
        ca_file: ca_file.clone(),
        ..config_for(&slapd, &ldaps_url, &[])
    });
    timed_sign_in(&directory, "ldaps by address").await;
    directory.check_health().await.expect("healthy over ldaps");
    let wrong = directory.authenticate_user("alice", "not-her-password").await;
    assert!(
        matches!(wrong, Err(DirectoryError::InvalidCredentials(_))),
        "a wrong password is still just that over TLS: {wrong:?}"
    );

    // The certificate names localhost too; the name is checked, not only the chain.
    let by_name = ldaps_url.replace("127.0.0.1", "localhost");
    let directory = LdapDirectory::new(LdapConfig {
        ca_file,
        ..config_for(&slapd, &by_name, &[])
    });
    timed_sign_in(&directory, "ldaps by name").await;
}

#[tokio::test]
async fn starttls_with_the_test_ca_signs_people_in() {
    let slapd = TestSlapd::start_with_tls().await;
    let directory = LdapDirectory::new(LdapConfig {
        starttls: true,
        ca_file: Some(slapd.certificates().ca_file.clone()),
        ..config_for(&slapd, &slapd.url, &[])
    });
    timed_sign_in(&directory, "StartTLS").await;
    directory.check_health().await.expect("healthy over StartTLS");
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_in_plain_words() {
    let slapd = TestSlapd::start_with_tls().await;
    let ldaps_url = slapd.ldaps_url.clone().expect("an ldaps listener");
    let other_ca = Some(slapd.certificates().other_ca_file.clone());

    // Trusting another CA, and trusting only the system's CAs: both refuse the server.
    for ca_file in [other_ca.clone(), None] {
        let directory = LdapDirectory::new(LdapConfig {
            ca_file: ca_file.clone(),
            ..config_for(&slapd, &ldaps_url, &[])
        });
        let message = expect_unavailable(sign_in_alice(&directory).await, "ldaps, untrusted");
        assert_eq!(
            message,
            format!("cannot connect to {ldaps_url}: {UNTRUSTED}"),
            "{ca_file:?}"
        );
        let health = directory.check_health().await.expect_err("untrusted");
        assert_eq!(health.to_string(), message);
    }

    let directory = LdapDirectory::new(LdapConfig {
        starttls: true,
        ca_file: other_ca,
        ..config_for(&slapd, &slapd.url, &[])
    });
    let message = expect_unavailable(sign_in_alice(&directory).await, "StartTLS, untrusted");
    assert_eq!(message, format!("cannot connect to {}: {UNTRUSTED}", slapd.url));
}

#[tokio::test]
async fn without_verification_an_untrusted_certificate_is_accepted() {
    let slapd = TestSlapd::start_with_tls().await;
    let ldaps_url = slapd.ldaps_url.clone().expect("an ldaps listener");
    for (url, starttls) in [(ldaps_url.as_str(), false), (slapd.url.as_str(), true)] {
        let directory = LdapDirectory::new(LdapConfig {
            starttls,
            tls_verify: false,
            ca_file: Some(slapd.certificates().other_ca_file.clone()),
            ..config_for(&slapd, url, &[])
        });
        timed_sign_in(&directory, &format!("{url} without verification")).await;
    }
}

#[tokio::test]
async fn tls_spoken_to_the_wrong_port_or_server_is_named() {
    let slapd = TestSlapd::start_with_tls().await;
    let ca_file = Some(slapd.certificates().ca_file.clone());

    // ldaps:// to the plain ldap:// port: slapd does not answer the TLS greeting.
    let ldaps_to_plain = slapd.url.replace("ldap://", "ldaps://");
    let directory = LdapDirectory::new(LdapConfig {
        ca_file: ca_file.clone(),
        ..config_for(&slapd, &ldaps_to_plain, &[])
    });
    let message = expect_unavailable(sign_in_alice(&directory).await, "ldaps to a plain port");
    assert!(
        message.starts_with(&format!("cannot connect to {ldaps_to_plain}: TLS failed: ")),
        "{message}"
    );

    // StartTLS to a server without a certificate: it refuses the upgrade.
    let plain = TestSlapd::shared().await;
    let directory = LdapDirectory::new(LdapConfig {
        starttls: true,
        ca_file,
        ..config_for(plain, &plain.url, &[])
    });
    let message = expect_unavailable(sign_in_alice(&directory).await, "StartTLS without TLS");
    assert!(
        message.starts_with(&format!("cannot connect to {}: StartTLS refused: ", plain.url)),
        "{message}"
    );
}

#[tokio::test]
async fn the_ca_file_setting_is_read_from_the_configuration_file() {
    let slapd = TestSlapd::start_with_tls().await;
    let ldaps_url = slapd.ldaps_url.clone().expect("an ldaps listener");
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("gatehouse.toml");
    let ca_file = slapd.certificates().ca_file.display().to_string();
    std::fs::write(
        &path,
        format!(
            "[ldap]\nurl = \"{ldaps_url}\"\nca_file = \"{ca_file}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\n\
             base_dn = \"{}\"\nconnect_timeout = 1\noperation_timeout = 1\nretry_after = 10\npool_size = 2\n\
             tls_verify = true\n",
            slapd.bind_dn, slapd.bind_password, slapd.people_dn
        ),
    )
    .expect("write the configuration");
    let config = Config::load(&path, true, Vec::new()).expect("the configuration is valid");
    assert_eq!(config.ldap.ca_file, Some(PathBuf::from(&ca_file)));
    assert_eq!((config.ldap.retry_after, config.ldap.pool_size), (10, 2));
    let directory = LdapDirectory::new(config.ldap);
    directory.check_health().await.expect("ldaps with the CA from the file");
}

#[tokio::test]
async fn a_refused_first_server_is_passed_over_at_once() {
    let slapd = TestSlapd::shared().await;
    let dead = dead_url();
    let directory = LdapDirectory::new(config_for(slapd, &dead, &[&slapd.url]));
    let first = timed_sign_in(&directory, "first sign-in, first server refused").await;
    let second = timed_sign_in(&directory, "second sign-in, first server skipped").await;
    directory
        .check_health()
        .await
        .expect("healthy through the second server");
    assert!(first < Duration::from_millis(800), "first sign-in took {first:?}");
    assert!(second < Duration::from_millis(500), "second sign-in took {second:?}");
}

#[tokio::test]
async fn a_host_name_that_does_not_resolve_is_named() {
    let slapd = TestSlapd::shared().await;
    let url = "ldap://gatehouse-test.invalid:389/";
    let directory = LdapDirectory::new(config_for(slapd, url, &[]));
    let message = expect_unavailable(sign_in_alice(&directory).await, "a name that does not resolve");
    // `.invalid` never resolves (RFC 6761); only a machine whose resolver never answers
    // would see the connect timeout instead.
    assert!(
        message.starts_with(&format!(
            "cannot connect to {url}: cannot resolve the host name gatehouse-test.invalid: "
        )) || message == format!("cannot connect to {url}: no answer within 1 s"),
        "{message}"
    );
}

#[tokio::test]
async fn every_server_failing_is_reported_with_each_reason() {
    let slapd = TestSlapd::shared().await;
    let (first, second) = (dead_url(), dead_url());
    let directory = LdapDirectory::new(config_for(slapd, &first, &[&second]));
    let message = expect_unavailable(sign_in_alice(&directory).await, "both refused");
    assert_eq!(
        message,
        format!(
            "no directory server is available: cannot connect to {first}: connection refused; \
             cannot connect to {second}: connection refused"
        )
    );
    // Skipped servers are still tried when there is nothing else: the answer stays the same.
    let again = expect_unavailable(sign_in_alice(&directory).await, "both still refused");
    assert_eq!(again, message);
}

#[tokio::test]
async fn a_hung_first_server_costs_one_timeout_then_is_skipped_and_later_retried() {
    let (first, second) = tokio::join!(TestSlapd::start(), TestSlapd::start());
    let config = LdapConfig {
        retry_after: 2,
        ..config_for(&first, &first.url, &[&second.url])
    };
    let directory = LdapDirectory::new(config.clone());
    timed_sign_in(&directory, "both servers up").await;

    // The first server hangs behind pooled connections: one operation timeout (1 s), then
    // the same sign-in goes on through the second server.
    first.suspend();
    let failover = timed_sign_in(&directory, "first server hung").await;
    let skipped = timed_sign_in(&directory, "first server skipped").await;
    // A directory with nothing pooled meets the hang at the service bind: one timeout too.
    let fresh = LdapDirectory::new(config);
    let fresh_failover = timed_sign_in(&fresh, "first server hung, fresh directory").await;
    println!("failover past a hung server: {failover:?} (pooled), {fresh_failover:?} (new connections); next sign-in {skipped:?}");
    for elapsed in [failover, fresh_failover] {
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(1900),
            "one 1 s timeout, then the second server: {elapsed:?}"
        );
    }
    assert!(
        skipped < Duration::from_millis(500),
        "the hung server is skipped: {skipped:?}"
    );

    // Once retry_after has passed, the first server is tried first again: with the second
    // one hung now, a sign-in that went there first would take a whole timeout.
    first.resume();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    second.suspend();
    let back = timed_sign_in(&directory, "first server back").await;
    second.resume();
    assert!(
        back < Duration::from_millis(700),
        "the first server is preferred again: {back:?}"
    );
}

/// The sign-in page's answer to alice's password: status and body.
async fn post_login(app: &TestApp) -> (StatusCode, Option<String>, String, Duration) {
    let started = Instant::now();
    let (status, location, body) = Browser::new()
        .submit_login(&app.url("/login"), "alice", "alice-password")
        .await;
    (status, location, body, started.elapsed())
}

async fn get_json(app: &TestApp, path: &str) -> (JsonReply, Duration) {
    let started = Instant::now();
    let response = http_client()
        .get(app.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (JsonReply::read(response).await, started.elapsed())
}

fn assert_signed_in(answer: &(StatusCode, Option<String>, String, Duration), app: &TestApp, context: &str) {
    let (status, location, body, _) = answer;
    assert_eq!(*status, StatusCode::SEE_OTHER, "{context}: {body}");
    assert_eq!(location.as_deref(), Some(app.url("/").as_str()), "{context}");
}

fn assert_unavailable_page(answer: &(StatusCode, Option<String>, String, Duration), context: &str) {
    let (status, _, body, elapsed) = answer;
    assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{context}: {body}");
    assert!(body.contains(UNAVAILABLE_PAGE), "{context}: {body}");
    assert!(
        *elapsed < Duration::from_millis(2500),
        "{context}: held for {elapsed:?}"
    );
}

async fn assert_readiness(app: &TestApp, status: StatusCode, directory: &str) {
    let (readyz, _) = get_json(app, "/readyz").await;
    assert_eq!(readyz.status, status, "{}", readyz.body);
    assert_eq!(readyz.body["directory"], directory, "{}", readyz.body);
}

#[tokio::test]
async fn a_stopped_directory_makes_sign_in_unavailable_until_it_returns() {
    let mut slapd = TestSlapd::start().await;
    let ldap = LdapConfig {
        // Long: recovery must not wait for it (a lone server is always tried).
        retry_after: 300,
        ..config_for(&slapd, &slapd.url, &[])
    };
    let app = spawn_app_with(|config| config.ldap = ldap).await;
    assert_signed_in(&post_login(&app).await, &app, "before the outage");

    slapd.stop();
    assert_unavailable_page(&post_login(&app).await, "directory stopped");
    assert_readiness(&app, StatusCode::SERVICE_UNAVAILABLE, "unreachable").await;
    let (discovery, _) = get_json(&app, "/.well-known/openid-configuration").await;
    assert_eq!(discovery.status, StatusCode::OK, "the rest keeps answering");
    assert_eq!(discovery.body["issuer"], app.address.as_str());
    let (healthz, _) = get_json(&app, "/healthz").await;
    assert_eq!(healthz.status, StatusCode::OK);

    slapd.restart().await;
    assert_signed_in(&post_login(&app).await, &app, "after the directory returned");
    // The outage answer is kept for the readiness window (see tests/api/readiness.rs).
    app.clock.advance(READINESS_WINDOW);
    assert_readiness(&app, StatusCode::OK, "ok").await;
}

#[tokio::test]
async fn a_hung_directory_holds_sign_in_no_longer_than_the_timeout() {
    let slapd = TestSlapd::start().await;
    let ldap = config_for(&slapd, &slapd.url, &[]);
    let app = std::sync::Arc::new(spawn_app_with(|config| config.ldap = ldap).await);
    assert_signed_in(&post_login(&app).await, &app, "before the hang");

    slapd.suspend();
    let login = tokio::spawn({
        let app = app.clone();
        async move { post_login(&app).await }
    });
    // While a sign-in waits on the hung directory, the rest answers at once.
    let (discovery, discovery_time) = get_json(&app, "/.well-known/openid-configuration").await;
    assert_eq!(discovery.status, StatusCode::OK);
    assert!(
        discovery_time < Duration::from_millis(500),
        "discovery took {discovery_time:?}"
    );
    let answer = login.await.expect("the sign-in task");
    println!("sign-in against a hung directory answered 503 after {:?}", answer.3);
    assert_unavailable_page(&answer, "directory hung");
    let (readyz, readyz_time) = get_json(&app, "/readyz").await;
    assert_eq!(readyz.status, StatusCode::SERVICE_UNAVAILABLE, "{}", readyz.body);
    assert!(
        readyz_time < Duration::from_millis(2500),
        "/readyz took {readyz_time:?}"
    );

    slapd.resume();
    assert_signed_in(&post_login(&app).await, &app, "after the directory woke up");
    app.clock.advance(READINESS_WINDOW);
    assert_readiness(&app, StatusCode::OK, "ok").await;
}
