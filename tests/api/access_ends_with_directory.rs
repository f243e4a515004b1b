//! Access ends when the directory says so: the first use of anything of a person's after
//! the directory refused them (gone, disabled, locked, expired) ends everything of theirs
//! at once (every session, grant, refresh token, personal access token), audited once;
//! introspection re-checks a token's owner like every other use; and the directory
//! settings changed while running (re-check interval, `email_verified`, extra claims) take
//! effect at once.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;

use crate::personal_access_tokens::{admin_api, create_token};
use crate::refresh_tokens::{field, refresh, tokens_for, CONFIDENTIAL, OFFLINE_SCOPE};
use crate::revocation_and_introspection::introspect;
use crate::support::audit::audit_rows_until;
use crate::support::browser::Browser;
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::{http_client, is_signed_in, sign_in, userinfo_with_header};
use crate::support::second_factor::sign_in_for_administration;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::{spawn_app_with, TestApp, RESOURCE_SERVER};

const INTERVAL: i64 = 120;

/// A server on a directory of its own (the tests change people in it), re-checking people
/// every [`INTERVAL`] unless `customize` says otherwise.
async fn with_own_directory(customize: impl FnOnce(&mut gatehouse::config::Config)) -> (TestSlapd, TestApp) {
    let slapd = TestSlapd::start().await;
    let ldap = slapd.ldap_config();
    let app = spawn_app_with(|config| {
        config.ldap = ldap;
        config.ldap.recheck_interval = INTERVAL;
        customize(config);
    })
    .await;
    (slapd, app)
}

async fn set_locked_time(slapd: &TestSlapd, uid: &str, value: &str) {
    let mut admin = slapd.admin_connection().await;
    admin
        .modify(
            &format!("uid={uid},{}", slapd.people_dn),
            vec![ldap3::Mod::Replace("pwdAccountLockedTime", HashSet::from([value]))],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
}

async fn signed_in(app: &TestApp, username: &str) -> Browser {
    let browser = Browser::new();
    sign_in(app, &browser, username, &format!("{username}-password")).await;
    browser
}

fn sub_of(tokens: &crate::support::oauth::JsonReply) -> String {
    decode_jwt_payload(&field(tokens, "access_token"))["sub"]
        .as_str()
        .expect("sub")
        .to_string()
}

#[tokio::test]
async fn a_person_the_directory_refuses_loses_everything_at_the_first_use_audited_once() {
    let (slapd, app) = with_own_directory(|_| {}).await;
    let first_browser = signed_in(&app, "bob").await;
    let second_browser = signed_in(&app, "bob").await;
    let pat = create_token(&app, &first_browser, "script", &["openid"], "30", "").await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let bob = sub_of(&tokens);
    let carol_browser = signed_in(&app, "carol").await;

    // Disabled by an administrator (ppolicy's "locked until unlocked").
    set_locked_time(&slapd, "bob", "000001010000Z").await;
    app.clock.advance(INTERVAL + 1);

    // The first use asks the directory; everything else of his has ended with it, whatever
    // is used next and however recently the directory was asked.
    assert!(!is_signed_in(&app, &first_browser).await, "the session that asked ends");
    let info = userinfo_with_header(&app, &pat).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED, "his token stops: {}", info.body);
    assert!(
        !is_signed_in(&app, &second_browser).await,
        "his other session ends in the same step"
    );
    let access = introspect(&app, CONFIDENTIAL, &field(&tokens, "access_token"), None).await;
    assert_eq!(access.body["active"], false, "{}", access.body);
    let personal = introspect(&app, RESOURCE_SERVER, &pat, None).await;
    assert_eq!(personal.body["active"], false, "{}", personal.body);
    let refreshed = refresh(&app, CONFIDENTIAL, &field(&tokens, "refresh_token"), None).await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST, "{}", refreshed.body);
    assert_eq!(refreshed.error(), Some("invalid_grant"));
    let info = userinfo_with_header(&app, &pat).await;
    assert_eq!(
        info.status,
        StatusCode::UNAUTHORIZED,
        "and stays stopped: {}",
        info.body
    );

    assert!(
        is_signed_in(&app, &carol_browser).await,
        "everyone else stays signed in"
    );

    let refused = |rows: &[crate::support::audit::AuditRow]| {
        rows.iter()
            .filter(|row| row.kind == "person.refused_by_directory")
            .count()
    };
    audit_rows_until(&app.database_url, |rows| refused(rows) >= 1).await;
    // Anything recorded twice would be written by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = audit_rows_until(&app.database_url, |_| true).await;
    let events: Vec<_> = rows
        .iter()
        .filter(|row| row.kind == "person.refused_by_directory")
        .collect();
    assert_eq!(events.len(), 1, "audited once: {events:?}");
    assert_eq!(events[0].actor.as_deref(), Some(bob.as_str()));
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["reason"], "disabled");
    assert_eq!(detail["sessions"], 3, "two browsers and the authorization's: {detail}");
    assert_eq!(detail["personal_access_tokens"], 1, "{detail}");
    assert!(detail["grants"].as_u64().unwrap() >= 1, "{detail}");
}

