//! Administration of the directory connection: who may administer (`[admin] groups`, the
//! first-run setup link), the LDAP settings page and JSON API, and that a change made there
//! is what the next sign-in uses. alice is in `admins` in the test directory, bob is not.

use gatehouse::clock::Clock;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{json, Value};

use crate::support::audit::audit_rows_until;
use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::*;
use crate::support::recording_listener::{contains, RecordingListener};
use crate::support::second_factor::sign_in_for_administration;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::*;

async fn spawn_admin_app() -> TestApp {
    spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await
}

/// A browser signed in as `username`: an administrator (alice) through the password and
/// the second factor, which administration needs; anyone else with the password.
async fn signed_in(app: &TestApp, username: &str) -> Browser {
    let browser = Browser::new();
    let password = format!("{username}-password");
    if username == "alice" {
        sign_in_for_administration(app, &browser, username, &password).await;
    } else {
        sign_in(app, &browser, username, &password).await;
    }
    browser
}

async fn api_get(app: &TestApp, browser: &Browser, path: &str) -> JsonReply {
    JsonReply::read(browser.http.get(app.url(path)).send().await.expect("GET")).await
}

async fn api_send(
    app: &TestApp,
    browser: &Browser,
    method: reqwest::Method,
    path: &str,
    csrf: Option<&str>,
    body: &Value,
) -> JsonReply {
    let mut request = browser.http.request(method, app.url(path)).json(body);
    if let Some(token) = csrf {
        request = request.header("X-CSRF-Token", token);
    }
    JsonReply::read(request.send().await.expect("request")).await
}

async fn csrf_token(app: &TestApp, browser: &Browser) -> String {
    let session = api_get(app, browser, "/admin/api/session").await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    session.body["csrf_token"].as_str().expect("csrf_token").to_string()
}

/// Whether `username` can sign in with `password` on the plain sign-in page now.
async fn can_sign_in(app: &TestApp, username: &str, password: &str) -> bool {
    let (status, _, _) = Browser::new()
        .submit_login(&app.url("/login"), username, password)
        .await;
    status == StatusCode::SEE_OTHER
}

/// Every field a form would post as the browser shows it: inputs with their values
/// (checkboxes only when ticked), text areas, selected options.
fn form_values(body: &str) -> Vec<(String, String)> {
    let document = Html::parse_document(body);
    let mut values = Vec::new();
    let inputs = Selector::parse("form input").expect("selector");
    for input in document.select(&inputs) {
        let element = input.value();
        let (Some(name), kind) = (element.attr("name"), element.attr("type").unwrap_or("text")) else {
            continue;
        };
        if kind == "checkbox" && element.attr("checked").is_none() {
            continue;
        }
        values.push((name.to_string(), element.attr("value").unwrap_or_default().to_string()));
    }
    let textareas = Selector::parse("form textarea").expect("selector");
    for area in document.select(&textareas) {
        if let Some(name) = area.value().attr("name") {
            values.push((name.to_string(), area.text().collect()));
        }
    }
    let selects = Selector::parse("form select").expect("selector");
    let selected = Selector::parse("option[selected]").expect("selector");
    for select in document.select(&selects) {
        if let (Some(name), Some(option)) = (select.value().attr("name"), select.select(&selected).next()) {
            values.push((
                name.to_string(),
                option.value().attr("value").unwrap_or_default().to_string(),
            ));
        }
    }
    values
}

fn set(values: &mut Vec<(String, String)>, name: &str, value: &str) {
    values.retain(|(n, _)| n != name);
    values.push((name.to_string(), value.to_string()));
}

async fn post_values(browser: &Browser, url: &str, values: &[(String, String)]) -> (StatusCode, String) {
    let response = browser.http.post(url).form(values).send().await.expect("POST");
    (response.status(), response.text().await.unwrap_or_default())
}

