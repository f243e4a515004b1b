//! `/authorize` when something is wrong. Until the client and its redirect URI are known
//! good, the answer is a page and never a redirect (RFC 6749 4.1.2.1); after that, errors
//! go back to the redirect URI with `state` and `iss`.

use reqwest::StatusCode;

use crate::support::browser::Browser;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

/// Asserts an HTML error page: 400, text/html, no Location, `expected` in the text.
async fn assert_error_page(response: reqwest::Response, expected: &str, case: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
    assert!(response.headers().get("location").is_none(), "{case}: never a redirect");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ASCII").to_string())
        .unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{case}: {content_type}");
    let body = response.text().await.expect("body");
    assert!(
        body.contains(expected),
        "{case}: the page should say {expected:?}:\n{body}"
    );
    assert!(
        !body.contains(CONFIDENTIAL_REDIRECT),
        "{case}: no link to the redirect URI"
    );
}

#[tokio::test]
async fn authorize_shows_an_error_page_for_a_missing_or_unknown_client() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let cases = [
        (
            "unknown client_id",
            AuthorizeRequest::new("no-such-client", CONFIDENTIAL_REDIRECT),
            "not registered with Gatehouse",
        ),
        (
            "missing client_id",
            AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).remove("client_id"),
            "client_id is missing",
        ),
        (
            "empty client_id",
            AuthorizeRequest::new("", CONFIDENTIAL_REDIRECT),
            "client_id is missing",
        ),
        (
            "unknown client and otherwise invalid request",
            AuthorizeRequest::new("no-such-client", CONFIDENTIAL_REDIRECT)
                .set("response_type", "token")
                .set("scope", "profile"),
            "not registered with Gatehouse",
        ),
    ];
    for (case, request, expected) in cases {
        let response = browser.http.get(request.url(&app)).send().await.expect("GET");
        assert_error_page(response, expected, case).await;
    }
}

#[tokio::test]
async fn authorize_shows_an_error_page_for_a_redirect_uri_that_is_not_registered() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let unregistered = "has not registered";
    let cases = [
        ("trailing slash", format!("{CONFIDENTIAL_REDIRECT}/"), unregistered),
        (
            "extra query",
            format!("{CONFIDENTIAL_REDIRECT}?next=/admin"),
            unregistered,
        ),
        (
            "other host",
            "http://attacker.example/callback".to_string(),
            unregistered,
        ),
        (
            "other scheme",
            CONFIDENTIAL_REDIRECT.replace("http:", "https:"),
            unregistered,
        ),
        ("another client's URI", PUBLIC_REDIRECT.to_string(), unregistered),
        (
            "upper case path",
            CONFIDENTIAL_REDIRECT.replace("callback", "Callback"),
            unregistered,
        ),
    ];
    for (case, redirect_uri, expected) in cases {
        let request = AuthorizeRequest::new(CONFIDENTIAL_ID, &redirect_uri).set("response_type", "token");
        let response = browser.http.get(request.url(&app)).send().await.expect("GET");
        assert_error_page(response, expected, case).await;
    }

    let missing = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).remove("redirect_uri");
    let response = browser.http.get(missing.url(&app)).send().await.expect("GET");
    assert_error_page(response, "redirect_uri is missing", "missing redirect_uri").await;

    let repeated =
        AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).append("redirect_uri", PUBLIC_REDIRECT);
    let response = browser.http.get(repeated.url(&app)).send().await.expect("GET");
    assert_error_page(response, "more than once", "repeated redirect_uri").await;
}

#[tokio::test]
async fn authorize_redirects_invalid_scope_when_openid_is_missing() {
    let app = spawn_app().await;
    let browser = Browser::new();
    for scope in ["profile email", "", "openidx profile"] {
        let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("scope", scope);
        let location = redirect_of(&browser, &request.url(&app)).await;
        assert_error_redirect(&app, &location, CONFIDENTIAL_REDIRECT, "invalid_scope");
    }
}

