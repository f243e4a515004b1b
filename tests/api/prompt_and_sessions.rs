//! Single sign-on and what can override it (`prompt`, `max_age`, `id_token_hint`,
//! `login_hint`), and remembered consent.

use gatehouse::clock::Clock;
use reqwest::StatusCode;

use crate::support::browser::{hidden_field, Browser};
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

const FIRST_PARTY: Option<(&str, &str)> = Some((FIRST_PARTY_ID, FIRST_PARTY_SECRET));

fn first_party_request() -> AuthorizeRequest {
    AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT).set("scope", "openid profile")
}

/// Redeems a first-party code and returns the ID token's payload.
async fn id_token_claims(app: &TestApp, code: &str) -> serde_json::Value {
    let reply = redeem_code(app, FIRST_PARTY, code, FIRST_PARTY_REDIRECT, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    decode_jwt_payload(reply.body["id_token"].as_str().expect("an ID token"))
}

/// The raw ID token of a first-party code.
async fn id_token(app: &TestApp, code: &str) -> String {
    let reply = redeem_code(app, FIRST_PARTY, code, FIRST_PARTY_REDIRECT, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["id_token"].as_str().expect("an ID token").to_string()
}

/// Signs `username` in through a first-party authorization and returns the ID token.
async fn first_sign_in(app: &TestApp, browser: &Browser, username: &str, password: &str) -> String {
    let location = browser
        .authorize(&first_party_request().url(app), username, password)
        .await;
    id_token(app, &expect_code(&location, FIRST_PARTY_REDIRECT)).await
}

/// Asserts that `claims` record a sign-in made between `before` and `after` (the test clock
/// follows the wall clock plus what the test added, so a second may tick meanwhile).
fn assert_signed_in_between(claims: &serde_json::Value, before: i64, after: i64) {
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(
        (before..=after).contains(&auth_time),
        "auth_time {auth_time} is not the new sign-in's ({before}..={after})"
    );
}

/// Follows a redirect to the sign-in page, signs in, and returns the code.
async fn sign_in_again(app: &TestApp, browser: &Browser, login_url: &str, username: &str, password: &str) -> String {
    assert!(
        is_login_page(app, login_url),
        "expected the sign-in page, got {login_url}"
    );
    let (status, location, body) = browser.submit_login(login_url, username, password).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    expect_code(&location.expect("a redirect"), FIRST_PARTY_REDIRECT)
}

#[tokio::test]
async fn prompt_login_asks_again_and_the_new_id_token_has_a_later_auth_time() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let first = decode_jwt_payload(&first_sign_in(&app, &browser, "alice", "alice-password").await);
    let first_auth_time = first["auth_time"].as_i64().expect("auth_time");

    app.clock.advance(30);
    // Without prompt, the session answers.
    let location = redirect_of(&browser, &first_party_request().url(&app)).await;
    let sso = id_token_claims(&app, &expect_code(&location, FIRST_PARTY_REDIRECT)).await;
    assert_eq!(sso["auth_time"], first_auth_time);

    let location = redirect_of(&browser, &first_party_request().set("prompt", "login").url(&app)).await;
    let page = browser.form_page(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.request.is_empty() && !page.csrf_token.is_empty());
    let before = app.clock.now_unix();
    let code = sign_in_again(&app, &browser, &location, "alice", "alice-password").await;
    let after = app.clock.now_unix();
    let second = id_token_claims(&app, &code).await;
    assert_eq!(second["sub"], first["sub"]);
    assert!(before >= first_auth_time + 30);
    assert_signed_in_between(&second, before, after);
    assert_ne!(second["sid"], first["sid"], "a new sign-in is a new session");
}

/// One account per browser: selecting an account is signing in again, as whoever the
/// person picks (Core 3.1.2.1 `select_account`), here someone else than before.
#[tokio::test]
async fn prompt_select_account_lets_the_person_sign_in_as_another_account() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let alice = decode_jwt_payload(&first_sign_in(&app, &browser, "alice", "alice-password").await);

    let location = redirect_of(
        &browser,
        &first_party_request().set("prompt", "select_account").url(&app),
    )
    .await;
    assert!(is_login_page(&app, &location), "{location}");
    let code = sign_in_again(&app, &browser, &location, "bob", "bob-password").await;
    let bob = id_token_claims(&app, &code).await;
    assert_ne!(bob["sub"], alice["sub"]);
    assert_eq!(bob["preferred_username"], "bob");
}

