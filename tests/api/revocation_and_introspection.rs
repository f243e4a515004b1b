//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662): revoking an access token
//! ends it alone, revoking a refresh token ends its family; introspection tells a
//! confidential client what is valid right now and nothing about what is not.

use gatehouse::clock::Clock;
use gatehouse::config::IpAllowlist;
use gatehouse::tokens::personal_access_token::{create_personal_access_token, NewPersonalAccessToken};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::refresh_tokens::{field, refresh, tokens_for, CONFIDENTIAL, OFFLINE_SCOPE};
use crate::support::audit::audit_rows_until;
use crate::support::browser::Browser;
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

const POST_CLIENT: Option<(&str, &str)> = Some((POST_CLIENT_ID, POST_CLIENT_SECRET));

/// POSTs a form to `path` with HTTP Basic credentials when given.
async fn post(app: &TestApp, path: &str, basic: Option<(&str, &str)>, fields: &[(&str, &str)]) -> JsonReply {
    let mut request = http_client().post(app.url(path)).form(fields);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    JsonReply::read(request.send().await.expect("POST")).await
}

pub(crate) async fn introspect(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    token: &str,
    hint: Option<&str>,
) -> JsonReply {
    let mut fields = vec![("token", token)];
    if let Some(hint) = hint {
        fields.push(("token_type_hint", hint));
    }
    let reply = post(app, "/introspect", basic, &fields).await;
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{}", reply.body);
    reply
}

/// Revokes `token` and checks the answer RFC 7009 requires: 200, nothing in the body.
async fn revoke(app: &TestApp, basic: Option<(&str, &str)>, token: &str, hint: Option<&str>) {
    let mut fields = vec![("token", token)];
    if let Some(hint) = hint {
        fields.push(("token_type_hint", hint));
    }
    let mut request = http_client().post(app.url("/revoke")).form(&fields);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("POST /revoke");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(response.text().await.expect("body"), "");
}

fn inactive() -> serde_json::Value {
    serde_json::json!({ "active": false })
}

