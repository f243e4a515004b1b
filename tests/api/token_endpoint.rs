//! `POST /token` refusing what RFC 6749 section 5.2 and RFC 7636 say it must refuse, and
//! accepting every client authentication method it advertises.

use openidconnect::OAuth2TokenResponse;
use reqwest::StatusCode;

use crate::support::browser::Browser;
use crate::support::oauth::*;
use crate::support::relying_party::RelyingParty;
use crate::support::spawn_app::*;

const CONFIDENTIAL: Option<(&str, &str)> = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));

/// Signs bob in with a fresh browser and returns a code for `client_id`.
async fn code_for(app: &TestApp, client_id: &str, redirect_uri: &str, pkce: Option<&Pkce>) -> String {
    let mut request = AuthorizeRequest::new(client_id, redirect_uri).set("scope", "openid profile");
    if let Some(pkce) = pkce {
        request = request.with_pkce(pkce);
    }
    let location = Browser::new().authorize(&request.url(app), "bob", "bob-password").await;
    expect_code(&location, redirect_uri)
}

fn assert_oauth_error(reply: &JsonReply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error(), Some(error), "{}", reply.body);
    assert!(
        reply.body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        reply.body
    );
    assert!(reply.body.get("access_token").is_none());
}

fn assert_invalid_client(reply: &JsonReply) {
    assert_oauth_error(reply, StatusCode::UNAUTHORIZED, "invalid_client");
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic "), "challenge: {challenge:?}");
}

fn access_token_of(reply: &JsonReply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_the_first_tokens() {
    let app = spawn_app().await;
    let pkce = new_pkce();
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, Some(&pkce)).await;

    let first = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, Some(&pkce.verifier)).await;
    let access_token = access_token_of(&first);
    assert_eq!(first.body["token_type"], "Bearer");
    assert_eq!(first.body["expires_in"], 3600);
    assert_eq!(first.body["scope"], "openid profile");
    assert!(first.body["id_token"].as_str().is_some());
    let before = userinfo_with_header(&app, &access_token).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);

    let second = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, Some(&pkce.verifier)).await;
    assert_oauth_error(&second, StatusCode::BAD_REQUEST, "invalid_grant");

    let after = userinfo_with_header(&app, &access_token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
    let challenge = after.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn a_wrong_or_missing_pkce_verifier_is_refused_invalid_grant() {
    let app = spawn_app().await;
    let pkce = new_pkce();
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, Some(&pkce)).await;
    let other = new_pkce();
    for (case, verifier) in [
        ("another verifier", Some(other.verifier.as_str())),
        ("the challenge itself", Some(pkce.challenge.as_str())),
        ("too short", Some("abc")),
        ("missing", None),
    ] {
        let reply = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, verifier).await;
        assert_eq!(reply.error(), Some("invalid_grant"), "{case}: {}", reply.body);
        assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    }

    // A verifier sent for a code that had no challenge is refused too (RFC 9700 2.1.1).
    let plain_code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let reply = redeem_code(
        &app,
        CONFIDENTIAL,
        &plain_code,
        CONFIDENTIAL_REDIRECT,
        Some(&pkce.verifier),
    )
    .await;
    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_with_a_basic_challenge() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;

    let reply = redeem_code(
        &app,
        Some((CONFIDENTIAL_ID, "not-the-secret")),
        &code,
        CONFIDENTIAL_REDIRECT,
        None,
    )
    .await;
    assert_invalid_client(&reply);

    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONFIDENTIAL_REDIRECT),
            ("client_id", CONFIDENTIAL_ID),
            ("client_secret", "not-the-secret"),
        ],
    )
    .await;
    assert_invalid_client(&reply);

    // A failed client authentication does not use the code up.
    let reply = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    access_token_of(&reply);
}

