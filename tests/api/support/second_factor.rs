//! The second factor from the test's side: codes computed with totp-rs, and an
//! administrator's sign-in for the admin pages (password, then TOTP enrolment).

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
/// Returns the TOTP secret. The clock moves to the next step, as enrolment used one.
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