#[tokio::test]
async fn revoking_an_access_token_ends_that_token_alone() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let access = field(&tokens, "access_token");
    assert_eq!(introspect(&app, CONFIDENTIAL, &access, None).await.body["active"], true);

    revoke(&app, CONFIDENTIAL, &access, Some("access_token")).await;
    let info = userinfo_with_header(&app, &access).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{}", info.body);
    assert_eq!(introspect(&app, CONFIDENTIAL, &access, None).await.body, inactive());
    // Revoking it again changes nothing and is still a 200.
    revoke(&app, CONFIDENTIAL, &access, None).await;

    // The family goes on: the refresh token works and its new access token is live.
    let refreshed = refresh(&app, CONFIDENTIAL, &field(&tokens, "refresh_token"), None).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let info = userinfo_with_header(&app, &field(&refreshed, "access_token")).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);

    let rows = audit_rows_until(&app.database_url, |rows| rows.iter().any(|r| r.kind == "token.revoked")).await;
    let row = rows.iter().find(|r| r.kind == "token.revoked").expect("audited");
    assert_eq!(row.client_id.as_deref(), Some(CONFIDENTIAL_ID));
    assert!(row.detail.contains("access_token"), "{}", row.detail);
    assert!(!row.detail.contains(&access), "no token in the audit detail");
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_its_access_tokens() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let rotated = refresh(&app, CONFIDENTIAL, &field(&tokens, "refresh_token"), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let refresh_token = field(&rotated, "refresh_token");
    let other = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;

    // The wrong hint does not stop it (RFC 7009 section 2.1).
    revoke(&app, CONFIDENTIAL, &refresh_token, Some("access_token")).await;

    let again = refresh(&app, CONFIDENTIAL, &refresh_token, None).await;
    assert_eq!(again.error(), Some("invalid_grant"), "{}", again.body);
    assert_eq!(
        introspect(&app, CONFIDENTIAL, &refresh_token, Some("refresh_token"))
            .await
            .body,
        inactive()
    );
    for access in [field(&tokens, "access_token"), field(&rotated, "access_token")] {
        let info = userinfo_with_header(&app, &access).await;
        assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{}", info.body);
        assert_eq!(introspect(&app, CONFIDENTIAL, &access, None).await.body, inactive());
    }
    // Another sign-in's family is untouched.
    let info = userinfo_with_header(&app, &field(&other, "access_token")).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    let reply = refresh(&app, CONFIDENTIAL, &field(&other, "refresh_token"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn revocation_answers_200_for_what_it_cannot_or_may_not_revoke() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let access = field(&tokens, "access_token");
    let refresh_token = field(&tokens, "refresh_token");

    for garbage in ["not-a-token", "a.b.c", "gatehouse_pat_nothing"] {
        revoke(&app, CONFIDENTIAL, garbage, None).await;
        revoke(&app, CONFIDENTIAL, garbage, Some("refresh_token")).await;
        revoke(&app, CONFIDENTIAL, garbage, Some("unknown_kind")).await;
    }
    // Another client's tokens are not revoked, and that client is not told so.
    revoke(&app, POST_CLIENT, &access, None).await;
    revoke(&app, POST_CLIENT, &refresh_token, Some("refresh_token")).await;
    assert_eq!(introspect(&app, CONFIDENTIAL, &access, None).await.body["active"], true);
    let reply = refresh(&app, CONFIDENTIAL, &refresh_token, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let missing = post(&app, "/revoke", CONFIDENTIAL, &[("token_type_hint", "access_token")]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), Some("invalid_request"));
    let unauthenticated = post(&app, "/revoke", None, &[("token", &access)]).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthenticated.error(), Some("invalid_client"));
    let wrong_secret = post(&app, "/revoke", Some((CONFIDENTIAL_ID, "wrong")), &[("token", &access)]).await;
    assert_eq!(wrong_secret.error(), Some("invalid_client"));
    assert_eq!(introspect(&app, CONFIDENTIAL, &access, None).await.body["active"], true);

    // Browser applications may call it (CORS, like /token).
    let preflight = http_client()
        .request(reqwest::Method::OPTIONS, app.url("/revoke"))
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("OPTIONS /revoke");
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
}

#[tokio::test]
async fn a_public_client_revokes_its_own_refresh_token_by_client_id() {
    let app = spawn_app().await;
    let pkce = new_pkce();
    let request = AuthorizeRequest::new(PUBLIC_ID, PUBLIC_REDIRECT)
        .set("scope", OFFLINE_SCOPE)
        .with_pkce(&pkce);
    let location = Browser::new()
        .authorize(&request.url(&app), "bob", "bob-password")
        .await;
    let code = expect_code(&location, PUBLIC_REDIRECT);
    let tokens = token_request(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PUBLIC_REDIRECT),
            ("client_id", PUBLIC_ID),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let refresh_token = field(&tokens, "refresh_token");

    let response = http_client()
        .post(app.url("/revoke"))
        .form(&[("token", refresh_token.as_str()), ("client_id", PUBLIC_ID)])
        .send()
        .await
        .expect("POST /revoke");
    assert_eq!(response.status(), StatusCode::OK);

    let reply = token_request(
        &app,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", PUBLIC_ID),
        ],
    )
    .await;
    assert_eq!(reply.error(), Some("invalid_grant"), "{}", reply.body);
    let info = userinfo_with_header(&app, &field(&tokens, "access_token")).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{}", info.body);
}

#[tokio::test]
async fn introspection_describes_active_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let access = field(&tokens, "access_token");
    let claims = decode_jwt_payload(&access);

    // The client it was issued to, and a resource server, may ask about an access token.
    for client in [CONFIDENTIAL, RESOURCE_SERVER] {
        let reply = introspect(&app, client, &access, Some("access_token")).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = &reply.body;
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], OFFLINE_SCOPE);
        assert_eq!(body["client_id"], CONFIDENTIAL_ID);
        assert_eq!(body["username"], "bob");
        assert_eq!(body["iss"], app.address.as_str());
        assert_eq!(body["aud"], CONFIDENTIAL_ID);
        for claim in ["sub", "exp", "iat", "jti"] {
            assert_eq!(body[claim], claims[claim], "{claim}");
        }
    }

    // Another application learns nothing about it.
    assert_eq!(
        introspect(&app, POST_CLIENT, &access, Some("access_token")).await.body,
        inactive(),
        "a client that is not a resource server introspects only its own tokens"
    );

    let refresh_token = field(&tokens, "refresh_token");
    for hint in [
        None,
        Some("refresh_token"),
        Some("access_token"),
        Some("something_else"),
    ] {
        let reply = introspect(&app, CONFIDENTIAL, &refresh_token, hint).await;
        let body = &reply.body;
        assert_eq!(body["active"], true, "{hint:?}: {body}");
        assert!(body.get("token_type").is_none(), "not an access token type: {body}");
        assert_eq!(body["client_id"], CONFIDENTIAL_ID);
        assert_eq!(body["sub"], claims["sub"]);
        assert_eq!(body["username"], "bob");
        assert_eq!(body["scope"], OFFLINE_SCOPE);
        let lifetime = body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap();
        assert_eq!(lifetime, 14 * 24 * 3600, "idle expiry by default: {body}");
    }
    // A refresh token is described only to the client it belongs to.
    assert_eq!(
        introspect(&app, POST_CLIENT, &refresh_token, None).await.body,
        inactive()
    );
    // Introspection does not use it up.
    let reply = refresh(&app, CONFIDENTIAL, &refresh_token, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // But once used, it is no longer active.
    assert_eq!(
        introspect(&app, CONFIDENTIAL, &refresh_token, None).await.body,
        inactive()
    );
}

