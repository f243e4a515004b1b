//! The client_credentials grant: confidential clients allowed it get an access token for
//! themselves, with scopes from their allowlist, and nothing is written to the database.

use gatehouse::config::{ClientConfig, GrantType, Secret};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::refresh_tokens::field;
use crate::revocation_and_introspection::introspect;
use crate::support::audit::audit_rows_until;
use crate::support::jwt::{decode_jwt_header, decode_jwt_payload};
use crate::support::oauth::*;
use crate::support::spawn_app::*;

pub(crate) const SERVICE_ID: &str = "reporting-service";
pub(crate) const SERVICE_SECRET: &str = "reporting-service-secret-0123456789";
const SERVICE: Option<(&str, &str)> = Some((SERVICE_ID, SERVICE_SECRET));

pub(crate) fn service_client(allowed_ips: &[&str]) -> ClientConfig {
    ClientConfig {
        client_id: SERVICE_ID.into(),
        secret: Some(Secret::new(SERVICE_SECRET)),
        redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        allowed_scopes: vec!["reports:read".into(), "reports:write".into()],
        allowed_ips: allowed_ips.iter().map(|ip| ip.to_string()).collect(),
        ..ClientConfig::default()
    }
}

async fn client_token(app: &TestApp, basic: Option<(&str, &str)>, scope: Option<&str>) -> JsonReply {
    let mut fields = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    token_request(app, basic, &fields).await
}

#[tokio::test]
async fn a_service_client_gets_an_access_token_for_itself() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&[]))).await;
    let reply = client_token(&app, SERVICE, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 3600);
    assert_eq!(
        reply.body["scope"], "reports:read reports:write",
        "all allowed scopes by default"
    );
    assert!(reply.body.get("refresh_token").is_none(), "{}", reply.body);
    assert!(reply.body.get("id_token").is_none(), "{}", reply.body);

    let token = field(&reply, "access_token");
    assert_eq!(decode_jwt_header(&token)["typ"], "at+jwt");
    let claims = decode_jwt_payload(&token);
    assert_eq!(claims["sub"], SERVICE_ID);
    assert_eq!(claims["client_id"], SERVICE_ID);
    assert_eq!(claims["aud"], SERVICE_ID);
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["scope"], "reports:read reports:write");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    assert!(claims.get("gid").is_none(), "no grant behind it: {claims}");

    // A resource server can check it, and sees no person behind it.
    let status = introspect(&app, RESOURCE_SERVER, &token, None).await;
    assert_eq!(status.body["active"], true, "{}", status.body);
    assert_eq!(status.body["client_id"], SERVICE_ID);
    assert_eq!(status.body["sub"], SERVICE_ID);
    assert_eq!(status.body["scope"], "reports:read reports:write");
    assert!(status.body.get("username").is_none(), "{}", status.body);

    // Userinfo has nobody to describe: a client acting as itself is refused even with an
    // `openid` scope (here the client is allowed one on purpose).
    let openid_service = spawn_app_with(|config| {
        let mut client = service_client(&[]);
        client.allowed_scopes.push("openid".into());
        config.clients.push(client);
    })
    .await;
    let openid_token = field(
        &client_token(&openid_service, SERVICE, Some("openid")).await,
        "access_token",
    );
    let userinfo = userinfo_with_header(&openid_service, &openid_token).await;
    assert_eq!(userinfo.status, StatusCode::UNAUTHORIZED, "{}", userinfo.body);
    assert_eq!(userinfo.error(), Some("invalid_token"));

    // The client can revoke it.
    let response = http_client()
        .post(app.url("/revoke"))
        .basic_auth(SERVICE_ID, Some(SERVICE_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("POST /revoke");
    assert_eq!(response.status(), StatusCode::OK);
    let status = introspect(&app, RESOURCE_SERVER, &token, None).await;
    assert_eq!(status.body, serde_json::json!({ "active": false }));
}

#[tokio::test]
async fn client_credentials_scopes_must_be_allowed_to_the_client() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&[]))).await;
    let reply = client_token(&app, SERVICE, Some("reports:read")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["scope"], "reports:read");
    assert_eq!(
        decode_jwt_payload(&field(&reply, "access_token"))["scope"],
        "reports:read"
    );

    let reply = client_token(&app, SERVICE, Some("reports:write reports:read reports:write")).await;
    assert_eq!(reply.body["scope"], "reports:write reports:read", "{}", reply.body);

    for refused in ["reports:read reports:delete", "openid", "admin", "reports:\"read\""] {
        let reply = client_token(&app, SERVICE, Some(refused)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{refused}: {}", reply.body);
        assert_eq!(reply.error(), Some("invalid_scope"), "{refused}");
        assert!(reply.body.get("access_token").is_none());
    }
}

#[tokio::test]
async fn only_clients_allowed_the_grant_may_use_it() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&[]))).await;
    // A sign-in client, confidential but not allowed client_credentials.
    let reply = client_token(&app, Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET)), None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error(), Some("unauthorized_client"));
    // A public client.
    let reply = token_request(
        &app,
        None,
        &[("grant_type", "client_credentials"), ("client_id", PUBLIC_ID)],
    )
    .await;
    assert_eq!(reply.error(), Some("unauthorized_client"), "{}", reply.body);
    // The service client may not use the grants it was not given.
    for grant_type in ["authorization_code", "refresh_token"] {
        let reply = token_request(
            &app,
            SERVICE,
            &[("grant_type", grant_type), ("code", "x"), ("refresh_token", "x")],
        )
        .await;
        assert_eq!(
            reply.error(),
            Some("unauthorized_client"),
            "{grant_type}: {}",
            reply.body
        );
    }
    let reply = token_request(&app, SERVICE, &[("grant_type", "password")]).await;
    assert_eq!(reply.error(), Some("unsupported_grant_type"), "{}", reply.body);
    // And it must authenticate.
    let reply = client_token(&app, Some((SERVICE_ID, "wrong-secret")), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), Some("invalid_client"));
}

async fn count_rows(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test]
async fn client_credentials_tokens_write_nothing_to_the_database() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&[]))).await;
    let db = Database::connect(&app.database_url).await.expect("database");
    // Warm up: the first request of a client may read it from the database.
    let first = client_token(&app, SERVICE, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);

    let tables = [
        "grants",
        "refresh_tokens",
        "revoked_access_tokens",
        "authorization_codes",
        "users",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count_rows(&db, table).await);
    }
    let audit_before = audit_rows_until(&app.database_url, |_| true).await.len();

    let mut last = String::new();
    for scope in [None, Some("reports:read"), Some("reports:write"), None] {
        let reply = client_token(&app, SERVICE, scope).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        last = field(&reply, "access_token");
    }
    for (table, count) in tables.iter().zip(&before) {
        assert_eq!(count_rows(&db, table).await, *count, "{table} changed");
    }

    // Audit events are written in order by one writer: once the revocation's event is
    // there, anything the token requests recorded would be there too.
    let response = http_client()
        .post(app.url("/revoke"))
        .basic_auth(SERVICE_ID, Some(SERVICE_SECRET))
        .form(&[("token", last.as_str())])
        .send()
        .await
        .expect("POST /revoke");
    assert_eq!(response.status(), StatusCode::OK);
    let rows = audit_rows_until(&app.database_url, |rows| rows.iter().any(|r| r.kind == "token.revoked")).await;
    let new: Vec<&str> = rows[audit_before..].iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(new, vec!["token.revoked"], "only the revocation was audited");
}
