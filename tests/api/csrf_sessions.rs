//! CSRF tokens are bound to the browser's session when it has one: a token taken from a
//! page rendered under one session is refused once the same browser (same CSRF cookie)
//! holds another session; without a session the CSRF cookie alone decides, as before.

use gatehouse::clock::Clock;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::*;
use crate::support::second_factor::{code_at, sign_in_for_administration, texts};
use crate::support::spawn_app::*;

/// The token-creation form's fields with `csrf_token`.
fn token_form(csrf_token: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf_token", csrf_token),
        ("name", "made with an old form"),
        ("lifetime_days", "30"),
        ("allowed_ips", ""),
        ("scope", "openid"),
    ]
}

#[tokio::test]
async fn a_form_token_from_one_session_is_refused_once_the_browser_holds_another() {
    let app = spawn_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;
    let (status, _, page) = browser.visit(&app.url("/account/tokens")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let from_session_a = hidden_field(&page, "csrf_token").expect("the form has a CSRF token");

    // Someone signs in over it in the same browser: same CSRF cookie, another session.
    sign_in(&app, &browser, "alice", "alice-password").await;
    let (status, _, body) = browser
        .post_form(&app.url("/account/tokens"), &token_form(&from_session_a))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        texts(&body, ".new-token-secret").is_empty(),
        "no token was made: {body}"
    );
    let (status, _, body) = browser
        .post_form(
            &app.url("/account/sessions/end-others"),
            &[("csrf_token", from_session_a.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The page rendered under the new session carries a token that works.
    let (_, _, page) = browser.visit(&app.url("/account/tokens")).await;
    let from_session_b = hidden_field(&page, "csrf_token").expect("the form has a CSRF token");
    assert_ne!(from_session_a, from_session_b);
    let (status, _, body) = browser
        .post_form(&app.url("/account/tokens"), &token_form(&from_session_b))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(texts(&body, ".new-token-secret").len(), 1, "{body}");
}

#[tokio::test]
async fn a_form_token_from_before_sign_in_is_refused_after_it_and_signing_in_still_works() {
    let app = spawn_app().await;
    let browser = Browser::new();
    // No session yet: the sign-in form's token rests on the CSRF cookie alone.
    let (status, _, login_page) = browser.visit(&app.url("/login")).await;
    assert_eq!(status, StatusCode::OK);
    let before = hidden_field(&login_page, "csrf_token").expect("csrf_token");
    sign_in(&app, &browser, "bob", "bob-password").await;
    assert!(is_signed_in(&app, &browser).await);
    // A form rendered before the session existed does not act for it.
    let (status, _, body) = browser
        .post_form(&app.url("/account/tokens"), &token_form(&before))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(texts(&body, ".new-token-secret").is_empty(), "{body}");
}

#[tokio::test]
async fn the_admin_api_token_of_one_session_is_refused_under_another() {
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;
    let browser = Browser::new();
    let secret = sign_in_for_administration(&app, &browser, "alice", "alice-password").await;
    let session = JsonReply::read(
        browser
            .http
            .get(app.url("/admin/api/session"))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    let from_session_a = session.body["csrf_token"].as_str().expect("csrf_token").to_string();

    // alice signs in again in the same browser (password and code): a new session.
    let (status, location, body) = browser
        .submit_login(&app.url("/login?next=%2Fadmin"), "alice", "alice-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.expect("to the second factor");
    let page = browser.form_page(&location).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = code_at(&secret, app.clock.now_unix());
    let (status, _, body) = browser
        .post_form(
            location.split('?').next().expect("url"),
            &[
                ("request", page.request.as_str()),
                ("csrf_token", page.csrf_token.as_str()),
                ("method", "totp"),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    let test = |token: String| {
        browser
            .http
            .post(app.url("/admin/api/ldap/test"))
            .header("X-CSRF-Token", token)
            .json(&json!({ "sample_username": "alice" }))
            .send()
    };
    let refused = JsonReply::read(test(from_session_a.clone()).await.expect("POST")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(refused.error(), Some("invalid_csrf_token"));
    let session = JsonReply::read(
        browser
            .http
            .get(app.url("/admin/api/session"))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    let from_session_b = session.body["csrf_token"].as_str().expect("csrf_token").to_string();
    assert_ne!(from_session_a, from_session_b);
    let accepted = JsonReply::read(test(from_session_b).await.expect("POST")).await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
}
