//! The TOTP second factor in the browser flow: enrolment at the first sign-in, codes
//! computed here with totp-rs from the secret the enrolment page shows and the test clock,
//! the replay guard, clock skew, wrong codes and the lockout, recovery codes, the group and
//! per-client policies with step-up, `amr`/`acr` in the ID token, the account page, the
//! administrators' reset, and secrets at rest.

use gatehouse::clock::Clock;
use gatehouse::config::{ClientConfig, MfaPolicyName, Secret, TokenEndpointAuthMethod};
use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::support::browser::{hidden_field, Browser};
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::*;
use crate::support::second_factor::{code_at, texts};
use crate::support::spawn_app::*;

const FIRST_PARTY: Option<(&str, &str)> = Some((FIRST_PARTY_ID, FIRST_PARTY_SECRET));
const MFA_CLIENT_ID: &str = "mfa-app";
const MFA_CLIENT_SECRET: &str = "mfa-app-secret-0123456789abcdef";
const MFA_CLIENT_REDIRECT: &str = "http://127.0.0.1:9/mfa-callback";
const ACR_MFA: &str = "urn:gatehouse:mfa";
const ACR_PWD: &str = "urn:gatehouse:pwd";

/// A first-party client whose every sign-in needs the second factor.
fn mfa_client() -> ClientConfig {
    ClientConfig {
        client_id: MFA_CLIENT_ID.into(),
        name: "MFA app".into(),
        secret: Some(Secret::new(MFA_CLIENT_SECRET)),
        redirect_uris: vec![MFA_CLIENT_REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        first_party: true,
        require_mfa: true,
        ..ClientConfig::default()
    }
}

async fn spawn_with_policy(policy: MfaPolicyName, groups: &[&str]) -> TestApp {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    spawn_app_with(move |config| {
        config.mfa.policy = policy;
        config.mfa.groups = groups;
        config.mfa.max_failed_attempts = 3;
        config.mfa.lockout_seconds = 300;
        config.clients.push(mfa_client());
    })
    .await
}

fn first_party_request() -> AuthorizeRequest {
    AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT).set("scope", "openid profile")
}