/// Every audit row as (kind, actor, detail), waiting up to 5 s until one of `kind` is there
/// (the writer stores events in the background).
async fn audit_rows_once(app: &TestApp, kind: &str) -> Vec<(String, Option<String>, String)> {
    audit_rows_until(&app.database_url, |rows| rows.iter().any(|row| row.kind == kind))
        .await
        .into_iter()
        .map(|row| (row.kind, row.actor, row.detail))
        .collect()
}

#[tokio::test]
async fn admin_pages_and_api_need_a_signed_in_administrator() {
    let app = spawn_admin_app().await;

    let nobody = Browser::new();
    let (status, location, _) = nobody.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/login?next=%2Fadmin"));
    let (status, location, _) = nobody.visit(&app.url("/admin/ldap")).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Fadmin%2Fldap"))
    );
    // Signing in from there asks an administrator for the second factor (administration
    // needs it whatever the policy); a foreign target is ignored.
    let returning = Browser::new();
    let (status, location, _) = returning
        .submit_login(&app.url("/login?next=%2Fadmin%2Fldap"), "alice", "alice-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location
            .as_deref()
            .is_some_and(|l| l.starts_with(&app.url("/login/totp/enrol"))),
        "{location:?}"
    );
    // A password-only session of an administrator is not enough.
    let password_only = Browser::new();
    sign_in(&app, &password_only, "alice", "alice-password").await;
    let (status, location, _) = password_only.visit(&app.url("/admin")).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Fadmin"))
    );
    let reply = api_get(&app, &password_only, "/admin/api/ldap").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), Some("insufficient_user_authentication"));
    let (status, location, _) = Browser::new()
        .submit_login(&app.url("/login?next=%2F%2Fevil.example"), "alice", "alice-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(app.url("/").as_str()));
    let reply = api_get(&app, &nobody, "/admin/api/ldap").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), Some("unauthorized"));
    assert!(reply.body["error_description"].is_string());
    let reply = api_send(&app, &nobody, reqwest::Method::PUT, "/admin/api/ldap", None, &json!({})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    let bob = signed_in(&app, "bob").await;
    let (status, _, body) = bob.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("Administrators only"), "{body}");
    let reply = api_get(&app, &bob, "/admin/api/ldap").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error(), Some("forbidden"));
    assert_eq!(
        api_get(&app, &bob, "/admin/api/session").await.status,
        StatusCode::FORBIDDEN
    );

    let alice = signed_in(&app, "alice").await;
    let (status, _, body) = alice.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("alice") && body.contains("admins"), "{body}");
    assert!(body.contains("href=\"/admin/ldap\""), "{body}");
    let session = api_get(&app, &alice, "/admin/api/session").await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.body["username"], "alice");
    assert!(session.body["sub"].as_str().is_some_and(|s| !s.is_empty()));
    let token = session.body["csrf_token"].as_str().expect("csrf_token").to_string();

    let settings = api_get(&app, &alice, "/admin/api/ldap").await;
    assert_eq!(settings.status, StatusCode::OK);
    let reply = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        None,
        &settings.body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
    assert_eq!(reply.error(), Some("invalid_csrf_token"));
    let reply = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some("not-the-token"),
        &settings.body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api_send(
        &app,
        &alice,
        reqwest::Method::POST,
        "/admin/api/ldap/test",
        None,
        &json!({ "sample_username": "alice" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "the test needs the CSRF token too");
    // The token belongs to alice's browser: another browser's cookie does not match it.
    let reply = api_send(
        &app,
        &bob,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &settings.body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_administrator_changes_the_ldap_settings_and_the_next_sign_in_uses_them() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;
    let token = csrf_token(&app, &alice).await;

    let read = api_get(&app, &alice, "/admin/api/ldap").await;
    assert_eq!(read.status, StatusCode::OK);
    let text = read.body.to_string();
    assert!(!text.contains(&slapd.bind_password), "the bind password is never sent");
    assert!(read.body.get("bind_password").is_none());
    assert_eq!(read.body["bind_password_set"], true);
    assert_eq!(read.body["login_attributes"], json!(["uid"]));
    let version = read.body["version"].as_i64().expect("version");

    // Signing in by email does not work with the settings from the file.
    assert!(!can_sign_in(&app, "bob@example.org", "bob-password").await);

    let mut changed = read.body.clone();
    changed["login_attributes"] = json!(["uid", "mail"]);
    let saved = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &changed,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert!(saved.body["version"].as_i64().expect("version") > version);
    assert!(!saved.body.to_string().contains(&slapd.bind_password));

    // The very next sign-in uses the new settings (the password was kept).
    assert!(can_sign_in(&app, "bob@example.org", "bob-password").await);
    assert!(can_sign_in(&app, "alice", "alice-password").await);

    // Saving over a change made meanwhile is refused.
    let stale = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &changed,
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{:?}", stale.body);
    assert_eq!(stale.error(), Some("conflict"));

    // Every problem is listed, nothing is stored.
    let mut broken = api_get(&app, &alice, "/admin/api/ldap").await.body;
    broken["url"] = json!("http://ldap.example.org");
    broken["base_dn"] = json!("");
    broken["colour"] = json!("blue");
    let refused = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &broken,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{:?}", refused.body);
    assert_eq!(refused.error(), Some("invalid_request"));
    assert!(refused.body["problems"].as_array().is_some_and(|p| !p.is_empty()));
    let mut broken = api_get(&app, &alice, "/admin/api/ldap").await.body;
    broken["url"] = json!("http://ldap.example.org");
    broken["base_dn"] = json!("");
    let refused = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &broken,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{:?}", refused.body);
    let problems = refused.body["problems"].as_array().expect("problems");
    assert!(problems.len() >= 2, "{problems:?}");
    let missing_version = json!({ "url": slapd.url });
    let refused = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &missing_version,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        can_sign_in(&app, "bob@example.org", "bob-password").await,
        "nothing changed"
    );

    // A wrong new password is stored and used: sign-in stops working, the test says why.
    let mut wrong_password = api_get(&app, &alice, "/admin/api/ldap").await.body;
    wrong_password["bind_password"] = json!("not-the-service-password");
    let saved = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &wrong_password,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert!(!saved.body.to_string().contains("not-the-service-password"));
    assert!(!can_sign_in(&app, "bob", "bob-password").await);
    let mut fixed = saved.body.clone();
    fixed["bind_password"] = json!(slapd.bind_password);
    let saved = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &fixed,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert!(can_sign_in(&app, "bob", "bob-password").await);

    // Every change is audited under alice's sub, and no password is in the trail.
    let sub = api_get(&app, &alice, "/admin/api/session").await.body["sub"].clone();
    let rows = audit_rows_once(&app, "settings.ldap_changed").await;
    let changes: Vec<_> = rows
        .iter()
        .filter(|(kind, actor, _)| kind == "settings.ldap_changed" && actor.as_deref() != Some("config"))
        .collect();
    assert_eq!(changes.len(), 3, "{rows:?}");
    assert!(
        changes.iter().all(|(_, actor, _)| actor.as_deref() == sub.as_str()),
        "{rows:?}"
    );
    assert!(
        changes.iter().any(|(_, _, detail)| detail.contains("login_attributes")),
        "{rows:?}"
    );
    assert!(
        changes.iter().any(|(_, _, detail)| detail.contains("bind_password")),
        "{rows:?}"
    );
    for (_, _, detail) in &rows {
        assert!(!detail.contains(&slapd.bind_password) && !detail.contains("not-the-service-password"));
    }
}

#[tokio::test]
async fn an_administrator_can_point_gatehouse_at_another_directory() {
    let app = spawn_admin_app().await;
    let mut second = TestSlapd::start().await;
    let alice = signed_in(&app, "alice").await;
    let token = csrf_token(&app, &alice).await;

    let mut moved = api_get(&app, &alice, "/admin/api/ldap").await.body;
    moved["url"] = json!(second.url);
    // Another server: the bind password goes with it only when typed again.
    moved["bind_password"] = json!(second.bind_password);
    let saved = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &moved,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert_eq!(saved.body["url"], json!(second.url));
    assert!(can_sign_in(&app, "bob", "bob-password").await);
    // With the second directory stopped, sign-in fails: it is the one in use.
    second.stop();
    assert!(!can_sign_in(&app, "bob", "bob-password").await);
}

#[tokio::test]
async fn the_connection_test_shows_claims_and_reports_a_bad_port_plainly() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;
    let token = csrf_token(&app, &alice).await;

    let stored = api_send(
        &app,
        &alice,
        reqwest::Method::POST,
        "/admin/api/ldap/test",
        Some(&token),
        &json!({ "sample_username": "alice" }),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK, "{:?}", stored.body);
    assert_eq!(stored.body["ok"], true, "{:?}", stored.body);
    assert_eq!(stored.body["user"]["preferred_username"], "alice");
    assert!(stored.body["user"]["groups"]
        .as_array()
        .is_some_and(|groups| groups.contains(&json!("admins"))));

    let mut bad_port = api_get(&app, &alice, "/admin/api/ldap").await.body;
    bad_port["url"] = json!("ldap://127.0.0.1:1");
    // Another server: the bind password goes with it only when typed again.
    bad_port["bind_password"] = json!(slapd.bind_password);
    let report = api_send(
        &app,
        &alice,
        reqwest::Method::POST,
        "/admin/api/ldap/test",
        Some(&token),
        &json!({ "settings": bad_port, "sample_username": "alice" }),
    )
    .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(report.body["ok"], false);
    let failure = &report.body["first_failure"];
    assert_eq!(failure["name"], "connect", "{:?}", report.body);
    let detail = failure["detail"].as_str().expect("detail");
    assert!(detail.contains("127.0.0.1:1"), "{detail}");
    assert!(detail.contains("refused"), "{detail}");
    assert!(report.body["user"].is_null());

    // Testing changes nothing.
    assert!(can_sign_in(&app, "bob", "bob-password").await);
}

