//! `/userinfo` (OpenID Connect Core 5.3, bearer tokens per RFC 6750) and `/logout`
//! (RP-Initiated Logout 1.0).

use base64::Engine;
use reqwest::StatusCode;

use crate::support::browser::{hidden_field, Browser};
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

const FIRST_PARTY: Option<(&str, &str)> = Some((FIRST_PARTY_ID, FIRST_PARTY_SECRET));

/// What a first-party sign-in of alice returns.
struct Tokens {
    access_token: String,
    id_token: String,
}

/// Runs a first-party authorization for `scope` in `browser` (signing alice in when
/// needed) and redeems the code.
async fn tokens_for(app: &TestApp, browser: &Browser, scope: &str) -> Tokens {
    let request = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT).set("scope", scope);
    let location = browser.authorize(&request.url(app), "alice", "alice-password").await;
    let code = expect_code(&location, FIRST_PARTY_REDIRECT);
    let reply = redeem_code(app, FIRST_PARTY, &code, FIRST_PARTY_REDIRECT, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Tokens {
        access_token: reply.body["access_token"].as_str().expect("access token").to_string(),
        id_token: reply.body["id_token"].as_str().expect("ID token").to_string(),
    }
}

fn challenge_of(reply: &JsonReply) -> String {
    reply.header("www-authenticate").unwrap_or_default().to_string()
}

fn assert_invalid_token(reply: &JsonReply, case: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}: {}", reply.body);
    let challenge = challenge_of(reply);
    assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{case}: {challenge}");
    assert_eq!(reply.error(), Some("invalid_token"), "{case}");
    assert!(reply.body.get("sub").is_none(), "{case}");
}

async fn post_userinfo(app: &TestApp, bearer: Option<&str>, form: &[(&str, &str)]) -> JsonReply {
    let mut request = http_client().post(app.url("/userinfo")).form(form);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    JsonReply::read(request.send().await.expect("POST /userinfo")).await
}

#[tokio::test]
async fn userinfo_accepts_the_token_in_a_header_or_a_form_body() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, &Browser::new(), "openid profile email").await;
    let sub = decode_jwt_payload(&tokens.id_token)["sub"].clone();

    let by_header = userinfo_with_header(&app, &tokens.access_token).await;
    assert_eq!(by_header.status, StatusCode::OK, "{}", by_header.body);
    assert_eq!(by_header.body["sub"], sub);
    assert_eq!(by_header.body["preferred_username"], "alice");
    assert_eq!(by_header.body["email"], "alice@example.org");
    assert_eq!(by_header.header("cache-control"), Some("no-store"));

    let by_body = post_userinfo(&app, None, &[("access_token", &tokens.access_token)]).await;
    assert_eq!(by_body.status, StatusCode::OK, "{}", by_body.body);
    assert_eq!(by_body.body, by_header.body);

    let post_with_header = post_userinfo(&app, Some(&tokens.access_token), &[]).await;
    assert_eq!(post_with_header.status, StatusCode::OK, "{}", post_with_header.body);
    assert_eq!(post_with_header.body, by_header.body);
}

#[tokio::test]
async fn userinfo_refuses_a_token_sent_two_ways() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, &Browser::new(), "openid").await;
    let reply = post_userinfo(
        &app,
        Some(&tokens.access_token),
        &[("access_token", &tokens.access_token)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error(), Some("invalid_request"));
    assert!(challenge_of(&reply).contains("error=\"invalid_request\""));
    assert!(reply.body.get("sub").is_none());
}