/// The ID token's payload for a first-party code.
async fn id_claims(app: &TestApp, basic: Option<(&str, &str)>, code: &str, redirect: &str) -> serde_json::Value {
    let reply = redeem_code(app, basic, code, redirect, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    decode_jwt_payload(reply.body["id_token"].as_str().expect("an ID token"))
}

fn amr_of(claims: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(claims["amr"].clone()).expect("amr is a list of strings")
}

/// Starts an authorization and submits the password; returns where the browser is sent.
async fn password_step(app: &TestApp, browser: &Browser, request: &AuthorizeRequest, username: &str) -> String {
    let location = redirect_of(browser, &request.url(app)).await;
    assert!(is_login_page(app, &location), "expected the sign-in page: {location}");
    let (status, next, body) = browser
        .submit_login(&location, username, &format!("{username}-password"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    next.expect("the password step redirects")
}

/// An enrolment page, taken apart: its form fields and the secret it shows.
struct EnrolPage {
    action_fields: Vec<(String, String)>,
    secret: String,
}

async fn open_enrol_page(browser: &Browser, url: &str) -> EnrolPage {
    let (status, _, body) = browser.visit(url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("src=\"data:image/png;base64,"), "a QR image: {body}");
    assert!(body.contains("otpauth://totp/"), "an otpauth link: {body}");
    let shown = texts(&body, "code.totp-secret");
    assert_eq!(shown.len(), 1, "{body}");
    let secret = shown[0].clone();
    assert!(secret.contains(' '), "the secret is grouped for typing: {secret}");
    let names = [
        "request",
        "csrf_token",
        "qr_png_base64",
        "secret_grouped",
        "otpauth_url",
    ];
    let action_fields = names
        .iter()
        .map(|name| (name.to_string(), hidden_field(&body, name).unwrap_or_default()))
        .collect();
    EnrolPage { action_fields, secret }
}

async fn post_enrol_code(
    browser: &Browser,
    action: &str,
    page: &EnrolPage,
    code: &str,
) -> (StatusCode, Option<String>, String) {
    let mut fields: Vec<(&str, &str)> = page
        .action_fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    fields.push(("code", code));
    browser.post_form(action, &fields).await
}

/// Enrols at `enrol_url` (reached after the password); returns the secret, the recovery
/// codes and the recovery page's "continue" link.
async fn enrol(app: &TestApp, browser: &Browser, enrol_url: &str) -> (String, Vec<String>, String) {
    let page = open_enrol_page(browser, enrol_url).await;
    let (status, _, body) = post_enrol_code(
        browser,
        &app.url("/login/totp/enrol"),
        &page,
        &code_at(&page.secret, app.clock.now_unix()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes = texts(&body, "code.recovery-code");
    assert_eq!(codes.len(), 10, "ten recovery codes: {body}");
    let document = Html::parse_document(&body);
    let link = document
        .select(&Selector::parse("a.button-primary").expect("selector"))
        .next()
        .and_then(|a| a.value().attr("href"))
        .expect("a continue link")
        .to_string();
    (page.secret, codes, link)
}

/// Posts a code (or a recovery code) on the code page at `url`.
async fn submit_code(browser: &Browser, url: &str, method: &str, code: &str) -> (StatusCode, Option<String>, String) {
    let page = browser.form_page(url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    browser
        .post_form(
            url.split('?').next().expect("url"),
            &[
                ("request", page.request.as_str()),
                ("csrf_token", page.csrf_token.as_str()),
                ("method", method),
                ("code", code),
            ],
        )
        .await
}

/// Enrols `username` at the first sign-in (policy `required`); returns the secret and the
/// recovery codes. The clock is then moved to the next step, as the enrolment used one.
async fn enrolled(app: &TestApp, username: &str) -> (String, Vec<String>) {
    let browser = Browser::new();
    let location = password_step(app, &browser, &first_party_request(), username).await;
    assert!(
        location.starts_with(&app.url("/login/totp/enrol?request=")),
        "{location}"
    );
    let (secret, codes, _) = enrol(app, &browser, &location).await;
    app.clock.advance(30);
    (secret, codes)
}

#[tokio::test]
async fn first_sign_in_enrols_and_the_code_flow_carries_otp() {
    let app = spawn_with_policy(MfaPolicyName::Required, &[]).await;
    let browser = Browser::new();
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("nonce", "n-1");
    let location = password_step(&app, &browser, &request, "alice").await;
    assert!(
        location.starts_with(&app.url("/login/totp/enrol?request=")),
        "{location}"
    );
    // Half signed in: no session yet.
    assert!(!is_signed_in(&app, &browser).await);

    let page = open_enrol_page(&browser, &location).await;
    let (status, _, body) = post_enrol_code(&browser, &app.url("/login/totp/enrol"), &page, "000000").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("not correct"), "a wrong first code is refused: {body}");
    let (status, _, body) = post_enrol_code(
        &browser,
        &app.url("/login/totp/enrol"),
        &page,
        &code_at(&page.secret, app.clock.now_unix()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(texts(&body, "code.recovery-code").len(), 10, "{body}");
    let link = hidden_continue(&body);
    assert!(link.starts_with("/login/continue?request="), "{link}");

    let consent = redirect_of(&browser, &app.url(&link)).await;
    assert!(is_consent_page(&app, &consent), "{consent}");
    let location = browser.submit_consent(&consent, "allow").await;
    let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
    let claims = id_claims(
        &app,
        Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET)),
        &code,
        CONFIDENTIAL_REDIRECT,
    )
    .await;
    assert_eq!(amr_of(&claims), ["pwd", "otp"]);
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["nonce"], "n-1");

    // The enrolment page is only for someone who just gave the password.
    let stranger = Browser::new();
    let (status, location, _) = stranger.visit(&app.url("/login/totp/enrol")).await;
    assert!(
        status.is_client_error() || location.is_some_and(|l| l.contains("/login?")),
        "{status}"
    );

    let discovery: serde_json::Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let acr_values = discovery["acr_values_supported"]
        .as_array()
        .expect("acr_values_supported");
    assert!(acr_values.iter().any(|v| v == ACR_MFA) && acr_values.iter().any(|v| v == ACR_PWD));
}

fn hidden_continue(body: &str) -> String {
    let document = Html::parse_document(body);
    document
        .select(&Selector::parse("a.button-primary").expect("selector"))
        .next()
        .and_then(|a| a.value().attr("href"))
        .expect("a continue link")
        .to_string()
}

#[tokio::test]
async fn a_code_is_accepted_once_wrong_codes_are_refused_and_skew_is_tolerated() {
    let app = spawn_with_policy(MfaPolicyName::Required, &[]).await;
    let (secret, _) = enrolled(&app, "bob").await;

    // Wrong code, then the right one.
    let browser = Browser::new();
    let location = password_step(&app, &browser, &first_party_request(), "bob").await;
    assert!(location.starts_with(&app.url("/login/totp?request=")), "{location}");
    let (status, _, body) = submit_code(&browser, &location, "totp", "000000").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("not correct"), "{body}");
    app.clock.advance(5);
    let now = app.clock.now_unix();
    let code = code_at(&secret, now);
    let (status, next, body) = submit_code(&browser, &location, "totp", &code).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let claims = id_claims(
        &app,
        FIRST_PARTY,
        &expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT),
        FIRST_PARTY_REDIRECT,
    )
    .await;
    assert_eq!(amr_of(&claims), ["pwd", "otp"]);
    assert_eq!(claims["acr"], ACR_MFA);

    // The same code again, from another browser: refused.
    let other = Browser::new();
    let location = password_step(&app, &other, &first_party_request(), "bob").await;
    let (status, _, body) = submit_code(&other, &location, "totp", &code).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("already used"), "{body}");

    // One step later, the code of the step before (clock skew) is accepted once.
    app.clock.advance(60);
    let skewed = code_at(&secret, app.clock.now_unix() - 30);
    let (status, next, body) = submit_code(&other, &location, "totp", &skewed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT);

    // And a code of the step ahead.
    app.clock.advance(30);
    let third = Browser::new();
    let location = password_step(&app, &third, &first_party_request(), "bob").await;
    let ahead = code_at(&secret, app.clock.now_unix() + 30);
    let (status, next, body) = submit_code(&third, &location, "totp", &ahead).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT);
}

