//! Signing keys that rotate on their own (README, "Signing keys"): the next key is in the
//! JWKS before any token carries its kid, a token signed before a rotation still verifies
//! through the JWKS after it, a retired key leaves the JWKS after its retention, a revoked
//! key leaves at once and its tokens are refused, the JWKS and discovery answer 304 to
//! their ETag, and two instances on one database agree on the ring. Time is driven with
//! the test clock; every instance re-reads the ring each second (`keys.reload_interval`).

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::app::state::AppState;
use gatehouse::clock::ManualClock;
use gatehouse::config::{Config, Secret, SigningAlgorithm};
use gatehouse::Application;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;

use crate::support::audit::audit_rows_until;
use crate::support::browser::Browser;
use crate::support::jwt::decode_jwt_header;
use crate::support::oauth::*;
use crate::support::second_factor::sign_in_for_administration;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::*;

const FIRST_PARTY: Option<(&str, &str)> = Some((FIRST_PARTY_ID, FIRST_PARTY_SECRET));
/// Long enough that a test never sees a second rotation it did not ask for.
const ROTATION_PERIOD: i64 = 100_000;
const JWKS_CACHE_SECONDS: i64 = 60;
/// How long an instance may take to follow a change (the reload interval is 1 s).
const PROPAGATION_LIMIT: Duration = Duration::from_secs(8);

/// The schedule under test, for the RS256 ring alone: these tests count keys and follow
/// one signing key; tests/api/signing_algorithms.rs covers the PS256 and ES256 rings.
fn fast_schedule(config: &mut Config) {
    config.keys.algorithms = vec![SigningAlgorithm::Rs256];
    config.keys.rotation_period = ROTATION_PERIOD;
    config.keys.jwks_cache_seconds = JWKS_CACHE_SECONDS;
    config.keys.reload_interval = 1;
}

/// Seconds a retired key stays published with the default token lifetimes.
fn retention(config: &Config) -> i64 {
    config.lifetimes.id_token.max(config.lifetimes.access_token) + JWKS_CACHE_SECONDS + 1
}

struct Tokens {
    access_token: String,
    id_token: String,
}

fn kid_of(token: &str) -> String {
    decode_jwt_header(token)["kid"].as_str().expect("kid").to_string()
}

async fn tokens_for(app: &TestApp, browser: &Browser) -> Tokens {
    let request = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT).set("scope", "openid profile");
    let location = browser.authorize(&request.url(app), "alice", "alice-password").await;
    let code = expect_code(&location, FIRST_PARTY_REDIRECT);
    let reply = redeem_code(app, FIRST_PARTY, &code, FIRST_PARTY_REDIRECT, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let tokens = Tokens {
        access_token: reply.body["access_token"].as_str().expect("access token").to_string(),
        id_token: reply.body["id_token"].as_str().expect("ID token").to_string(),
    };
    assert_eq!(kid_of(&tokens.access_token), kid_of(&tokens.id_token));
    tokens
}

async fn jwks_at(base: &str) -> (String, String) {
    let response = http_client()
        .get(format!("{base}/jwks.json"))
        .send()
        .await
        .expect("GET /jwks.json");
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .expect("ETag")
        .to_string();
    (response.text().await.expect("JWKS body"), etag)
}

fn kids(jwks: &str) -> Vec<String> {
    let document: Value = serde_json::from_str(jwks).expect("JWKS JSON");
    document["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// Polls `base`'s JWKS until `done` holds; fails after the propagation limit.
async fn wait_for_jwks(base: &str, what: &str, done: impl Fn(&[String]) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (jwks, _) = jwks_at(base).await;
        if done(&kids(&jwks)) {
            return jwks;
        }
        assert!(
            started.elapsed() < PROPAGATION_LIMIT,
            "{what}: JWKS still {:?}",
            kids(&jwks)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Verifies `token` the way a relying party does: with the key the JWKS names by `kid`.
fn verify_with_jwks(app: &TestApp, token: &str, jwks: &str) -> Result<Value, String> {
    let set: JwkSet = serde_json::from_str(jwks).map_err(|error| error.to_string())?;
    let kid = kid_of(token);
    let jwk = set.find(&kid).ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|error| error.to_string())?;
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.address.as_str()]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|error| error.to_string())
}

async fn statuses(database_url: &str) -> Vec<(String, String)> {
    let db = Database::connect(database_url)
        .await
        .expect("connect to the test database");
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT kid, status FROM signing_keys ORDER BY kid",
        ))
        .await
        .expect("read signing_keys");
    rows.iter()
        .map(|row| {
            (
                row.try_get::<String>("", "kid").expect("kid"),
                row.try_get::<String>("", "status").expect("status"),
            )
        })
        .collect()
}