#[tokio::test]
async fn userinfo_without_a_token_answers_a_bare_bearer_challenge() {
    let app = spawn_app().await;
    let get = JsonReply::read(http_client().get(app.url("/userinfo")).send().await.expect("GET")).await;
    let post = post_userinfo(&app, None, &[("something", "else")]).await;
    // Another scheme is no bearer token either (RFC 6750 3: "attempted using an
    // unsupported authentication method").
    let basic = JsonReply::read(
        http_client()
            .get(app.url("/userinfo"))
            .basic_auth("someone", Some("secret"))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    for (case, reply) in [("GET", get), ("POST", post), ("Basic", basic)] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}");
        let challenge = challenge_of(&reply);
        assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
        // RFC 6750 3.1: no error code when the request had no authentication at all.
        assert!(!challenge.contains("error="), "{case}: {challenge}");
        assert!(
            reply.error().is_none(),
            "{case}: no error code in the body either: {:?}",
            reply.body
        );
    }
}

#[tokio::test]
async fn userinfo_refuses_a_garbage_or_foreign_token_invalid_token() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, &Browser::new(), "openid profile").await;
    let mut tampered = tokens.access_token.clone();
    let last = tampered.pop().expect("non-empty token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });

    for (case, token) in [
        ("garbage", "not-a-token"),
        ("three garbage parts", "abc.def.ghi"),
        ("tampered signature", tampered.as_str()),
        ("an ID token", tokens.id_token.as_str()),
    ] {
        let reply = userinfo_with_header(&app, token).await;
        assert_invalid_token(&reply, case);
    }
}

#[tokio::test]
async fn userinfo_refuses_an_expired_access_token() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, &Browser::new(), "openid").await;
    // The test clock is the wall clock plus what the test adds: leave room for it to tick.
    app.clock.advance(3590);
    let still_valid = userinfo_with_header(&app, &tokens.access_token).await;
    assert_eq!(still_valid.status, StatusCode::OK, "{}", still_valid.body);
    app.clock.advance(11);
    let expired = userinfo_with_header(&app, &tokens.access_token).await;
    assert_invalid_token(&expired, "expired");
}

#[tokio::test]
async fn userinfo_claims_follow_the_scopes() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let openid_only = tokens_for(&app, &browser, "openid").await;
    let reply = userinfo_with_header(&app, &openid_only.access_token).await;
    assert_eq!(reply.status, StatusCode::OK);
    let keys: Vec<&String> = reply.body.as_object().expect("a JSON object").keys().collect();
    assert_eq!(keys, vec!["sub"], "{}", reply.body);

    let profile = tokens_for(&app, &browser, "openid profile").await;
    let reply = userinfo_with_header(&app, &profile.access_token).await;
    assert_eq!(reply.body["preferred_username"], "alice");
    assert_eq!(reply.body["name"], "Alice Liddell");
    assert_eq!(reply.body["given_name"], "Alice");
    assert_eq!(reply.body["family_name"], "Liddell");
    for absent in ["email", "email_verified", "groups"] {
        assert!(reply.body.get(absent).is_none(), "{absent}: {}", reply.body);
    }

    let everything = tokens_for(&app, &browser, "openid email groups").await;
    let reply = userinfo_with_header(&app, &everything.access_token).await;
    assert_eq!(reply.body["email"], "alice@example.org");
    assert_eq!(reply.body["email_verified"], true);
    assert_eq!(reply.body["groups"], serde_json::json!(["admins", "staff"]));
    assert!(reply.body.get("preferred_username").is_none(), "{}", reply.body);
}