#[tokio::test]
async fn wrong_codes_lock_the_second_factor_after_the_limit() {
    let app = spawn_with_policy(MfaPolicyName::Required, &[]).await;
    let (secret, _) = enrolled(&app, "bob").await;
    let browser = Browser::new();
    let location = password_step(&app, &browser, &first_party_request(), "bob").await;
    for _ in 0..2 {
        let (status, _, body) = submit_code(&browser, &location, "totp", "000000").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("not correct"), "{body}");
        app.clock.advance(10);
    }
    // The third wrong code in a row (the limit) locks.
    let (status, _, body) = submit_code(&browser, &location, "totp", "000000").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    app.clock.advance(10);
    // Locked: even the right code is not checked.
    let (status, _, body) = submit_code(&browser, &location, "totp", &code_at(&secret, app.clock.now_unix())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("Too many wrong codes"), "{body}");

    app.clock.advance(301);
    let browser = Browser::new();
    let location = password_step(&app, &browser, &first_party_request(), "bob").await;
    let (status, next, body) = submit_code(&browser, &location, "totp", &code_at(&secret, app.clock.now_unix())).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT);
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = spawn_with_policy(MfaPolicyName::Required, &[]).await;
    let (_, codes) = enrolled(&app, "bob").await;
    let browser = Browser::new();
    let location = password_step(&app, &browser, &first_party_request(), "bob").await;
    let (status, next, body) = submit_code(&browser, &location, "recovery", &codes[0]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let claims = id_claims(
        &app,
        FIRST_PARTY,
        &expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT),
        FIRST_PARTY_REDIRECT,
    )
    .await;
    assert_eq!(amr_of(&claims), ["pwd", "otp"]);

    app.clock.advance(10);
    let browser = Browser::new();
    let location = password_step(&app, &browser, &first_party_request(), "bob").await;
    let (status, _, body) = submit_code(&browser, &location, "recovery", &codes[0]).await;
    assert_eq!(status, StatusCode::OK, "a used recovery code is refused: {body}");
    assert!(body.contains("not correct"), "{body}");
    app.clock.advance(10);
    let (status, next, body) = submit_code(&browser, &location, "recovery", &codes[1]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT);
}

#[tokio::test]
async fn group_policy_asks_members_only() {
    let app = spawn_with_policy(MfaPolicyName::Groups, &["admins"]).await;
    let alice = Browser::new();
    let location = password_step(&app, &alice, &first_party_request(), "alice").await;
    assert!(
        location.starts_with(&app.url("/login/totp/enrol?request=")),
        "alice is in admins: {location}"
    );

    let bob = Browser::new();
    let location = password_step(&app, &bob, &first_party_request(), "bob").await;
    let claims = id_claims(
        &app,
        FIRST_PARTY,
        &expect_code(&location, FIRST_PARTY_REDIRECT),
        FIRST_PARTY_REDIRECT,
    )
    .await;
    assert_eq!(amr_of(&claims), ["pwd"]);
    assert_eq!(claims["acr"], ACR_PWD);
}

