//! Client secrets at rest: a keyed hash (HMAC-SHA256 under a key derived from the master
//! key, bound to the client id), never the plain SHA-256 a stolen database could be
//! searched against; rows written by earlier versions (plain SHA-256) still authenticate
//! and are rewritten, at start for clients of the configuration file, at their next
//! successful authentication for the others.

use gatehouse::config::Secret;
use gatehouse::crypto::sha256_hex;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::support::oauth::*;
use crate::support::spawn_app::*;

const LEGACY_ID: &str = "legacy-app";
const LEGACY_SECRET: &str = "legacy-secret-0123456789abcdef";

async fn connect(database_url: &str) -> DatabaseConnection {
    Database::connect(database_url)
        .await
        .expect("connect to the test database")
}

async fn stored_verifier(db: &DatabaseConnection, client_id: &str) -> String {
    let row = db
        .query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => "SELECT secret_hash FROM clients WHERE client_id = $1",
                _ => "SELECT secret_hash FROM clients WHERE client_id = ?",
            },
            [client_id.into()],
        ))
        .await
        .expect("read clients")
        .expect("the client is stored");
    row.try_get::<Option<String>>("", "secret_hash")
        .expect("secret_hash")
        .expect("a confidential client has a verifier")
}

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute(Statement::from_string(db.get_database_backend(), sql.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

const BOGUS_CODE: &[(&str, &str)] = &[
    ("grant_type", "authorization_code"),
    ("code", "never-issued"),
    ("redirect_uri", CONFIDENTIAL_REDIRECT),
];

#[tokio::test]
async fn a_client_secret_is_stored_as_a_keyed_hash_not_plain_sha256() {
    let app = spawn_app().await;
    let db = connect(&app.database_url).await;
    let stored = stored_verifier(&db, CONFIDENTIAL_ID).await;
    assert_ne!(stored, sha256_hex(CONFIDENTIAL_SECRET.as_bytes()));
    assert!(!stored.contains(CONFIDENTIAL_SECRET));
    // Two clients with the same secret would not even share a verifier: it is bound to the id.
    assert_ne!(stored, stored_verifier(&db, POST_CLIENT_ID).await);

    let reply = token_request(&app, Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET)), BOGUS_CODE).await;
    assert_eq!(reply.error(), Some("invalid_grant"), "authenticated: {:?}", reply.body);
    let reply = token_request(
        &app,
        Some((CONFIDENTIAL_ID, "confidential-secret-012345678")),
        BOGUS_CODE,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
}

#[tokio::test]
async fn old_sha256_rows_keep_working_and_are_upgraded() {
    let master_key = gatehouse::crypto::hex_encode(&gatehouse::crypto::random_bytes(32));
    let key = master_key.clone();
    let first = spawn_app_with(|config| config.master_key = Some(Secret::new(key))).await;
    let db = connect(&first.database_url).await;
    // What an earlier version wrote: a client added with `clients add`, and a client of
    // the configuration file, both with the plain SHA-256 of their secret.
    let legacy_hash = sha256_hex(LEGACY_SECRET.as_bytes());
    execute(
        &db,
        &format!(
            "INSERT INTO clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
             token_endpoint_auth_method, first_party, require_mfa, grant_types, allowed_scopes, allowed_ips, \
             issue_refresh_tokens, id_token_signed_response_alg, source, created_at) VALUES ('{LEGACY_ID}', \
             'Legacy', '{legacy_hash}', '[\"{CONFIDENTIAL_REDIRECT}\"]', '[]', 'client_secret_basic', false, false, \
             '[\"authorization_code\",\"refresh_token\"]', '[]', '[]', false, 'RS256', 'cli', 0)"
        ),
    )
    .await;
    execute(
        &db,
        &format!(
            "UPDATE clients SET secret_hash = '{}' WHERE client_id = '{CONFIDENTIAL_ID}'",
            sha256_hex(CONFIDENTIAL_SECRET.as_bytes())
        ),
    )
    .await;

    // A new start: the configuration file knows its client's secret, so its row is
    // rewritten at once.
    let shared_database = first.database_url.clone();
    let second = spawn_app_with(|config| {
        config.master_key = Some(Secret::new(master_key));
        config.database.url = Some(Secret::new(shared_database));
    })
    .await;
    assert_ne!(
        stored_verifier(&db, CONFIDENTIAL_ID).await,
        sha256_hex(CONFIDENTIAL_SECRET.as_bytes()),
        "the configuration file's client is upgraded at start"
    );
    assert_eq!(
        stored_verifier(&db, LEGACY_ID).await,
        legacy_hash,
        "untouched until used"
    );

    // A wrong secret neither authenticates nor upgrades anything.
    let wrong = token_request(&second, Some((LEGACY_ID, "legacy-secret-0123456789abcdeX")), BOGUS_CODE).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{:?}", wrong.body);
    assert_eq!(stored_verifier(&db, LEGACY_ID).await, legacy_hash);

    let basic = Some((LEGACY_ID, LEGACY_SECRET));
    let reply = token_request(&second, basic, BOGUS_CODE).await;
    assert_eq!(
        reply.error(),
        Some("invalid_grant"),
        "the old row authenticates: {:?}",
        reply.body
    );
    let upgraded = stored_verifier(&db, LEGACY_ID).await;
    assert_ne!(upgraded, legacy_hash, "upgraded at the first successful authentication");

    // The upgraded verifier is the one in use now.
    let reply = token_request(&second, basic, BOGUS_CODE).await;
    assert_eq!(reply.error(), Some("invalid_grant"), "{:?}", reply.body);
    let wrong = token_request(&second, Some((LEGACY_ID, "legacy-secret-0123456789abcdeX")), BOGUS_CODE).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{:?}", wrong.body);
    assert_eq!(stored_verifier(&db, LEGACY_ID).await, upgraded, "written once");
}
