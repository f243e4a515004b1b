//! One authorization flow, one set of checks: every page that ends a step of a pending
//! request goes through the same decision, so no page (the consent page above all) can
//! hand out a code that skips a step the request still owes: the second factor a client
//! demands, a fresh sign-in for `prompt=login`, consent itself.

use reqwest::StatusCode;

use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::{callback, redirect_of, sign_in, AuthorizeRequest};
use crate::support::spawn_app::{spawn_app_with, TestApp, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT};

const MFA_APP: &str = "mfa-app";
const MFA_REDIRECT: &str = "http://127.0.0.1:9/mfa-callback";

fn with_mfa_client(config: &mut gatehouse::config::Config) {
    let mut client = config
        .clients
        .iter()
        .find(|client| client.client_id == CONFIDENTIAL_ID)
        .expect("the confidential client")
        .clone();
    client.client_id = MFA_APP.into();
    client.name = "Payroll".into();
    client.redirect_uris = vec![MFA_REDIRECT.into()];
    client.require_mfa = true;
    config.clients.push(client);
}

/// A CSRF token of this browser, from a page any visitor can open.
async fn csrf_token(app: &TestApp, browser: &Browser) -> String {
    let (_, _, body) = browser.visit(&app.url("/login")).await;
    hidden_field(&body, "csrf_token").expect("the sign-in form has a CSRF token")
}

/// Posts "allow" on the consent page for `request_id`, as an attacker can without ever
/// being shown that page.
async fn approve_directly(app: &TestApp, browser: &Browser, request_id: &str) -> (StatusCode, Option<String>) {
    let csrf = csrf_token(app, browser).await;
    let (status, location, _) = browser
        .post_form(
            &app.url("/consent"),
            &[("request", request_id), ("csrf_token", &csrf), ("decision", "allow")],
        )
        .await;
    (status, location)
}

fn request_id_in(location: &str) -> String {
    crate::support::browser::query_param(location, "request").expect("a pending request in the URL")
}

fn assert_no_code(location: Option<&str>, redirect_uri: &str) {
    if let Some(location) = location {
        if location.starts_with(redirect_uri) {
            let answer = callback(location);
            assert!(answer.code.is_none(), "a code was issued: {location}");
        }
    }
}

#[tokio::test]
async fn the_consent_page_cannot_skip_the_second_factor_a_client_demands() {
    let app = spawn_app_with(with_mfa_client).await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;

    let url = AuthorizeRequest::new(MFA_APP, MFA_REDIRECT).url(&app);
    let location = redirect_of(&browser, &url).await;
    assert!(
        location.starts_with(&app.url("/login/totp")),
        "the password-only session owes the second factor: {location}"
    );
    let request_id = request_id_in(&location);

    // Showing the consent page does not help either: it sends the browser to its step.
    let (status, shown, _) = browser.visit(&app.url(&format!("/consent?request={request_id}"))).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        shown.as_deref().is_some_and(|l| l.starts_with(&app.url("/login/totp"))),
        "{shown:?}"
    );

    let (status, location) = approve_directly(&app, &browser, &request_id).await;
    assert_no_code(location.as_deref(), MFA_REDIRECT);
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location
            .as_deref()
            .is_some_and(|l| l.starts_with(&app.url("/login/totp"))),
        "back to the second factor: {location:?}"
    );
}

#[tokio::test]
async fn the_consent_page_cannot_skip_a_fresh_sign_in_or_requested_second_factor() {
    let app = spawn_app_with(|_| {}).await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;

    let url = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT)
        .set("acr_values", "urn:gatehouse:mfa")
        .set("prompt", "login")
        .url(&app);
    let location = redirect_of(&browser, &url).await;
    assert!(location.starts_with(&app.url("/login?request=")), "{location}");
    let request_id = request_id_in(&location);

    let (_, location) = approve_directly(&app, &browser, &request_id).await;
    assert_no_code(location.as_deref(), CONFIDENTIAL_REDIRECT);
    assert!(
        location
            .as_deref()
            .is_some_and(|l| l.starts_with(&app.url("/login?request="))),
        "back to signing in: {location:?}"
    );
}

#[tokio::test]
async fn a_request_waiting_for_consent_gives_exactly_one_code() {
    let app = spawn_app_with(|_| {}).await;
    let browser = Browser::new();
    let url = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).url(&app);
    let location = redirect_of(&browser, &url).await;
    let (status, location, body) = browser.submit_login(&location, "bob", "bob-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let consent = location.expect("on to consent");
    assert!(consent.starts_with(&app.url("/consent?request=")), "{consent}");
    let page = browser.form_page(&consent).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    let action = app.url("/consent");
    let fields = [
        ("request", page.request.as_str()),
        ("csrf_token", page.csrf_token.as_str()),
        ("decision", "allow"),
    ];
    let (first, second) = tokio::join!(browser.post_form(&action, &fields), browser.post_form(&action, &fields));
    for (status, _, body) in [&first, &second] {
        assert!(!status.is_server_error(), "{status}: {body}");
    }
    let codes = [&first, &second]
        .iter()
        .filter(|(_, location, _)| {
            location
                .as_deref()
                .is_some_and(|l| l.starts_with(CONFIDENTIAL_REDIRECT) && callback(l).code.is_some())
        })
        .count();
    assert_eq!(codes, 1, "one approval, one code: {first:?} / {second:?}");
}

#[tokio::test]
async fn sign_ins_in_progress_are_capped_per_address() {
    let app = spawn_app_with(|config| config.rate_limits.pending_authorizations_per_ip = 3).await;
    let url = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).url(&app);
    for _ in 0..3 {
        let location = redirect_of(&Browser::new(), &url).await;
        assert!(location.starts_with(&app.url("/login?request=")), "{location}");
    }
    let location = redirect_of(&Browser::new(), &url).await;
    let answer = callback(&location);
    assert_eq!(answer.base, CONFIDENTIAL_REDIRECT, "{location}");
    assert_eq!(answer.error.as_deref(), Some("temporarily_unavailable"), "{location}");
    assert!(answer.code.is_none());

    // Once they expire, the address may start sign-ins again.
    app.clock.advance(gatehouse::config::Lifetimes::default().login + 1);
    let location = redirect_of(&Browser::new(), &url).await;
    assert!(location.starts_with(&app.url("/login?request=")), "{location}");
}