#[tokio::test]
async fn a_client_requiring_mfa_steps_up_a_password_only_session() {
    let app = spawn_with_policy(MfaPolicyName::Optional, &[]).await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;
    assert_eq!(sessions_of(&app, "bob").await, [("pwd".to_string(), true)]);

    let silent = AuthorizeRequest::new(MFA_CLIENT_ID, MFA_CLIENT_REDIRECT).set("prompt", "none");
    let location = redirect_of(&browser, &silent.url(&app)).await;
    assert_error_redirect(&app, &location, MFA_CLIENT_REDIRECT, "interaction_required");

    // The same for a client that asks through acr_values.
    let asking = first_party_request().set("acr_values", ACR_MFA).set("prompt", "none");
    let location = redirect_of(&browser, &asking.url(&app)).await;
    assert_error_redirect(&app, &location, FIRST_PARTY_REDIRECT, "interaction_required");

    let request = AuthorizeRequest::new(MFA_CLIENT_ID, MFA_CLIENT_REDIRECT);
    let location = redirect_of(&browser, &request.url(&app)).await;
    assert!(
        location.starts_with(&app.url("/login/totp?request=")),
        "step-up, not a new password: {location}"
    );
    // bob has no authenticator yet: the step-up continues to enrolment.
    let enrol_url = redirect_of(&browser, &location).await;
    assert!(
        enrol_url.starts_with(&app.url("/login/totp/enrol?request=")),
        "{enrol_url}"
    );
    let (_, _, link) = enrol(&app, &browser, &enrol_url).await;
    let location = redirect_of(&browser, &app.url(&link)).await;
    let claims = id_claims(
        &app,
        Some((MFA_CLIENT_ID, MFA_CLIENT_SECRET)),
        &expect_code(&location, MFA_CLIENT_REDIRECT),
        MFA_CLIENT_REDIRECT,
    )
    .await;
    assert_eq!(amr_of(&claims), ["pwd", "otp"]);
    assert_eq!(claims["acr"], ACR_MFA);
    // The password-only session was replaced by a new one (a new cookie value).
    assert_eq!(
        sessions_of(&app, "bob").await,
        [("pwd".to_string(), false), ("pwd otp".to_string(), true)]
    );

    // The stepped-up session now satisfies the client silently.
    let location = redirect_of(&browser, &silent.url(&app)).await;
    expect_code(&location, MFA_CLIENT_REDIRECT);
}