/// Signs alice in on the plain sign-in page and returns the session cookie's value.
async fn sign_in_and_read_cookie(app: &TestApp, browser: &Browser) -> String {
    let page = browser.form_page(&app.url("/login")).await;
    let response = browser
        .http
        .post(app.url("/login"))
        .form(&[
            ("request", ""),
            ("csrf_token", page.csrf_token.as_str()),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookies(response.headers(), SESSION_COOKIE)
        .first()
        .expect("a session cookie")
        .to_string();
    let pair = cookie.split(';').next().expect("name=value");
    pair.split_once('=').expect("name=value").1.to_string()
}

/// Whether a session cookie value still names a live session, from a client that has
/// nothing but that cookie (so a cleared cookie jar cannot hide a session left running).
async fn session_is_live(app: &TestApp, cookie_value: &str) -> bool {
    let url = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT)
        .set("prompt", "none")
        .url(app);
    let response = http_client()
        .get(url)
        .header("cookie", format!("{SESSION_COOKIE}={cookie_value}"))
        .send()
        .await
        .expect("GET /authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ASCII").to_string();
    callback(&location).code.is_some()
}

fn assert_session_cookie_cleared(headers: &reqwest::header::HeaderMap) {
    let cookies = set_cookies(headers, SESSION_COOKIE);
    assert_eq!(cookies.len(), 1, "the session cookie is cleared: {cookies:?}");
    let cookie = cookies[0];
    assert!(cookie.starts_with(&format!("{SESSION_COOKIE}=;")), "{cookie}");
    assert!(cookie.to_ascii_lowercase().contains("max-age=0"), "{cookie}");
}

async fn assert_logout_error_page(response: reqwest::Response, expected: &str, case: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
    assert!(response.headers().get("location").is_none(), "{case}: never a redirect");
    assert!(
        set_cookies(response.headers(), SESSION_COOKIE).is_empty(),
        "{case}: the session cookie is left alone"
    );
    let content_type = response.headers()["content-type"].to_str().expect("ASCII").to_string();
    assert!(content_type.starts_with("text/html"), "{case}: {content_type}");
    let body = response.text().await.expect("body");
    assert!(body.contains(expected), "{case}: expected {expected:?} in\n{body}");
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/logout")).expect("logout URL");
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

#[tokio::test]
async fn logout_with_a_valid_hint_and_registered_uri_redirects_and_ends_the_session() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let cookie = sign_in_and_read_cookie(&app, &browser).await;
    let tokens = tokens_for(&app, &browser, "openid").await;
    assert!(session_is_live(&app, &cookie).await);

    let url = logout_url(
        &app,
        &[
            ("id_token_hint", &tokens.id_token),
            ("post_logout_redirect_uri", CONFIDENTIAL_POST_LOGOUT),
            ("state", "bye-123"),
        ],
    );
    let response = browser.http.get(url).send().await.expect("GET /logout");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"].to_str().expect("ASCII"),
        format!("{CONFIDENTIAL_POST_LOGOUT}?state=bye-123")
    );
    assert_session_cookie_cleared(response.headers());

    assert!(
        !is_signed_in(&app, &browser).await,
        "prompt=none now gets login_required"
    );
    assert!(
        !session_is_live(&app, &cookie).await,
        "the session ended on the server too"
    );
    // The access token outlives the session: logout ends single sign-on, not grants.
    assert_eq!(
        userinfo_with_header(&app, &tokens.access_token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_to_an_unregistered_uri_shows_an_error_page() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let tokens = tokens_for(&app, &browser, "openid").await;
    for (case, params, expected) in [
        (
            "foreign URI",
            vec![
                ("id_token_hint", tokens.id_token.as_str()),
                ("post_logout_redirect_uri", "http://attacker.example/signed-out"),
            ],
            "has not registered for sign-out",
        ),
        (
            "a redirect URI that is not a post-logout URI",
            vec![
                ("id_token_hint", tokens.id_token.as_str()),
                ("post_logout_redirect_uri", FIRST_PARTY_REDIRECT),
            ],
            "has not registered for sign-out",
        ),
        (
            "trailing slash",
            vec![
                ("id_token_hint", tokens.id_token.as_str()),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/signed-out/"),
            ],
            "has not registered for sign-out",
        ),
        (
            "no client to check against",
            vec![("post_logout_redirect_uri", CONFIDENTIAL_POST_LOGOUT)],
            "names a return address but not the application",
        ),
    ] {
        let response = browser
            .http
            .get(logout_url(&app, &params))
            .send()
            .await
            .expect("GET /logout");
        assert_logout_error_page(response, expected, case).await;
    }
    assert!(is_signed_in(&app, &browser).await, "still signed in");
}

#[tokio::test]
async fn logout_with_a_bad_id_token_hint_shows_an_error_page() {
    let app = spawn_app().await;
    let other_issuer = spawn_app().await;
    let browser = Browser::new();
    let tokens = tokens_for(&app, &browser, "openid").await;
    let foreign = tokens_for(&other_issuer, &Browser::new(), "openid").await;

    // Alice's token with the payload swapped for one naming someone else.
    let parts: Vec<&str> = tokens.id_token.split('.').collect();
    let mut payload = decode_jwt_payload(&tokens.id_token);
    payload["sub"] = serde_json::json!("someone-else");
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);

    for (case, hint) in [
        ("garbage", "not-a-token"),
        ("forged payload", forged.as_str()),
        ("another issuer's token", foreign.id_token.as_str()),
        // Signed by the same key and naming the same person, but not an ID token
        // (RFC 9068 section 4: `typ` keeps the two apart).
        ("an access token", tokens.access_token.as_str()),
    ] {
        let url = logout_url(
            &app,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", CONFIDENTIAL_POST_LOGOUT),
                ("state", "s"),
            ],
        );
        let response = browser.http.get(url).send().await.expect("GET /logout");
        assert_logout_error_page(response, "did not issue or cannot verify", case).await;
        assert!(is_signed_in(&app, &browser).await, "{case}: still signed in");
    }
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation_first() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let cookie = sign_in_and_read_cookie(&app, &browser).await;

    let (status, location, body) = browser.visit(&app.url("/logout")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(location.is_none());
    assert!(body.contains("Sign out of Gatehouse?"), "{body}");
    assert!(
        body.contains("<strong>alice</strong>"),
        "names who is signed in: {body}"
    );
    let csrf_token = hidden_field(&body, "csrf_token").expect("a CSRF token in the form");
    assert!(!csrf_token.is_empty());
    assert!(session_is_live(&app, &cookie).await, "showing the page ends nothing");

    // A cross-site POST has no valid token: the page is shown again, nothing ends.
    for token in ["", "forged"] {
        let (status, location, body) = browser
            .post_form(&app.url("/logout"), &[("csrf_token", token), ("confirm", "yes")])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(location.is_none());
        assert!(body.contains("Sign out of Gatehouse?"), "{body}");
        assert!(session_is_live(&app, &cookie).await);
    }

    let response = browser
        .http
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf_token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(response.status(), StatusCode::OK);
    assert_session_cookie_cleared(response.headers());
    let body = response.text().await.expect("body");
    assert!(body.contains("You are signed out."), "{body}");
    assert!(!session_is_live(&app, &cookie).await);
    assert!(!is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn logout_confirmation_keeps_the_return_address_and_state() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let cookie = sign_in_and_read_cookie(&app, &browser).await;
    let url = logout_url(
        &app,
        &[
            ("client_id", CONFIDENTIAL_ID),
            ("post_logout_redirect_uri", CONFIDENTIAL_POST_LOGOUT),
            ("state", "keep-me"),
        ],
    );
    let (status, location, body) = browser.visit(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(location.is_none(), "no redirect before the person confirms");
    assert!(session_is_live(&app, &cookie).await);
    let field = |name: &str| hidden_field(&body, name).unwrap_or_default();
    assert_eq!(field("client_id"), CONFIDENTIAL_ID);
    assert_eq!(field("post_logout_redirect_uri"), CONFIDENTIAL_POST_LOGOUT);
    assert_eq!(field("state"), "keep-me");

    let (status, location, _) = browser
        .post_form(
            &app.url("/logout"),
            &[
                ("csrf_token", &field("csrf_token")),
                ("client_id", &field("client_id")),
                ("post_logout_redirect_uri", &field("post_logout_redirect_uri")),
                ("state", &field("state")),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, Some(format!("{CONFIDENTIAL_POST_LOGOUT}?state=keep-me")));
    assert!(!session_is_live(&app, &cookie).await);
}