#[tokio::test]
async fn the_ldap_page_tests_and_saves_without_ever_showing_the_password() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;

    let (status, _, body) = alice.visit(&app.url("/admin/ldap")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.contains(&slapd.bind_password));
    assert_eq!(hidden_field(&body, "bind_password").as_deref(), Some(""));
    assert!(body.contains("leave empty to keep the current password"));
    let mut values = form_values(&body);
    assert!(values
        .iter()
        .any(|(name, value)| name == "base_dn" && value == &slapd.people_dn));

    set(&mut values, "sample_username", "alice");
    set(&mut values, "action", "test");
    let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &values).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("passed"), "{body}");
    assert!(body.contains("admins") && body.contains("alice@example.org"), "{body}");
    assert!(!body.contains(&slapd.bind_password));

    let mut broken = values.clone();
    set(&mut broken, "base_dn", "");
    set(&mut broken, "pool_size", "0");
    set(&mut broken, "action", "save");
    let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("ldap.base_dn") && body.contains("ldap.pool_size"),
        "{body}"
    );

    set(&mut values, "login_attributes", "uid, mail");
    set(&mut values, "action", "save");
    let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &values).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Saved — in effect now"), "{body}");
    assert!(can_sign_in(&app, "bob@example.org", "bob-password").await);

    // The version in the old form is stale now.
    let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &values).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let mut forged = values.clone();
    set(&mut forged, "csrf_token", "forged");
    let (status, _) = post_values(&alice, &app.url("/admin/ldap"), &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn first_run_setup_names_the_administrators_once() {
    let app = spawn_app().await;
    let alice = Browser::new();
    sign_in(&app, &alice, "alice", "alice-password").await;
    let (status, _, _) = alice.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nobody administers before the setup");

    // What `serve` does at start.
    let (status, _, _) = Browser::new().visit(&app.url("/setup?token=x")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no setup link was issued yet");
    let db = gatehouse::storage::connect_database(&app.database_url, 1)
        .await
        .expect("database");
    let token = gatehouse::settings::admin_groups::ensure_setup_token(&db, app.clock.now_unix())
        .await
        .expect("setup token")
        .expect("no administrator group yet, so a token");

    let operator = Browser::new();
    let (status, _, _) = operator.visit(&app.url("/setup?token=not-the-token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let setup_url = app.url(&format!("/setup?token={token}"));
    let (status, _, body) = operator.visit(&setup_url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let csrf = hidden_field(&body, "csrf_token").expect("csrf_token");

    let (status, _, body) = operator
        .post_form(
            &app.url("/setup"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("admin_groups", ""),
                ("sample_username", "alice"),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("passed") && body.contains("admins"), "{body}");

    let (status, _, body) = operator
        .post_form(
            &app.url("/setup"),
            &[
                ("csrf_token", "forged"),
                ("token", &token),
                ("admin_groups", "admins"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = operator
        .post_form(
            &app.url("/setup"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("admin_groups", ""),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("administrator group"), "{body}");

    // Finishing also changes the LDAP settings (sign-in by email as well), as the page
    // shows them; the stored bind password is kept.
    assert!(!can_sign_in(&app, "bob@example.org", "bob-password").await);
    let (_, _, page) = operator.visit(&setup_url).await;
    let mut values = form_values(&page);
    set(&mut values, "admin_groups", "admins");
    set(&mut values, "change_ldap", "on");
    set(&mut values, "login_attributes", "uid, mail");
    set(&mut values, "action", "save");
    let (status, body) = post_values(&operator, &app.url("/setup"), &values).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Setup finished"), "{body}");
    assert!(can_sign_in(&app, "bob@example.org", "bob-password").await);

    // The token is spent, and alice administers now.
    let (status, _, _) = operator.visit(&setup_url).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, _, _) = operator
        .post_form(
            &app.url("/setup"),
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("admin_groups", "staff"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::GONE);
    let (status, location, _) = alice.visit(&app.url("/admin")).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Fadmin")),
        "her password-only session needs the second factor for administration"
    );
    let alice = signed_in(&app, "alice").await;
    let (status, _, body) = alice.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bob = signed_in(&app, "bob").await;
    assert_eq!(bob.visit(&app.url("/admin")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        gatehouse::settings::admin_groups::ensure_setup_token(&db, app.clock.now_unix())
            .await
            .expect("no error"),
        None,
        "no new link once administrators exist"
    );
    let rows = audit_rows_once(&app, "settings.admin_groups_changed").await;
    assert!(
        rows.iter()
            .any(|(kind, actor, detail)| kind == "settings.admin_groups_changed"
                && actor.as_deref() == Some("setup")
                && detail.contains("admins")),
        "{rows:?}"
    );
}

/// `settings` (as `GET /admin/api/ldap` reads them) pointed at `url` alone, with short
/// timeouts since nothing answers there.
fn pointed_at(settings: &Value, url: &str) -> Value {
    let mut moved = settings.clone();
    moved["url"] = json!(url);
    moved["urls"] = json!([]);
    moved["connect_timeout"] = json!(1);
    moved["operation_timeout"] = json!(1);
    moved
}

/// Whether an API answer is a 400 whose problems name `bind_password`.
fn asks_for_the_bind_password(reply: &JsonReply) -> bool {
    reply.status == StatusCode::BAD_REQUEST
        && reply.body["problems"].as_array().is_some_and(|problems| {
            problems
                .iter()
                .any(|p| p.as_str().is_some_and(|p| p.contains("bind_password")))
        })
}

/// `POST /admin/api/ldap/test` with `body`.
async fn test_api(app: &TestApp, browser: &Browser, token: &str, body: Value) -> JsonReply {
    api_send(
        app,
        browser,
        reqwest::Method::POST,
        "/admin/api/ldap/test",
        Some(token),
        &body,
    )
    .await
}

/// What the pages say next to the password field when it must be typed again.
const RETYPE_PASSWORD: &str = "Type the bind password again";
const TYPED_FOR_THE_NEW_SERVER: &str = "typed-for-the-new-server";
/// How long a test waits for bytes that must not arrive.
const QUIET: std::time::Duration = std::time::Duration::from_secs(2);
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[tokio::test]
async fn the_connection_test_sends_the_stored_bind_password_only_to_the_stored_servers() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;
    let token = csrf_token(&app, &alice).await;
    let listener = RecordingListener::start().await;
    let stored = api_get(&app, &alice, "/admin/api/ldap").await.body;

    // The stored servers, as read: the stored password is used, nobody retypes it.
    let same = test_api(
        &app,
        &alice,
        &token,
        json!({ "settings": stored, "sample_username": "alice" }),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{:?}", same.body);
    assert_eq!(same.body["ok"], true, "{:?}", same.body);

    // A password typed with the new server goes there: the listener sees binds.
    let mut typed = pointed_at(&stored, &listener.url);
    typed["bind_password"] = json!(TYPED_FOR_THE_NEW_SERVER);
    let reply = test_api(
        &app,
        &alice,
        &token,
        json!({ "settings": typed, "sample_username": "alice" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["ok"], false);
    assert!(listener.received_within(TYPED_FOR_THE_NEW_SERVER, WAIT).await);

    // Not retyped: the stored password never goes there, and the answer asks for it.
    let connections = listener.connections();
    let reply = test_api(
        &app,
        &alice,
        &token,
        json!({ "settings": pointed_at(&stored, &listener.url), "sample_username": "alice" }),
    )
    .await;
    assert!(
        !listener.received_within(&slapd.bind_password, QUIET).await,
        "the stored bind password was sent to a server the request named"
    );
    assert_eq!(listener.connections(), connections, "not even a connection");
    assert!(asks_for_the_bind_password(&reply), "{:?}", reply.body);
    let text = reply.body.to_string();
    assert!(!text.contains(&slapd.bind_password));

    // A failover server added, another bind DN, StartTLS or certificate checks changed:
    // each decides where or to whom the password goes, so each needs it typed again.
    let mut failover = stored.clone();
    failover["urls"] = json!([listener.url]);
    let mut other_account = stored.clone();
    other_account["bind_dn"] = json!(slapd.admin_dn);
    let mut starttls = stored.clone();
    starttls["starttls"] = json!(true);
    let mut unverified = stored.clone();
    unverified["tls_verify"] = json!(false);
    for (what, settings) in [
        ("a failover server", failover),
        ("another bind DN", other_account),
        ("StartTLS", starttls),
        ("tls_verify", unverified),
    ] {
        let reply = test_api(
            &app,
            &alice,
            &token,
            json!({ "settings": settings, "sample_username": "alice" }),
        )
        .await;
        assert!(asks_for_the_bind_password(&reply), "{what}: {:?}", reply.body);
    }
    assert!(!listener.received_within(&slapd.bind_password, QUIET).await);
}

#[tokio::test]
async fn saving_new_servers_through_the_api_needs_the_bind_password_typed_again() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;
    let token = csrf_token(&app, &alice).await;
    let listener = RecordingListener::start().await;
    let stored = api_get(&app, &alice, "/admin/api/ldap").await.body;

    let moved = pointed_at(&stored, &listener.url);
    let reply = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &moved,
    )
    .await;
    // Whatever the answer, the stored password must not reach the listener: not now, and
    // not at the next sign-in either (which would use saved settings).
    can_sign_in(&app, "bob", "bob-password").await;
    assert!(
        !listener.received_within(&slapd.bind_password, QUIET).await,
        "the stored bind password was sent to a server the request named"
    );
    assert!(asks_for_the_bind_password(&reply), "{:?}", reply.body);
    let now = api_get(&app, &alice, "/admin/api/ldap").await.body;
    assert_eq!(now["url"], json!(slapd.url), "nothing was saved");
    assert!(can_sign_in(&app, "bob", "bob-password").await);

    // Typed again, the change is saved, and the next sign-in binds there with it.
    let mut typed = moved.clone();
    typed["version"] = now["version"].clone();
    typed["bind_password"] = json!(TYPED_FOR_THE_NEW_SERVER);
    let saved = api_send(
        &app,
        &alice,
        reqwest::Method::PUT,
        "/admin/api/ldap",
        Some(&token),
        &typed,
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert!(!can_sign_in(&app, "bob", "bob-password").await);
    assert!(listener.received_within(TYPED_FOR_THE_NEW_SERVER, WAIT).await);
    assert!(!contains(&listener.received(), &slapd.bind_password));
}

#[tokio::test]
async fn the_ldap_page_asks_for_the_bind_password_again_before_it_goes_to_new_servers() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;
    let listener = RecordingListener::start().await;

    let (status, _, body) = alice.visit(&app.url("/admin/ldap")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut values = form_values(&body);
    set(&mut values, "url", &listener.url);
    set(&mut values, "connect_timeout", "1");
    set(&mut values, "operation_timeout", "1");
    set(&mut values, "sample_username", "alice");
    for action in ["test", "save"] {
        set(&mut values, "action", action);
        let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &values).await;
        can_sign_in(&app, "bob", "bob-password").await;
        assert!(
            !listener.received_within(&slapd.bind_password, QUIET).await,
            "{action}: the stored bind password was sent to a server the form named"
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action}: {body}");
        assert!(body.contains(RETYPE_PASSWORD), "{action}: {body}");
        assert!(!body.contains("Saved — in effect now"), "{body}");
        assert!(!body.contains(&slapd.bind_password));
        assert_eq!(
            form_values(&body)
                .iter()
                .find(|(name, _)| name == "url")
                .map(|(_, value)| value.as_str()),
            Some(listener.url.as_str()),
            "what was typed is shown again"
        );
    }
    assert!(can_sign_in(&app, "bob", "bob-password").await, "nothing was saved");

    // Typed again, the test binds there with what was typed.
    set(&mut values, "bind_password", TYPED_FOR_THE_NEW_SERVER);
    set(&mut values, "action", "test");
    let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &values).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(listener.received_within(TYPED_FOR_THE_NEW_SERVER, WAIT).await);
    assert!(!contains(&listener.received(), &slapd.bind_password));
}

#[tokio::test]
async fn first_run_setup_asks_for_the_bind_password_again_before_it_goes_to_new_servers() {
    let app = spawn_app().await;
    let slapd = TestSlapd::shared().await;
    let listener = RecordingListener::start().await;
    let db = gatehouse::storage::connect_database(&app.database_url, 1)
        .await
        .expect("database");
    let token = gatehouse::settings::admin_groups::ensure_setup_token(&db, app.clock.now_unix())
        .await
        .expect("setup token")
        .expect("no administrator group yet, so a token");
    let setup_url = app.url(&format!("/setup?token={token}"));
    let operator = Browser::new();
    let (status, _, page) = operator.visit(&setup_url).await;
    assert_eq!(status, StatusCode::OK, "{page}");

    let mut values = form_values(&page);
    set(&mut values, "admin_groups", "admins");
    set(&mut values, "change_ldap", "on");
    set(&mut values, "url", &listener.url);
    set(&mut values, "connect_timeout", "1");
    set(&mut values, "operation_timeout", "1");
    set(&mut values, "sample_username", "alice");
    for action in ["test", "save"] {
        set(&mut values, "action", action);
        let (status, body) = post_values(&operator, &app.url("/setup"), &values).await;
        can_sign_in(&app, "bob", "bob-password").await;
        assert!(
            !listener.received_within(&slapd.bind_password, QUIET).await,
            "{action}: the stored bind password was sent to a server the setup form named"
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action}: {body}");
        assert!(body.contains(RETYPE_PASSWORD), "{action}: {body}");
    }
    // Nothing was saved and the link still works.
    assert!(can_sign_in(&app, "bob", "bob-password").await);
    assert_eq!(operator.visit(&setup_url).await.0, StatusCode::OK);

    // The current settings (the box not ticked) are tested with the stored password.
    let (_, _, page) = operator.visit(&setup_url).await;
    let mut values = form_values(&page);
    set(&mut values, "url", &listener.url);
    set(&mut values, "sample_username", "alice");
    set(&mut values, "action", "test");
    let (status, body) = post_values(&operator, &app.url("/setup"), &values).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("passed"), "{body}");
    assert_eq!(listener.connections(), 0);
}

#[tokio::test]
async fn every_connection_test_is_audited_without_the_password() {
    let app = spawn_admin_app().await;
    let slapd = TestSlapd::shared().await;
    let alice = signed_in(&app, "alice").await;
    let token = csrf_token(&app, &alice).await;
    let sub = api_get(&app, &alice, "/admin/api/session").await.body["sub"]
        .as_str()
        .expect("sub")
        .to_string();
    let listener = RecordingListener::start().await;
    let stored = api_get(&app, &alice, "/admin/api/ldap").await.body;

    let reply = test_api(&app, &alice, &token, json!({ "sample_username": "alice" })).await;
    assert_eq!(reply.body["ok"], true, "{:?}", reply.body);
    let mut typed = pointed_at(&stored, &listener.url);
    typed["bind_password"] = json!(TYPED_FOR_THE_NEW_SERVER);
    let reply = test_api(
        &app,
        &alice,
        &token,
        json!({ "settings": typed, "sample_username": "alice" }),
    )
    .await;
    assert_eq!(reply.body["ok"], false, "{:?}", reply.body);
    let reply = test_api(
        &app,
        &alice,
        &token,
        json!({ "settings": pointed_at(&stored, &listener.url) }),
    )
    .await;
    assert!(asks_for_the_bind_password(&reply), "{:?}", reply.body);
    // The page's test is audited too.
    let (_, _, body) = alice.visit(&app.url("/admin/ldap")).await;
    let mut values = form_values(&body);
    set(&mut values, "sample_username", "bob");
    set(&mut values, "action", "test");
    let (status, body) = post_values(&alice, &app.url("/admin/ldap"), &values).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let kind = "ldap.connection_tested";
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().filter(|r| r.kind == kind).count() >= 4
    })
    .await;
    let tested: Vec<_> = rows.iter().filter(|row| row.kind == kind).collect();
    assert_eq!(tested.len(), 4, "{rows:?}");
    for row in &tested {
        assert_eq!(row.actor.as_deref(), Some(sub.as_str()), "{row:?}");
        assert!(!row.detail.contains(&slapd.bind_password), "{row:?}");
        assert!(!row.detail.contains(TYPED_FOR_THE_NEW_SERVER), "{row:?}");
    }
    let details: Vec<Value> = tested
        .iter()
        .map(|row| serde_json::from_str(&row.detail).expect("JSON detail"))
        .collect();
    assert_eq!(details[0]["servers"], json!([slapd.url]));
    assert_eq!(details[0]["bind_dn"], json!(slapd.bind_dn));
    assert_eq!(details[0]["stored_password_reused"], true);
    assert_eq!(details[0]["outcome"], "passed");
    assert_eq!(details[0]["sample_username"], "alice");
    assert_eq!(details[1]["servers"], json!([listener.url]));
    assert_eq!(details[1]["stored_password_reused"], false);
    assert_eq!(details[1]["outcome"], "failed");
    assert!(details[1]["first_failure"].is_string(), "{:?}", details[1]);
    assert_eq!(details[2]["servers"], json!([listener.url]));
    assert_eq!(details[2]["stored_password_reused"], false);
    assert_eq!(details[2]["outcome"], "refused: the bind password must be typed again");
    assert_eq!(details[3]["stored_password_reused"], true);
    assert_eq!(details[3]["outcome"], "passed");
    assert_eq!(details[3]["sample_username"], "bob");
}