#[tokio::test]
async fn optional_policy_still_asks_people_who_enrolled_and_the_account_page_manages_it() {
    let app = spawn_with_policy(MfaPolicyName::Optional, &[]).await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;
    let (status, _, body) = browser.visit(&app.url("/account")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("href=\"/account/totp/enrol\""), "{body}");

    let page = open_enrol_page(&browser, &app.url("/account/totp/enrol")).await;
    let (status, _, body) = post_enrol_code(
        &browser,
        &app.url("/account/totp/enrol"),
        &page,
        &code_at(&page.secret, app.clock.now_unix()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes = texts(&body, "code.recovery-code");
    assert_eq!(codes.len(), 10);
    let secret = page.secret;

    // Optional policy: having enrolled, bob is asked for a code at the next sign-in.
    app.clock.advance(30);
    let other = Browser::new();
    let location = password_step(&app, &other, &first_party_request(), "bob").await;
    assert!(location.starts_with(&app.url("/login/totp?request=")), "{location}");

    // New recovery codes need a current code.
    let (status, _, body) = browser.visit(&app.url("/account")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(texts(&body, ".recovery-remaining"), ["10"], "{body}");
    let csrf = hidden_field(&body, "csrf_token").expect("csrf");
    let (status, _, body) = browser
        .post_form(
            &app.url("/account/recovery-codes"),
            &[("csrf_token", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("not correct"), "{body}");
    app.clock.advance(10);
    let code = code_at(&secret, app.clock.now_unix());
    let (status, _, body) = browser
        .post_form(
            &app.url("/account/recovery-codes"),
            &[("csrf_token", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_codes = texts(&body, "code.recovery-code");
    assert_eq!(new_codes.len(), 10);
    assert!(!new_codes.contains(&codes[0]));

    // A form without its CSRF token changes nothing.
    let (status, _, _) = browser
        .post_form(
            &app.url("/account/totp/reset"),
            &[("csrf_token", "forged"), ("code", &new_codes[0])],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Reset with a recovery code (an old one no longer works).
    let (_, _, body) = browser
        .post_form(
            &app.url("/account/totp/reset"),
            &[("csrf_token", &csrf), ("code", &codes[0])],
        )
        .await;
    assert!(body.contains("not correct"), "{body}");
    app.clock.advance(10);
    let (status, _, body) = browser
        .post_form(
            &app.url("/account/totp/reset"),
            &[("csrf_token", &csrf), ("code", &new_codes[0])],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("href=\"/account/totp/enrol\""),
        "the factor is gone: {body}"
    );

    // Without a factor, optional policy signs bob in with the password alone again.
    let third = Browser::new();
    let location = password_step(&app, &third, &first_party_request(), "bob").await;
    expect_code(&location, FIRST_PARTY_REDIRECT);
}

#[tokio::test]
async fn administrators_reset_a_persons_second_factor() {
    let app = spawn_app_with(|config| {
        config.mfa.policy = MfaPolicyName::Required;
        config.admin.groups = vec!["admins".into()];
    })
    .await;
    let (_, _) = enrolled(&app, "bob").await;
    let (alice_secret, _) = enrolled(&app, "alice").await;

    let admin = Browser::new();
    let location = password_step(&app, &admin, &first_party_request(), "alice").await;
    let (status, next, body) =
        submit_code(&admin, &location, "totp", &code_at(&alice_secret, app.clock.now_unix())).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    expect_code(&next.expect("redirect"), FIRST_PARTY_REDIRECT);
    let session: serde_json::Value = admin
        .http
        .get(app.url("/admin/api/session"))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let csrf = session["csrf_token"].as_str().expect("csrf").to_string();
    let bob_sub = sub_of(&app, "bob").await;

    let url = app.url(&format!("/admin/api/users/{bob_sub}/totp"));
    let refused = admin.http.delete(&url).send().await.expect("delete");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "the CSRF header is required");
    let done = admin
        .http
        .delete(&url)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .expect("delete");
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let again = admin
        .http
        .delete(&url)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // bob enrols again at his next sign-in.
    let bob = Browser::new();
    let location = password_step(&app, &bob, &first_party_request(), "bob").await;
    assert!(
        location.starts_with(&app.url("/login/totp/enrol?request=")),
        "{location}"
    );
}

/// The `sub` of `username` as the database records it.
async fn sub_of(app: &TestApp, username: &str) -> String {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(&app.database_url).await.expect("database");
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "SELECT id FROM users WHERE username = $1",
        _ => "SELECT id FROM users WHERE username = ?",
    };
    let row = db
        .query_one(Statement::from_sql_and_values(backend, sql, [username.into()]))
        .await
        .expect("query")
        .expect("the user is recorded");
    row.try_get::<String>("", "id").expect("id")
}

/// `(amr, live)` of every session `username` has had, oldest first.
async fn sessions_of(app: &TestApp, username: &str) -> Vec<(String, bool)> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let sub = sub_of(app, username).await;
    let db = Database::connect(&app.database_url).await.expect("database");
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT amr, ended_at FROM browser_sessions WHERE user_id = $1 ORDER BY created_at, amr"
        }
        _ => "SELECT amr, ended_at FROM browser_sessions WHERE user_id = ? ORDER BY created_at, amr",
    };
    db.query_all(Statement::from_sql_and_values(backend, sql, [sub.into()]))
        .await
        .expect("query")
        .into_iter()
        .map(|row| {
            let amr: String = row.try_get("", "amr").expect("amr");
            let ended: Option<i64> = row.try_get("", "ended_at").expect("ended_at");
            (amr, ended.is_none())
        })
        .collect()
}

#[tokio::test]
async fn totp_secrets_and_recovery_codes_are_not_readable_in_the_database() {
    use gatehouse::storage::entities::{recovery_codes, totp_credentials};
    use sea_orm::{Database, EntityTrait};

    let app = spawn_with_policy(MfaPolicyName::Required, &[]).await;
    let (secret, codes) = enrolled(&app, "bob").await;

    // What the database holds, through its rows on any backend...
    let db = Database::connect(&app.database_url).await.expect("database");
    let credentials = totp_credentials::Entity::find().all(&db).await.expect("credentials");
    assert_eq!(credentials.len(), 1);
    let mut stored: Vec<u8> = credentials
        .into_iter()
        .flat_map(|row| row.secret.expect("an active secret"))
        .collect();
    let hashes = recovery_codes::Entity::find().all(&db).await.expect("recovery codes");
    assert_eq!(hashes.len(), 10);
    for row in hashes {
        stored.extend(row.code_hash.into_bytes());
    }
    // ...and, with SQLite, the file itself (and its write-ahead log).
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().expect("path");
        stored.extend(std::fs::read(path).expect("the database file"));
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            stored.extend(wal);
        }
    }

    let compact: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = totp_rs::Secret::Encoded(compact.clone()).to_bytes().expect("base32");
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(compact.as_bytes()), "the base32 secret is not stored");
    assert!(!contains(&raw), "the raw secret is not stored");
    for code in &codes {
        assert!(!contains(code.as_bytes()), "recovery codes are stored hashed");
    }
}