#[tokio::test]
async fn max_age_exceeded_forces_a_new_sign_in() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let first = decode_jwt_payload(&first_sign_in(&app, &browser, "alice", "alice-password").await);
    let first_auth_time = first["auth_time"].as_i64().expect("auth_time");
    app.clock.advance(120);

    let silent = first_party_request().set("max_age", "60").set("prompt", "none");
    let location = redirect_of(&browser, &silent.url(&app)).await;
    assert_error_redirect(&app, &location, FIRST_PARTY_REDIRECT, "login_required");

    let location = redirect_of(&browser, &first_party_request().set("max_age", "60").url(&app)).await;
    let before = app.clock.now_unix();
    let code = sign_in_again(&app, &browser, &location, "alice", "alice-password").await;
    let after = app.clock.now_unix();
    let claims = id_token_claims(&app, &code).await;
    assert!(before >= first_auth_time + 120);
    assert_signed_in_between(&claims, before, after);
}

#[tokio::test]
async fn max_age_not_exceeded_keeps_the_session() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let first = decode_jwt_payload(&first_sign_in(&app, &browser, "alice", "alice-password").await);
    app.clock.advance(120);
    // 130: not exceeded, with room for the wall clock to tick during the test.
    for max_age in ["600", "130"] {
        let location = redirect_of(&browser, &first_party_request().set("max_age", max_age).url(&app)).await;
        let claims = id_token_claims(&app, &expect_code(&location, FIRST_PARTY_REDIRECT)).await;
        assert_eq!(claims["auth_time"], first["auth_time"], "max_age={max_age}");
    }
}

#[tokio::test]
async fn max_age_zero_forces_a_new_sign_in_like_prompt_login() {
    let app = spawn_app().await;
    let browser = Browser::new();
    first_sign_in(&app, &browser, "alice", "alice-password").await;
    // No time has passed: max_age=0 still means "sign in again" (OpenID Connect Core
    // 3.1.2.1: max_age=0 is equivalent to prompt=login).
    let location = redirect_of(&browser, &first_party_request().set("max_age", "0").url(&app)).await;
    let before = app.clock.now_unix();
    let code = sign_in_again(&app, &browser, &location, "alice", "alice-password").await;
    let after = app.clock.now_unix();
    assert_signed_in_between(&id_token_claims(&app, &code).await, before, after);
}

#[tokio::test]
async fn id_token_hint_for_another_person_forces_a_new_sign_in() {
    let app = spawn_app().await;
    let bobs_token = first_sign_in(&app, &Browser::new(), "bob", "bob-password").await;
    let bob = decode_jwt_payload(&bobs_token);
    let browser = Browser::new();
    let alices_token = first_sign_in(&app, &browser, "alice", "alice-password").await;
    let alice = decode_jwt_payload(&alices_token);
    assert_ne!(alice["sub"], bob["sub"]);

    // A hint for the person already signed in: single sign-on as usual.
    let location = redirect_of(
        &browser,
        &first_party_request().set("id_token_hint", &alices_token).url(&app),
    )
    .await;
    let claims = id_token_claims(&app, &expect_code(&location, FIRST_PARTY_REDIRECT)).await;
    assert_eq!(claims["sub"], alice["sub"]);

    // A hint for someone else: not silently, and only after a sign-in.
    let silent = first_party_request()
        .set("id_token_hint", &bobs_token)
        .set("prompt", "none");
    let location = redirect_of(&browser, &silent.url(&app)).await;
    assert_error_redirect(&app, &location, FIRST_PARTY_REDIRECT, "login_required");

    let location = redirect_of(
        &browser,
        &first_party_request().set("id_token_hint", &bobs_token).url(&app),
    )
    .await;
    let code = sign_in_again(&app, &browser, &location, "bob", "bob-password").await;
    let claims = id_token_claims(&app, &code).await;
    assert_eq!(claims["sub"], bob["sub"]);
}

