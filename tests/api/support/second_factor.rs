//! The second factor from the test's side: codes computed with totp-rs, and an
//! administrator's sign-in for the admin pages (password, then TOTP enrolment: the first
//! administrator with the password alone, any further one with a setup link another
//! administrator made).

use gatehouse::clock::Clock;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use totp_rs::{Algorithm, TOTP};

use super::browser::{hidden_field, Browser};
use super::spawn_app::TestApp;

/// The code of `secret` (base32, spaces allowed) at Unix time `at`, with the defaults
/// (SHA-1, 6 digits, 30 s).
pub fn code_at(secret: &str, at: i64) -> String {
    let compact: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = totp_rs::Secret::Encoded(compact).to_bytes().expect("base32 secret");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).generate(at as u64)
}

/// The text of every element matching `css`.
pub fn texts(body: &str, css: &str) -> Vec<String> {
    let document = Html::parse_document(body);
    let selector = Selector::parse(css).expect("valid selector");
    document
        .select(&selector)
        .map(|element| element.text().collect::<String>())
        .collect()
}

/// Signs an administrator in for the admin pages: the password, then (administration
/// needs the second factor) enrolment of an authenticator with a code computed here.
/// Only the first administrator may enrol so (no administrator has a second factor yet);
/// others need [`sign_in_another_administrator`]. Returns the TOTP secret. The clock moves
/// to the next step, as enrolment used one.
pub async fn sign_in_for_administration(app: &TestApp, browser: &Browser, username: &str, password: &str) -> String {
    let (status, location, body) = browser
        .submit_login(&app.url("/login?next=%2Fadmin"), username, password)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "password step: {body}");
    let location = location.expect("a redirect after the password");
    assert!(
        location.starts_with(&app.url("/login/totp/enrol")),
        "administration asks for the second factor: {location}"
    );
    let (status, _, body) = browser.visit(&location).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = texts(&body, "code.totp-secret").pop().expect("the secret is shown");
    let mut fields: Vec<(String, String)> = [
        "request",
        "csrf_token",
        "qr_png_base64",
        "secret_grouped",
        "otpauth_url",
    ]
    .iter()
    .map(|name| (name.to_string(), hidden_field(&body, name).unwrap_or_default()))
    .collect();
    fields.push(("code".into(), code_at(&secret, app.clock.now_unix())));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let (status, _, body) = browser.post_form(&app.url("/login/totp/enrol"), &fields).await;
    assert_eq!(status, StatusCode::OK, "enrolment confirmed: {body}");
    assert_eq!(texts(&body, "code.recovery-code").len(), 10, "{body}");
    app.clock.advance(30);
    secret
}

/// The `sub` Gatehouse recorded for `username` (who signed in, or gave the password, once).
pub async fn recorded_sub(app: &TestApp, username: &str) -> String {
    use gatehouse::storage::entities::users;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&app.state.db)
        .await
        .expect("read users")
        .unwrap_or_else(|| panic!("{username} is recorded"))
        .id
}

/// The CSRF token of an administrator's browser, for the JSON API.
pub async fn api_csrf_token(app: &TestApp, admin: &Browser) -> String {
    let session: serde_json::Value = admin
        .http
        .get(app.url("/admin/api/session"))
        .send()
        .await
        .expect("GET /admin/api/session")
        .json()
        .await
        .expect("json");
    session["csrf_token"].as_str().expect("csrf_token").to_string()
}

/// `POST /admin/api/users/{sub}/second-factor-setup-link` as the administrator signed in
/// in `admin`: the status and the JSON answer.
pub async fn request_setup_link(app: &TestApp, admin: &Browser, sub: &str) -> (StatusCode, serde_json::Value) {
    let csrf = api_csrf_token(app, admin).await;
    let response = admin
        .http
        .post(app.url(&format!("/admin/api/users/{sub}/second-factor-setup-link")))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .expect("POST setup link");
    let status = response.status();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// A setup link for `sub`, made through the API by the administrator signed in in `admin`.
pub async fn create_setup_link(app: &TestApp, admin: &Browser, sub: &str) -> String {
    let (status, body) = request_setup_link(app, admin, sub).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["url"].as_str().expect("url").to_string()
}

/// Fills in the enrolment page at `url` (reached after the password) with a correct code;
/// returns the status and body of the answer, and the secret.
pub async fn confirm_enrolment_at(app: &TestApp, browser: &Browser, url: &str) -> (StatusCode, String, String) {
    let (status, _, body) = browser.visit(url).await;
    assert_eq!(status, StatusCode::OK, "enrolment page {url}: {body}");
    let secret = texts(&body, "code.totp-secret").pop().expect("the secret is shown");
    let action = url.split('?').next().expect("url").to_string();
    let mut fields: Vec<(String, String)> = [
        "request",
        "csrf_token",
        "qr_png_base64",
        "secret_grouped",
        "otpauth_url",
    ]
    .iter()
    .map(|name| (name.to_string(), hidden_field(&body, name).unwrap_or_default()))
    .collect();
    fields.push(("code".into(), code_at(&secret, app.clock.now_unix())));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let (status, _, body) = browser.post_form(&action, &fields).await;
    (status, body, secret)
}

/// Opens a setup link in `browser` and signs in with the password; returns where the
/// sign-in leads (an enrolment page, when the link counts).
pub async fn sign_in_with_setup_link(
    app: &TestApp,
    browser: &Browser,
    link: &str,
    username: &str,
    password: &str,
) -> String {
    let (status, location, body) = browser.visit(link).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "setup link: {body}");
    let login = location.expect("the link leads to the sign-in");
    assert!(login.starts_with(&app.url("/login?")), "{login}");
    let (status, location, body) = browser.submit_login(&login, username, password).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "password step: {body}");
    let location = location.expect("a redirect after the password");
    if location.starts_with('/') {
        app.url(&location)
    } else {
        location
    }
}

/// Opens a setup link, signs in and sets up an authenticator with it; returns the secret.
/// The clock moves to the next step, as enrolment used one.
pub async fn enrol_with_setup_link(
    app: &TestApp,
    browser: &Browser,
    link: &str,
    username: &str,
    password: &str,
) -> String {
    let enrol_url = sign_in_with_setup_link(app, browser, link, username, password).await;
    assert!(enrol_url.contains("/totp/enrol"), "{enrol_url}");
    let (status, body, secret) = confirm_enrolment_at(app, browser, &enrol_url).await;
    assert_eq!(status, StatusCode::OK, "enrolment confirmed: {body}");
    assert_eq!(texts(&body, "code.recovery-code").len(), 10, "{body}");
    app.clock.advance(30);
    secret
}

/// Signs in a further administrator for the admin pages while another one (signed in with
/// the second factor in `admin`) administers already: the password once (so Gatehouse
/// knows the person; administrators may not enrol with it alone), a setup link from
/// `admin`, then enrolment with it. Returns the TOTP secret.
pub async fn sign_in_another_administrator(
    app: &TestApp,
    admin: &Browser,
    browser: &Browser,
    username: &str,
    password: &str,
) -> String {
    let (status, _, body) = Browser::new()
        .submit_login(&app.url("/login"), username, password)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "password step: {body}");
    let sub = recorded_sub(app, username).await;
    let link = create_setup_link(app, admin, &sub).await;
    let secret = enrol_with_setup_link(app, browser, &link, username, password).await;
    let (status, _, body) = browser.visit(&app.url("/admin")).await;
    assert_eq!(status, StatusCode::OK, "{username} administers now: {body}");
    secret
}