#[tokio::test]
async fn an_unknown_client_is_refused_invalid_client() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let reply = redeem_code(
        &app,
        Some(("no-such-client", "whatever")),
        &code,
        CONFIDENTIAL_REDIRECT,
        None,
    )
    .await;
    assert_invalid_client(&reply);
    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONFIDENTIAL_REDIRECT),
            ("client_id", "no-such-client"),
        ],
    )
    .await;
    assert_invalid_client(&reply);
    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONFIDENTIAL_REDIRECT),
        ],
    )
    .await;
    assert_invalid_client(&reply);
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_refused_invalid_grant() {
    let app = spawn_app().await;
    // Both clients share the redirect URI: only the client binding differs.
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONFIDENTIAL_REDIRECT),
            ("client_id", POST_CLIENT_ID),
            ("client_secret", POST_CLIENT_SECRET),
        ],
    )
    .await;
    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_redirect_uri_mismatch_at_the_token_endpoint_is_refused_invalid_grant() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    for (case, redirect_uri) in [
        ("trailing slash", format!("{CONFIDENTIAL_REDIRECT}/")),
        ("another URI", CONFIDENTIAL_POST_LOGOUT.to_string()),
    ] {
        let reply = redeem_code(&app, CONFIDENTIAL, &code, &redirect_uri, None).await;
        assert_eq!(reply.error(), Some("invalid_grant"), "{case}: {}", reply.body);
        assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let without = token_request(
        &app,
        CONFIDENTIAL,
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    assert_oauth_error(&without, StatusCode::BAD_REQUEST, "invalid_grant");

    let reply = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    access_token_of(&reply);
}

#[tokio::test]
async fn an_expired_code_is_refused_invalid_grant() {
    let app = spawn_app().await;
    let early = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let late = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;

    // The test clock is the wall clock plus what the test adds: leave room for it to tick.
    app.clock.advance(50);
    let reply = redeem_code(&app, CONFIDENTIAL, &early, CONFIDENTIAL_REDIRECT, None).await;
    access_token_of(&reply);

    app.clock.advance(11);
    let reply = redeem_code(&app, CONFIDENTIAL, &late, CONFIDENTIAL_REDIRECT, None).await;
    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_client_secret_post_client_redeems_through_the_relying_party() {
    let app = spawn_app().await;
    let rp = RelyingParty::discover(&app, POST_CLIENT_ID, Some(POST_CLIENT_SECRET), CONFIDENTIAL_REDIRECT)
        .await
        .with_secret_in_body();
    let start = rp.start(&["profile"], &[]);
    let location = Browser::new().authorize(&start.url, "bob", "bob-password").await;
    let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
    let tokens = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("client_secret_post works");
    let claims = rp.verify_id_token(&tokens, &start.nonce);
    assert_eq!(claims.audiences()[0].as_str(), POST_CLIENT_ID);
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("bob"));
}

#[tokio::test]
async fn a_public_client_redeems_with_pkce_and_no_secret() {
    let app = spawn_app().await;
    let rp = RelyingParty::discover(&app, PUBLIC_ID, None, PUBLIC_REDIRECT).await;
    let start = rp.start(&["profile"], &[]);
    let location = Browser::new().authorize(&start.url, "bob", "bob-password").await;
    let code = expect_code(&location, PUBLIC_REDIRECT);
    let tokens = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("a public client redeems with PKCE");
    let claims = rp.verify_id_token(&tokens, &start.nonce);
    assert_eq!(claims.audiences()[0].as_str(), PUBLIC_ID);
    let (status, _) = rp.userinfo(tokens.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_confidential_client_id_without_its_secret_is_refused_invalid_client() {
    let app = spawn_app().await;
    let pkce = new_pkce();
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, Some(&pkce)).await;
    // PKCE does not stand in for the secret of a confidential client.
    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONFIDENTIAL_REDIRECT),
            ("client_id", CONFIDENTIAL_ID),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_invalid_client(&reply);

    // Nor may a public client present a secret it was never given.
    let public_pkce = new_pkce();
    let public_code = code_for(&app, PUBLIC_ID, PUBLIC_REDIRECT, Some(&public_pkce)).await;
    let reply = redeem_code(
        &app,
        Some((PUBLIC_ID, "made-up-secret")),
        &public_code,
        PUBLIC_REDIRECT,
        Some(&public_pkce.verifier),
    )
    .await;
    assert_invalid_client(&reply);
}

#[tokio::test]
async fn an_unsupported_grant_type_is_refused() {
    let app = spawn_app().await;
    for grant_type in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "AUTHORIZATION_CODE",
    ] {
        let reply = token_request(
            &app,
            CONFIDENTIAL,
            &[
                ("grant_type", grant_type),
                ("username", "alice"),
                ("password", "alice-password"),
                ("refresh_token", "x"),
            ],
        )
        .await;
        assert_eq!(
            reply.error(),
            Some("unsupported_grant_type"),
            "{grant_type}: {}",
            reply.body
        );
        assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // A grant type Gatehouse supports but this client may not use.
    let reply = token_request(&app, CONFIDENTIAL, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "unauthorized_client");
}

#[tokio::test]
async fn a_missing_grant_type_is_refused_invalid_request() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let reply = token_request(
        &app,
        CONFIDENTIAL,
        &[("code", &code), ("redirect_uri", CONFIDENTIAL_REDIRECT)],
    )
    .await;
    assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_token_request_that_is_not_a_form_is_refused_invalid_request() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let json = serde_json::json!({
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CONFIDENTIAL_REDIRECT,
    });
    let response = http_client()
        .post(app.url("/token"))
        .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
        .json(&json)
        .send()
        .await
        .expect("POST /token");
    assert_oauth_error(
        &JsonReply::read(response).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );

    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        url::form_urlencoded::byte_serialize(CONFIDENTIAL_REDIRECT.as_bytes()).collect::<String>()
    );
    let response = http_client()
        .post(app.url("/token"))
        .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
        .header("content-type", "text/plain")
        .body(form)
        .send()
        .await
        .expect("POST /token");
    assert_oauth_error(
        &JsonReply::read(response).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn a_repeated_parameter_is_refused_invalid_request() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    for repeated in ["code", "grant_type", "redirect_uri"] {
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CONFIDENTIAL_REDIRECT),
        ];
        let value = fields.iter().find(|(n, _)| *n == repeated).expect("field").1;
        fields.push((repeated, value));
        let reply = token_request(&app, CONFIDENTIAL, &fields).await;
        assert_eq!(reply.error(), Some("invalid_request"), "{repeated}: {}", reply.body);
        assert_oauth_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // None of that used the code up.
    let reply = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    access_token_of(&reply);
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = spawn_app().await;
    let code = code_for(&app, CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT, None).await;
    let success = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    let grant_error = redeem_code(&app, CONFIDENTIAL, "no-such-code", CONFIDENTIAL_REDIRECT, None).await;
    let client_error = redeem_code(
        &app,
        Some((CONFIDENTIAL_ID, "wrong")),
        &code,
        CONFIDENTIAL_REDIRECT,
        None,
    )
    .await;
    assert_eq!(success.status, StatusCode::OK, "{}", success.body);
    assert_eq!(grant_error.error(), Some("invalid_grant"));
    assert_eq!(client_error.error(), Some("invalid_client"));
    for (case, reply) in [
        ("success", &success),
        ("invalid_grant", &grant_error),
        ("invalid_client", &client_error),
    ] {
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{case}");
        assert_eq!(reply.header("pragma"), Some("no-cache"), "{case}");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{case}"
        );
    }
}

#[tokio::test]
async fn get_token_is_method_not_allowed() {
    let app = spawn_app().await;
    let response = http_client()
        .get(app.url("/token?grant_type=authorization_code&code=x"))
        .send()
        .await
        .expect("GET /token");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}