#[tokio::test]
async fn login_hint_prefills_the_username_field() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let location = redirect_of(&browser, &first_party_request().set("login_hint", "o*malley").url(&app)).await;
    assert!(is_login_page(&app, &location), "{location}");
    let page = browser.form_page(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(hidden_field(&page.body, "username").as_deref(), Some("o*malley"));

    // Without a hint the field is empty.
    let location = redirect_of(&Browser::new(), &first_party_request().url(&app)).await;
    let page = Browser::new().form_page(&location).await;
    assert_eq!(hidden_field(&page.body, "username").as_deref(), Some(""));
}

/// Starts a confidential-client request for `scope` and returns where Gatehouse sends the
/// browser (signed in already).
async fn ask(app: &TestApp, browser: &Browser, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("scope", scope);
    for (name, value) in extra {
        request = request.set(name, value);
    }
    redirect_of(browser, &request.url(app)).await
}

#[tokio::test]
async fn consent_denied_returns_access_denied_with_state() {
    let app = spawn_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, "alice", "alice-password").await;
    let location = ask(&app, &browser, "openid profile", &[]).await;
    assert!(is_consent_page(&app, &location), "{location}");
    let answer = browser.submit_consent(&location, "deny").await;
    assert_error_redirect(&app, &answer, CONFIDENTIAL_REDIRECT, "access_denied");

    // A refusal is not remembered as consent.
    let location = ask(&app, &browser, "openid profile", &[]).await;
    assert!(is_consent_page(&app, &location), "{location}");
}

#[tokio::test]
async fn consent_is_remembered_until_a_new_scope_is_asked() {
    let app = spawn_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, "alice", "alice-password").await;
    let location = ask(&app, &browser, "openid profile email", &[]).await;
    assert!(is_consent_page(&app, &location), "{location}");
    let answer = browser.submit_consent(&location, "allow").await;
    expect_code(&answer, CONFIDENTIAL_REDIRECT);

    for scope in ["openid profile email", "openid email", "openid"] {
        let location = ask(&app, &browser, scope, &[]).await;
        expect_code(&location, CONFIDENTIAL_REDIRECT);
    }

    let location = ask(&app, &browser, "openid profile groups", &[]).await;
    assert!(is_consent_page(&app, &location), "a new scope asks again: {location}");
    let page = browser.form_page(&location).await;
    assert!(
        page.body.contains("<code class=\"scope-name\">groups</code>"),
        "{}",
        page.body
    );
    let answer = browser.submit_consent(&location, "allow").await;
    expect_code(&answer, CONFIDENTIAL_REDIRECT);

    // Both approvals add up.
    let location = ask(&app, &browser, "openid email groups", &[]).await;
    expect_code(&location, CONFIDENTIAL_REDIRECT);

    // Consent belongs to the person: someone else in another browser is asked.
    let other = Browser::new();
    sign_in(&app, &other, "bob", "bob-password").await;
    let location = ask(&app, &other, "openid", &[]).await;
    assert!(is_consent_page(&app, &location), "{location}");
}

#[tokio::test]
async fn prompt_consent_asks_again_after_consent_was_given() {
    let app = spawn_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, "alice", "alice-password").await;
    let location = ask(&app, &browser, "openid profile", &[]).await;
    browser.submit_consent(&location, "allow").await;
    expect_code(&ask(&app, &browser, "openid profile", &[]).await, CONFIDENTIAL_REDIRECT);

    let location = ask(&app, &browser, "openid profile", &[("prompt", "consent")]).await;
    assert!(is_consent_page(&app, &location), "{location}");
    let answer = browser.submit_consent(&location, "allow").await;
    expect_code(&answer, CONFIDENTIAL_REDIRECT);
}

#[tokio::test]
async fn a_first_party_client_skips_consent() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let request =
        AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT).set("scope", "openid profile email groups");
    let location = redirect_of(&browser, &request.url(&app)).await;
    assert!(is_login_page(&app, &location), "{location}");
    let (status, next, body) = browser.submit_login(&location, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let next = next.expect("a redirect");
    assert!(!is_consent_page(&app, &next), "no consent page: {next}");
    let code = expect_code(&next, FIRST_PARTY_REDIRECT);
    let claims = id_token_claims(&app, &code).await;
    assert_eq!(claims["groups"], serde_json::json!(["admins", "staff"]));
}