fn count(rows: &[(String, String)], status: &str) -> usize {
    rows.iter().filter(|(_, s)| s == status).count()
}

#[tokio::test]
async fn keys_are_published_ahead_survive_a_rotation_and_leave_after_their_retention() {
    let app = spawn_app_with(fast_schedule).await;
    let browser = Browser::new();
    let (jwks, _) = jwks_at(&app.address).await;
    let published = kids(&jwks);
    assert_eq!(published.len(), 2, "the signing key and the next key: {published:?}");

    let first = published[0].clone();
    let next = published[1].clone();
    assert_ne!(next, first);

    // Shortly before the period is over, a token is signed with the first key.
    app.clock.advance(ROTATION_PERIOD - 100);
    let before = tokens_for(&app, &browser).await;
    assert_eq!(kid_of(&before.id_token), first, "the signing key is listed first");
    verify_with_jwks(&app, &before.id_token, &jwks).expect("verifies before the rotation");

    // The period is over: the next key (published from the start) takes over.
    app.clock.advance(110);
    let jwks = wait_for_jwks(&app.address, "rotation", |kids| kids.len() == 3 && kids[0] == next).await;
    let after = tokens_for(&app, &browser).await;
    assert_eq!(kid_of(&after.id_token), next, "the key published ahead signs now");
    assert!(kids(&jwks).contains(&first), "the retired key is still published");

    // A token signed before the rotation still verifies through the JWKS, and userinfo
    // still takes its access token.
    verify_with_jwks(&app, &before.id_token, &jwks).expect("the old ID token verifies after the rotation");
    verify_with_jwks(&app, &after.id_token, &jwks).expect("the new ID token verifies");
    let reply = userinfo_with_header(&app, &before.access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // After its retention the retired key leaves the JWKS; the others stay.
    let config = Config::default();
    app.clock.advance(retention(&config) + 5);
    let jwks = wait_for_jwks(&app.address, "retention", |kids| !kids.contains(&first)).await;
    let remaining = kids(&jwks);
    assert_eq!(remaining.len(), 2, "{remaining:?}");
    assert_eq!(remaining[0], next);
    let rows = statuses(&app.database_url).await;
    assert!(!rows.iter().any(|(kid, _)| *kid == first), "{rows:?}");
}

#[tokio::test]
async fn jwks_and_discovery_are_cacheable_and_answer_304_to_their_etag() {
    let app = spawn_app_with(fast_schedule).await;
    for (path, max_age) in [
        ("/jwks.json", JWKS_CACHE_SECONDS),
        ("/.well-known/openid-configuration", 300),
    ] {
        let response = http_client().get(app.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let cache = response.headers()["cache-control"].to_str().unwrap().to_string();
        assert!(
            cache.contains("public") && cache.contains(&format!("max-age={max_age}")),
            "{path}: {cache}"
        );
        let etag = response.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{path}: {etag}");

        let revalidated = http_client()
            .get(app.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .expect("GET with If-None-Match");
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(revalidated.headers()["etag"].to_str().unwrap(), etag);
        assert!(revalidated.text().await.unwrap().is_empty());

        let stale = http_client()
            .get(app.url(path))
            .header("If-None-Match", "\"something-else\"")
            .send()
            .await
            .expect("GET with a stale If-None-Match");
        assert_eq!(stale.status(), StatusCode::OK, "{path}");
    }

    // A rotation changes the JWKS, so its ETag.
    let (_, before) = jwks_at(&app.address).await;
    app.clock.advance(ROTATION_PERIOD + 10);
    wait_for_jwks(&app.address, "rotation", |kids| kids.len() == 3).await;
    let (_, after) = jwks_at(&app.address).await;
    assert_ne!(before, after);
}

#[tokio::test]
async fn an_administrator_revokes_a_key_and_its_tokens_stop_working_at_once() {
    let app = spawn_app_with(|config| {
        fast_schedule(config);
        config.admin.groups = vec!["admins".into()];
    })
    .await;
    let browser = Browser::new();
    sign_in_for_administration(&app, &browser, "alice", "alice-password").await;
    let session = JsonReply::read(browser.http.get(app.url("/admin/api/session")).send().await.unwrap()).await;
    let csrf = session.body["csrf_token"].as_str().expect("csrf_token").to_string();

    let tokens = tokens_for(&app, &browser).await;
    let first = kid_of(&tokens.access_token);
    assert_eq!(
        userinfo_with_header(&app, &tokens.access_token).await.status,
        StatusCode::OK
    );

    // Without the CSRF header: refused, nothing revoked.
    let refused = browser
        .http
        .post(app.url(&format!("/admin/api/keys/{first}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(kids(&jwks_at(&app.address).await.0).contains(&first));

    let revoke = |kid: String| {
        let request = browser
            .http
            .post(app.url(&format!("/admin/api/keys/{kid}/revoke")))
            .header("X-CSRF-Token", &csrf);
        async move { JsonReply::read(request.send().await.expect("revoke")).await }
    };
    let reply = revoke(first.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["previous_status"], "current");
    let promoted = reply.body["promoted"].as_str().expect("a new signing key").to_string();

    // At once, on this instance: out of the JWKS, its access token refused.
    let jwks = kids(&jwks_at(&app.address).await.0);
    assert!(!jwks.contains(&first), "{jwks:?}");
    assert_eq!(jwks[0], promoted);
    let reply = userinfo_with_header(&app, &tokens.access_token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.error(), Some("invalid_token"));
    let fresh = tokens_for(&app, &browser).await;
    assert_eq!(kid_of(&fresh.access_token), promoted);
    assert_eq!(
        userinfo_with_header(&app, &fresh.access_token).await.status,
        StatusCode::OK
    );

    // The listing shows the revoked key; an unknown kid is a 404.
    let listing = JsonReply::read(browser.http.get(app.url("/admin/api/keys")).send().await.unwrap()).await;
    assert_eq!(listing.status, StatusCode::OK);
    let keys = listing.body["keys"].as_array().expect("keys");
    let revoked = keys
        .iter()
        .find(|key| key["kid"] == first.as_str())
        .expect("the revoked key");
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_i64());
    let signing: Vec<&Value> = keys.iter().filter(|key| key["signing"] == true).collect();
    assert_eq!(signing.len(), 1);
    assert_eq!(signing[0]["kid"], promoted.as_str());
    assert_eq!(revoke("no-such-key".to_string()).await.status, StatusCode::NOT_FOUND);

    // Rotating by hand: the next key signs at once.
    let reply = JsonReply::read(
        browser
            .http
            .post(app.url("/admin/api/keys/rotate"))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // One algorithm enabled: one key promoted, listed per algorithm too.
    assert_eq!(
        reply.body["promoted"].as_array().map(Vec::len),
        Some(1),
        "{}",
        reply.body
    );
    let now_signing = reply.body["promoted"][0].as_str().expect("promoted").to_string();
    assert_eq!(reply.body["rotations"][0]["algorithm"], "RS256");
    assert_eq!(reply.body["rotations"][0]["promoted"], now_signing.as_str());
    assert_eq!(reply.body["retired"], serde_json::json!([promoted]));
    assert_eq!(kid_of(&tokens_for(&app, &browser).await.id_token), now_signing);

    // Both changes are in the audit trail (written in the background).
    let kinds: Vec<(String, String)> = audit_rows_until(&app.database_url, |rows| {
        rows.iter().filter(|row| row.kind.starts_with("keys.")).count() >= 2
    })
    .await
    .into_iter()
    .filter(|row| row.kind.starts_with("keys."))
    .map(|row| (row.kind, row.detail))
    .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0].0, "keys.revoked");
    assert!(kinds[0].1.contains(&first), "{kinds:?}");
    assert_eq!(kinds[1].0, "keys.rotated");
    assert!(kinds[1].1.contains(&now_signing), "{kinds:?}");
}

/// A second instance of the same deployment (same database, same master key).
async fn second_instance(database_url: &str, master_key: &str) -> (AppState, Arc<ManualClock>, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let mut config = Config {
        issuer: format!("http://127.0.0.1:{port}"),
        listen: format!("127.0.0.1:{port}"),
        data_dir: data_dir.path().to_path_buf(),
        master_key: Some(Secret::new(master_key)),
        ldap: TestSlapd::shared().await.ldap_config(),
        ..Config::default()
    };
    fast_schedule(&mut config);
    config.database.url = Some(Secret::new(database_url));
    config.database.max_connections = 5;
    let clock = Arc::new(ManualClock::new());
    let app = Application::build_on_listener(config, clock.clone(), listener)
        .await
        .expect("build the second instance");
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    (state, clock, data_dir)
}

#[tokio::test]
async fn two_instances_on_one_database_rotate_once_and_agree_on_the_ring() {
    let mut master_key = String::new();
    let app = spawn_app_with(|config| {
        fast_schedule(config);
        master_key = config.master_key.as_ref().expect("a master key").expose().to_string();
    })
    .await;
    let (second, second_clock, _second_dir) = second_instance(&app.database_url, &master_key).await;
    let second_base = second.issuer().to_string();

    // The second instance found the ring the first made: same keys, same document.
    let (first_jwks, first_etag) = jwks_at(&app.address).await;
    let (second_jwks, second_etag) = jwks_at(&second_base).await;
    assert_eq!(first_jwks, second_jwks);
    assert_eq!(first_etag, second_etag);
    let rows = statuses(&app.database_url).await;
    assert_eq!((count(&rows, "current"), count(&rows, "next")), (1, 1), "{rows:?}");
    let next = rows.iter().find(|(_, status)| status == "next").unwrap().0.clone();

    // Both clocks pass the period: both instances run the schedule, one rotates.
    app.clock.advance(ROTATION_PERIOD + 10);
    second_clock.advance(ROTATION_PERIOD + 10);
    let rotated = |kids: &[String]| kids.len() == 3 && kids[0] == next;
    let first_jwks = wait_for_jwks(&app.address, "first instance", rotated).await;
    let second_jwks = wait_for_jwks(&second_base, "second instance", rotated).await;
    assert_eq!(
        kids(&first_jwks).into_iter().collect::<BTreeSet<_>>(),
        kids(&second_jwks).into_iter().collect::<BTreeSet<_>>()
    );
    let rows = statuses(&app.database_url).await;
    assert_eq!(count(&rows, "current"), 1, "{rows:?}");
    assert_eq!(count(&rows, "retired"), 1, "{rows:?}");
    assert!(count(&rows, "next") >= 1, "{rows:?}");
    assert_eq!(second.keys.signer().kid(), next);

    // Tokens from the first instance carry the new kid, which the second publishes too.
    let tokens = tokens_for(&app, &Browser::new()).await;
    assert_eq!(kid_of(&tokens.id_token), next);
    verify_with_jwks(&app, &tokens.id_token, &second_jwks).expect("the second instance's JWKS verifies it");

    // A key revoked through one instance leaves the other's JWKS within the reload delay.
    let retired = rows.iter().find(|(_, status)| status == "retired").unwrap().0.clone();
    let policy = gatehouse::keys::RotationPolicy::from_config(&second.config);
    gatehouse::keys::revoke_signing_key(
        &second.db,
        &second.master_key,
        &second.keys,
        &retired,
        second.now(),
        &policy,
    )
    .await
    .expect("revoke through the second instance");
    assert!(!kids(&jwks_at(&second_base).await.0).contains(&retired));
    wait_for_jwks(&app.address, "revocation elsewhere", |kids| !kids.contains(&retired)).await;
}