#[tokio::test]
async fn authorize_redirects_errors_for_unsupported_or_unsafe_requests() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let pkce = new_pkce();
    let confidential = || AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT);
    let public = || AuthorizeRequest::new(PUBLIC_ID, PUBLIC_REDIRECT);
    let cases = [
        (
            "implicit flow",
            confidential().set("response_type", "token"),
            CONFIDENTIAL_REDIRECT,
            "unsupported_response_type",
        ),
        (
            "hybrid flow",
            confidential().set("response_type", "code id_token"),
            CONFIDENTIAL_REDIRECT,
            "unsupported_response_type",
        ),
        (
            "missing response_type",
            confidential().remove("response_type"),
            CONFIDENTIAL_REDIRECT,
            "invalid_request",
        ),
        (
            "public client without PKCE",
            public(),
            PUBLIC_REDIRECT,
            "invalid_request",
        ),
        (
            "PKCE plain",
            public()
                .set("code_challenge", &pkce.verifier)
                .set("code_challenge_method", "plain"),
            PUBLIC_REDIRECT,
            "invalid_request",
        ),
        (
            "PKCE plain, confidential client",
            confidential()
                .set("code_challenge", &pkce.verifier)
                .set("code_challenge_method", "plain"),
            CONFIDENTIAL_REDIRECT,
            "invalid_request",
        ),
        (
            "request object",
            confidential().set("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."),
            CONFIDENTIAL_REDIRECT,
            "request_not_supported",
        ),
        (
            "request_uri",
            confidential().set("request_uri", "https://attacker.example/request.jwt"),
            CONFIDENTIAL_REDIRECT,
            "request_uri_not_supported",
        ),
        (
            "repeated scope",
            confidential().append("scope", "openid profile"),
            CONFIDENTIAL_REDIRECT,
            "invalid_request",
        ),
        (
            "unknown prompt value",
            confidential().set("prompt", "sometimes"),
            CONFIDENTIAL_REDIRECT,
            "invalid_request",
        ),
        (
            "negative max_age",
            confidential().set("max_age", "-1"),
            CONFIDENTIAL_REDIRECT,
            "invalid_request",
        ),
    ];
    for (case, request, redirect_uri, error) in cases {
        let location = redirect_of(&browser, &request.url(&app)).await;
        let answer = callback(&location);
        assert_eq!(answer.error.as_deref(), Some(error), "{case}: {location}");
        assert_error_redirect(&app, &location, redirect_uri, error);
    }
}

#[tokio::test]
async fn prompt_none_without_a_session_redirects_login_required() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let pkce = new_pkce();
    let request = AuthorizeRequest::new(PUBLIC_ID, PUBLIC_REDIRECT)
        .with_pkce(&pkce)
        .set("prompt", "none");
    let location = redirect_of(&browser, &request.url(&app)).await;
    assert_error_redirect(&app, &location, PUBLIC_REDIRECT, "login_required");
}

#[tokio::test]
async fn prompt_none_without_consent_redirects_consent_required() {
    let app = spawn_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, "bob", "bob-password").await;
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT)
        .set("scope", "openid profile")
        .set("prompt", "none");
    let location = redirect_of(&browser, &request.url(&app)).await;
    assert_error_redirect(&app, &location, CONFIDENTIAL_REDIRECT, "consent_required");

    // The first-party client needs no consent: the same browser gets a code.
    let first_party = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT).set("prompt", "none");
    let location = redirect_of(&browser, &first_party.url(&app)).await;
    expect_code(&location, FIRST_PARTY_REDIRECT);
}

#[tokio::test]
async fn authorize_ignores_unknown_parameters() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let request = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT)
        .set("ui_locales", "fr-CA")
        .set("x-tracking", "abc")
        .set("acr_values", "urn:example:loa:2")
        .set("display", "page")
        .set("claims_locales", "de");
    let location = redirect_of(&browser, &request.url(&app)).await;
    assert!(is_login_page(&app, &location), "{location}");
    let (status, next, body) = browser.submit_login(&location, "bob", "bob-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let code = expect_code(&next.expect("a redirect"), FIRST_PARTY_REDIRECT);
    let reply = redeem_code(
        &app,
        Some((FIRST_PARTY_ID, FIRST_PARTY_SECRET)),
        &code,
        FIRST_PARTY_REDIRECT,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn post_authorize_works_like_get() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let pkce = new_pkce();
    let request = AuthorizeRequest::new(PUBLIC_ID, PUBLIC_REDIRECT)
        .with_pkce(&pkce)
        .set("scope", "openid profile");
    let response = browser
        .http
        .post(app.url("/authorize"))
        .form(&request.params)
        .send()
        .await
        .expect("POST /authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ASCII").to_string();
    assert!(is_login_page(&app, &location), "{location}");
    let (status, next, body) = browser.submit_login(&location, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let next = next.expect("a redirect");
    assert!(is_consent_page(&app, &next), "{next}");
    let location = browser.submit_consent(&next, "allow").await;
    let answer = callback(&location);
    assert_eq!(answer.state.as_deref(), Some(STATE));
    assert_eq!(answer.iss.as_deref(), Some(app.address.as_str()));
    let code = expect_code(&location, PUBLIC_REDIRECT);
    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC_ID),
            ("code", &code),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Errors behave the same: a redirect once the client is known, a page before.
    let without_openid = request.clone().set("scope", "profile");
    let response = browser
        .http
        .post(app.url("/authorize"))
        .form(&without_openid.params)
        .send()
        .await
        .expect("POST /authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ASCII").to_string();
    assert_error_redirect(&app, &location, PUBLIC_REDIRECT, "invalid_scope");

    let unknown_client = request.set("client_id", "no-such-client");
    let response = browser
        .http
        .post(app.url("/authorize"))
        .form(&unknown_client.params)
        .send()
        .await
        .expect("POST /authorize");
    assert_error_page(response, "not registered with Gatehouse", "POST, unknown client").await;
}
