//! Refresh tokens: issued for `offline_access` (or to clients set up for them), rotated on
//! every use, the whole family revoked when a used one comes back, idle and absolute
//! expiry, scope narrowing, and a fresh look at the person in the directory each time.

use std::collections::HashSet;

use reqwest::StatusCode;

use crate::revocation_and_introspection::introspect;
use crate::support::audit::audit_rows_until;
use crate::support::browser::Browser;
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::*;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::*;

pub(crate) const CONFIDENTIAL: Option<(&str, &str)> = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));
pub(crate) const OFFLINE_SCOPE: &str = "openid profile offline_access";

/// Signs `username` in with a fresh browser for the confidential client and redeems the
/// code; returns the token response.
pub(crate) async fn tokens_for(app: &TestApp, username: &str, password: &str, scope: &str) -> JsonReply {
    tokens_for_client(
        app,
        CONFIDENTIAL_ID,
        CONFIDENTIAL_SECRET,
        CONFIDENTIAL_REDIRECT,
        username,
        password,
        scope,
    )
    .await
}

pub(crate) async fn tokens_for_client(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
    username: &str,
    password: &str,
    scope: &str,
) -> JsonReply {
    let request = AuthorizeRequest::new(client_id, redirect_uri)
        .set("scope", scope)
        .set("nonce", "nonce-of-the-sign-in");
    let location = Browser::new().authorize(&request.url(app), username, password).await;
    let code = expect_code(&location, redirect_uri);
    let reply = redeem_code(app, Some((client_id, secret)), &code, redirect_uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

pub(crate) fn field(reply: &JsonReply, name: &str) -> String {
    reply.body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {}", reply.body))
        .to_string()
}

pub(crate) async fn refresh(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    refresh_token: &str,
    scope: Option<&str>,
) -> JsonReply {
    let mut fields = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    token_request(app, basic, &fields).await
}

fn assert_error(reply: &JsonReply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error(), Some(error), "{}", reply.body);
    assert!(reply.body.get("access_token").is_none(), "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn offline_access_gives_a_refresh_token_that_rotates_on_every_use() {
    let app = spawn_app().await;
    let without = tokens_for(&app, "bob", "bob-password", "openid profile").await;
    assert!(
        without.body.get("refresh_token").is_none(),
        "no refresh token without offline_access: {}",
        without.body
    );

    let first = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    assert_eq!(first.body["scope"], OFFLINE_SCOPE);
    let first_refresh = field(&first, "refresh_token");
    let first_access = decode_jwt_payload(&field(&first, "access_token"));
    let first_id = decode_jwt_payload(&field(&first, "id_token"));
    assert_eq!(first_id["nonce"], "nonce-of-the-sign-in");

    app.clock.advance(600);
    let second = refresh(&app, CONFIDENTIAL, &first_refresh, None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.header("cache-control"), Some("no-store"));
    assert_eq!(second.body["token_type"], "Bearer");
    assert_eq!(second.body["expires_in"], 3600);
    assert_eq!(second.body["scope"], OFFLINE_SCOPE);
    let second_refresh = field(&second, "refresh_token");
    assert_ne!(second_refresh, first_refresh, "a new refresh token each time");

    let access = decode_jwt_payload(&field(&second, "access_token"));
    assert_eq!(access["gid"], first_access["gid"], "same family");
    assert_ne!(access["jti"], first_access["jti"]);
    assert_eq!(access["sub"], first_access["sub"]);
    // The test clock runs with real time on top of what the test adds: a second may pass.
    let issued_later = |later: &serde_json::Value, earlier: &serde_json::Value| {
        let delta = later["iat"].as_i64().unwrap() - earlier["iat"].as_i64().unwrap();
        (600..=605).contains(&delta)
    };
    assert!(issued_later(&access, &first_access), "{access} / {first_access}");

    // OpenID Connect Core 12.2: same subject, audience and sign-in facts; no nonce.
    let id = decode_jwt_payload(&field(&second, "id_token"));
    for claim in [
        "iss",
        "sub",
        "aud",
        "auth_time",
        "amr",
        "acr",
        "sid",
        "preferred_username",
    ] {
        assert_eq!(id[claim], first_id[claim], "{claim}");
    }
    assert!(id.get("nonce").is_none(), "no nonce in a refreshed ID token: {id}");
    assert!(issued_later(&id, &first_id), "{id} / {first_id}");

    let info = userinfo_with_header(&app, &field(&second, "access_token")).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.body["preferred_username"], "bob");

    // The new refresh token works in turn; the first one is spent.
    let third = refresh(&app, CONFIDENTIAL, &second_refresh, None).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let old_refresh = field(&first, "refresh_token");
    let second = refresh(&app, CONFIDENTIAL, &old_refresh, None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let new_refresh = field(&second, "refresh_token");
    let new_access = field(&second, "access_token");
    assert_eq!(
        introspect(&app, CONFIDENTIAL, &new_access, None).await.body["active"],
        true
    );

    // The old token again: someone else has a copy.
    let reused = refresh(&app, CONFIDENTIAL, &old_refresh, None).await;
    assert_error(&reused, StatusCode::BAD_REQUEST, "invalid_grant");

    let after = refresh(&app, CONFIDENTIAL, &new_refresh, None).await;
    assert_error(&after, StatusCode::BAD_REQUEST, "invalid_grant");
    for token in [field(&first, "access_token"), new_access.clone()] {
        let info = userinfo_with_header(&app, &token).await;
        assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{}", info.body);
        let status = introspect(&app, CONFIDENTIAL, &token, None).await;
        assert_eq!(status.body, serde_json::json!({ "active": false }));
    }
    let status = introspect(&app, CONFIDENTIAL, &new_refresh, Some("refresh_token")).await;
    assert_eq!(status.body, serde_json::json!({ "active": false }));

    let sub = decode_jwt_payload(&new_access)["sub"].as_str().unwrap().to_string();
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|r| r.kind == "refresh_token.reused")
    })
    .await;
    let row = rows
        .iter()
        .find(|r| r.kind == "refresh_token.reused")
        .expect("the reuse is audited");
    assert_eq!(row.client_id.as_deref(), Some(CONFIDENTIAL_ID));
    assert_eq!(row.actor.as_deref(), Some(sub.as_str()));
    assert!(!row.detail.contains(&old_refresh), "no token in the audit detail");

    // Another sign-in starts an unrelated family, which works.
    let fresh = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let reply = refresh(&app, CONFIDENTIAL, &field(&fresh, "refresh_token"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn concurrent_exchanges_of_one_refresh_token_let_at_most_one_win() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let token = field(&first, "refresh_token");
    let (a, b) = tokio::join!(
        refresh(&app, CONFIDENTIAL, &token, None),
        refresh(&app, CONFIDENTIAL, &token, None)
    );
    let winners: Vec<&JsonReply> = [&a, &b].into_iter().filter(|r| r.status == StatusCode::OK).collect();
    assert!(winners.len() <= 1, "both exchanges won: {} / {}", a.body, b.body);
    assert!(
        [&a, &b].iter().any(|r| r.error() == Some("invalid_grant")),
        "{} / {}",
        a.body,
        b.body
    );
    // Either way the family is over: the loser's attempt counts as reuse.
    if let Some(winner) = winners.first() {
        let next = refresh(&app, CONFIDENTIAL, &field(winner, "refresh_token"), None).await;
        assert_error(&next, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

#[tokio::test]
async fn refresh_tokens_expire_when_idle_and_at_the_end_of_their_family() {
    let app = spawn_app_with(|config| {
        config.lifetimes.refresh_token_idle = 1_000;
        config.lifetimes.refresh_token_absolute = 2_500;
    })
    .await;

    // Idle: unused for longer than refresh_token_idle.
    let idle = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    app.clock.advance(1_001);
    let reply = refresh(&app, CONFIDENTIAL, &field(&idle, "refresh_token"), None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");

    // Absolute: used often enough, but the family ends 2,500 s after the sign-in.
    let family = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let mut token = field(&family, "refresh_token");
    let mut last_expires_in = 0;
    for _ in 0..3 {
        app.clock.advance(800);
        let reply = refresh(&app, CONFIDENTIAL, &token, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        token = field(&reply, "refresh_token");
        last_expires_in = reply.body["expires_in"].as_i64().expect("expires_in");
        let access = decode_jwt_payload(&field(&reply, "access_token"));
        assert_eq!(
            access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
            last_expires_in,
            "expires_in tells the access token's real lifetime"
        );
    }
    // The access token of the last refresh does not outlive the family either.
    assert!((60..=100).contains(&last_expires_in), "{last_expires_in}");
    // 2,400 s in: the newest token's expiry is capped at the family's end, 100 s on (less
    // the real time the test has taken), not 1,000 s.
    let status = introspect(&app, CONFIDENTIAL, &token, Some("refresh_token")).await;
    assert_eq!(status.body["active"], true, "{}", status.body);
    let lifetime = status.body["exp"].as_i64().unwrap() - status.body["iat"].as_i64().unwrap();
    assert!((60..=100).contains(&lifetime), "{}", status.body);

    app.clock.advance(150);
    let reply = refresh(&app, CONFIDENTIAL, &token, None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let token = field(&first, "refresh_token");

    for widened in [
        "openid email",
        "openid made-up-scope",
        "openid profile offline_access groups",
    ] {
        let reply = refresh(&app, CONFIDENTIAL, &token, Some(widened)).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope");
    }

    // Refused requests did not use the token up.
    let narrowed = refresh(&app, CONFIDENTIAL, &token, Some("openid")).await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    assert_eq!(narrowed.body["scope"], "openid");
    assert_eq!(decode_jwt_payload(&field(&narrowed, "access_token"))["scope"], "openid");
    let id = decode_jwt_payload(&field(&narrowed, "id_token"));
    assert!(
        id.get("preferred_username").is_none(),
        "profile was not asked for: {id}"
    );

    // Without openid there is no ID token.
    let no_openid = refresh(&app, CONFIDENTIAL, &field(&narrowed, "refresh_token"), Some("profile")).await;
    assert_eq!(no_openid.status, StatusCode::OK, "{}", no_openid.body);
    assert_eq!(no_openid.body["scope"], "profile");
    assert!(no_openid.body.get("id_token").is_none(), "{}", no_openid.body);

    // The family keeps its scope (RFC 6749 section 6): the next refresh has it all again.
    let full = refresh(&app, CONFIDENTIAL, &field(&no_openid, "refresh_token"), None).await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.body);
    assert_eq!(full.body["scope"], OFFLINE_SCOPE);
}

#[tokio::test]
async fn a_refresh_token_is_refused_to_another_client_and_when_missing() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let token = field(&first, "refresh_token");

    let stolen = refresh(&app, None, &token, None).await;
    assert_error(&stolen, StatusCode::UNAUTHORIZED, "invalid_client");
    let other = token_request(
        &app,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", POST_CLIENT_ID),
            ("client_secret", POST_CLIENT_SECRET),
        ],
    )
    .await;
    assert_error(&other, StatusCode::BAD_REQUEST, "invalid_grant");
    let missing = token_request(&app, CONFIDENTIAL, &[("grant_type", "refresh_token")]).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");
    let unknown = refresh(&app, CONFIDENTIAL, "not-a-refresh-token", None).await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "invalid_grant");

    // None of that harmed the owner's token.
    let reply = refresh(&app, CONFIDENTIAL, &token, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn client_settings_decide_who_gets_refresh_tokens() {
    const ALWAYS_ID: &str = "always-refresh-app";
    const NEVER_ID: &str = "never-refresh-app";
    const SECRET: &str = "refresh-settings-secret-0123456789";
    let app = spawn_app_with(|config| {
        use gatehouse::config::{ClientConfig, GrantType, Secret};
        config.clients.push(ClientConfig {
            client_id: ALWAYS_ID.into(),
            secret: Some(Secret::new(SECRET)),
            redirect_uris: vec![CONFIDENTIAL_REDIRECT.into()],
            issue_refresh_tokens: true,
            ..ClientConfig::default()
        });
        config.clients.push(ClientConfig {
            client_id: NEVER_ID.into(),
            secret: Some(Secret::new(SECRET)),
            redirect_uris: vec![CONFIDENTIAL_REDIRECT.into()],
            grant_types: vec![GrantType::AuthorizationCode],
            ..ClientConfig::default()
        });
    })
    .await;

    let always = tokens_for_client(
        &app,
        ALWAYS_ID,
        SECRET,
        CONFIDENTIAL_REDIRECT,
        "bob",
        "bob-password",
        "openid",
    )
    .await;
    let token = field(&always, "refresh_token");
    let reply = refresh(&app, Some((ALWAYS_ID, SECRET)), &token, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let never = tokens_for_client(
        &app,
        NEVER_ID,
        SECRET,
        CONFIDENTIAL_REDIRECT,
        "bob",
        "bob-password",
        OFFLINE_SCOPE,
    )
    .await;
    assert!(never.body.get("refresh_token").is_none(), "{}", never.body);
    let reply = refresh(&app, Some((NEVER_ID, SECRET)), "whatever", None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unauthorized_client");
}

#[tokio::test]
async fn a_person_disabled_in_the_directory_can_no_longer_refresh() {
    let slapd = TestSlapd::start().await;
    let ldap = slapd.ldap_config();
    let app = spawn_app_with(|config| {
        config.ldap = ldap;
        // Sessions would not look again for a day; refreshes look every time.
        config.ldap.recheck_interval = 86_400;
    })
    .await;
    let carol = tokens_for(&app, "carol", "carol-password", OFFLINE_SCOPE).await;
    let bob = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;

    let mut admin = slapd.admin_connection().await;
    admin
        .modify(
            &format!("uid=carol,{}", slapd.people_dn),
            vec![ldap3::Mod::Replace(
                "pwdAccountLockedTime",
                HashSet::from(["000001010000Z"]),
            )],
        )
        .await
        .unwrap()
        .success()
        .unwrap();

    let reply = refresh(&app, CONFIDENTIAL, &field(&carol, "refresh_token"), None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
    // Her family is over: the access token she had is dead too.
    let info = userinfo_with_header(&app, &field(&carol, "access_token")).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{}", info.body);

    let reply = refresh(&app, CONFIDENTIAL, &field(&bob, "refresh_token"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "everyone else refreshes: {}", reply.body);
}

#[tokio::test]
async fn a_directory_outage_answers_temporarily_unavailable_and_keeps_the_token() {
    let mut slapd = TestSlapd::start().await;
    let mut ldap = slapd.ldap_config();
    ldap.connect_timeout = 1;
    ldap.operation_timeout = 1;
    let app = spawn_app_with(|config| config.ldap = ldap).await;
    let first = tokens_for(&app, "bob", "bob-password", OFFLINE_SCOPE).await;
    let token = field(&first, "refresh_token");

    slapd.stop();
    let reply = refresh(&app, CONFIDENTIAL, &token, None).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");

    slapd.restart().await;
    let reply = refresh(&app, CONFIDENTIAL, &token, None).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the token survived the outage: {}",
        reply.body
    );
}