#[tokio::test]
async fn introspection_reports_anything_not_currently_valid_as_inactive() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let access = field(&tokens, "access_token");
    let id_token = field(&tokens, "id_token");

    // A forged signature, an ID token instead of an access token, garbage.
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    let forged = parts.join(".");
    for token in [
        forged.as_str(),
        id_token.as_str(),
        "garbage",
        "a.b.c",
        "gatehouse_pat_x",
    ] {
        let reply = introspect(&app, CONFIDENTIAL, token, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{token}: {}", reply.body);
        assert_eq!(reply.body, inactive(), "{token}");
    }

    // Expired.
    app.clock.advance(3_601);
    assert_eq!(introspect(&app, CONFIDENTIAL, &access, None).await.body, inactive());
}

#[tokio::test]
async fn introspection_requires_an_authenticated_confidential_client() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let access = field(&tokens, "access_token");

    let anonymous = post(&app, "/introspect", None, &[("token", &access)]).await;
    let wrong = post(
        &app,
        "/introspect",
        Some((CONFIDENTIAL_ID, "wrong")),
        &[("token", &access)],
    )
    .await;
    let public = post(
        &app,
        "/introspect",
        None,
        &[("token", &access), ("client_id", PUBLIC_ID)],
    )
    .await;
    for (case, reply) in [
        ("anonymous", anonymous),
        ("wrong secret", wrong),
        ("public client", public),
    ] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}: {}", reply.body);
        assert_eq!(reply.error(), Some("invalid_client"), "{case}");
        assert!(reply.body.get("active").is_none(), "{case}: {}", reply.body);
    }
    let missing = post(
        &app,
        "/introspect",
        CONFIDENTIAL,
        &[("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), Some("invalid_request"));

    let response = http_client()
        .get(app.url("/introspect?token=x"))
        .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
        .send()
        .await
        .expect("GET /introspect");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn introspection_reports_personal_access_tokens_by_their_own_state() {
    let app = spawn_app().await;
    let tokens = tokens_for(&app, "bob", "bob-password", "openid").await;
    let sub = decode_jwt_payload(&field(&tokens, "access_token"))["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let db = Database::connect(&app.database_url).await.expect("database");
    let now = app.clock.now_unix();
    let scopes = vec!["openid".to_string(), "profile".to_string()];
    // Restricted to an address no test runs from: introspection does not apply it.
    let allowed_ips = IpAllowlist::parse(&["10.0.0.0/8"]).unwrap();
    let (secret, pat) = create_personal_access_token(
        &db,
        NewPersonalAccessToken {
            user_id: &sub,
            name: "introspected",
            scopes: &scopes,
            allowed_ips: &allowed_ips,
            expires_at: now + 86_400,
        },
        now,
    )
    .await
    .expect("create a personal access token");

    let body = introspect(&app, RESOURCE_SERVER, &secret, None).await.body;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile");
    assert_eq!(body["sub"], sub.as_str());
    assert_eq!(body["username"], "bob");
    assert_eq!(body["exp"], now + 86_400);
    assert_eq!(body["iat"], now);
    assert!(body.get("client_id").is_none(), "{body}");
    assert_eq!(
        body["allowed_ips"],
        serde_json::json!(["10.0.0.0/8"]),
        "the allowlist, for the resource server to apply"
    );
    assert_eq!(
        introspect(&app, CONFIDENTIAL, &secret, None).await.body,
        inactive(),
        "only resource servers learn about personal access tokens"
    );

    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "UPDATE personal_access_tokens SET revoked_at = $1 WHERE id = $2",
            _ => "UPDATE personal_access_tokens SET revoked_at = ? WHERE id = ?",
        },
        [now.into(), pat.id.clone().into()],
    ))
    .await
    .expect("revoke the token");
    assert_eq!(introspect(&app, RESOURCE_SERVER, &secret, None).await.body, inactive());
}