#[tokio::test]
async fn introspecting_a_personal_access_token_rechecks_its_owner() {
    let (slapd, app) = with_own_directory(|_| {}).await;
    let carol = signed_in(&app, "carol").await;
    let pat = create_token(&app, &carol, "ci", &["openid"], "30", "").await;
    assert_eq!(introspect(&app, RESOURCE_SERVER, &pat, None).await.body["active"], true);

    // Locked after too many failures, as ppolicy records it: refused like disabled.
    set_locked_time(&slapd, "carol", "20260101000000Z").await;
    app.clock.advance(INTERVAL + 1);

    // Introspection is the first use after the directory refused her.
    let reply = introspect(&app, RESOURCE_SERVER, &pat, None).await;
    assert_eq!(reply.body["active"], false, "{}", reply.body);
    assert!(!is_signed_in(&app, &carol).await);
}

#[tokio::test]
async fn directory_settings_changed_while_running_take_effect_at_once() {
    let (slapd, app) = with_own_directory(|config| {
        // The file's values: checks once a day, email not verified, no extra claims.
        config.ldap.recheck_interval = 86_400;
        config.ldap.email_verified = false;
        config.admin.groups = vec!["admins".into()];
    })
    .await;

    // An administrator changes them through the admin API, as the page would.
    let alice = Browser::new();
    sign_in_for_administration(&app, &alice, "alice", "alice-password").await;
    let admin_token = create_token(&app, &alice, "ops", &["openid", "admin"], "30", "").await;
    let current = admin_api(&app, reqwest::Method::GET, "/admin/api/ldap", &admin_token).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    let mut changed = current.body.clone();
    changed["recheck_interval"] = serde_json::json!(INTERVAL);
    changed["email_verified"] = serde_json::json!(true);
    changed["extra_claims"] = serde_json::json!({ "employee_type": "employeeType" });
    let saved = http_client()
        .put(app.url("/admin/api/ldap"))
        .bearer_auth(&admin_token)
        .json(&changed)
        .send()
        .await
        .expect("PUT /admin/api/ldap");
    assert_eq!(saved.status(), StatusCode::OK, "{}", saved.text().await.unwrap());

    let discovery: serde_json::Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery["claims_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|claim| claim == "employee_type"),
        "discovery lists the new claim: {discovery}"
    );

    let tokens = tokens_for(&app, "bob", "bob-password", "openid email").await;
    let info = userinfo_with_header(&app, &field(&tokens, "access_token")).await;
    assert_eq!(info.body["email_verified"], true, "{}", info.body);

    // The new interval: a person disabled in the directory is refused after two minutes,
    // not a day.
    let bob = signed_in(&app, "bob").await;
    set_locked_time(&slapd, "bob", "000001010000Z").await;
    app.clock.advance(INTERVAL + 1);
    assert!(
        !is_signed_in(&app, &bob).await,
        "checked at the interval set while running"
    );
}
