//! `gatehouse backup` (an online SQLite copy from which a new server serves the same
//! clients, keys and grants; the pg_dump recipe on PostgreSQL) and `migrate --check`.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;

use crate::support::browser::{query_param, Browser};
use crate::support::database::fresh_test_database_url;
use crate::support::gatehouse_process::{free_port, run, write_config, ServeProcess};
use crate::support::oauth::new_pkce;

const REDIRECT_URI: &str = "http://app.example/callback";
/// `migrate --check`'s exit code when migrations are pending.
const PENDING: i32 = 3;

async fn jwks_kids(server: &ServeProcess) -> BTreeSet<String> {
    let jwks: serde_json::Value = reqwest::get(server.url("/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn token(server: &ServeProcess, secret: &str, fields: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("app", Some(secret))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// alice signs in to `app` on `server`; returns the token response (with a refresh token).
async fn sign_in_alice(server: &ServeProcess, secret: &str) -> serde_json::Value {
    let pkce = new_pkce();
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile offline_access"),
        ("state", "s1"),
        ("nonce", "n1"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let browser = Browser::new();
    let callback = browser.authorize(url.as_str(), "alice", "alice-password").await;
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let (status, body) = token(
        server,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_clients_keys_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_test_database_url(dir.path()).await;
    // Redirects and the tokens' `iss` name the issuer: the restored server answers on the
    // same address, as a restore in place does (after the original stopped).
    let listen = format!("127.0.0.1:{}", free_port());
    let config = write_config(dir.path(), &listen, &database_url, "").await;
    let add = run(
        Some(&config),
        &[
            "clients",
            "add",
            "--id",
            "app",
            "--first-party",
            "--redirect-uri",
            REDIRECT_URI,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
        ],
    );
    assert!(add.ok(), "{}", add.stderr);
    let secret = add
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("client_secret:"))
        .expect("the secret is printed")
        .trim()
        .to_string();
    let master_key = std::fs::read_to_string(dir.path().join("data/master.key")).unwrap();
    let master_key = master_key.trim();

    if database_url.starts_with("postgres") {
        let backup = run(Some(&config), &["backup", dir.path().join("copy").to_str().unwrap()]);
        assert_eq!(backup.code, Some(1), "nothing was copied: {backup:?}");
        assert!(backup.stderr.contains("pg_dump --format=custom"), "{}", backup.stderr);
        assert!(backup.stderr.contains("pg_restore"), "{}", backup.stderr);
        assert!(backup.stdout.contains("master.key"), "{}", backup.stdout);
        assert!(!backup.stdout.contains(master_key) && !backup.stderr.contains(master_key));
        assert!(!dir.path().join("copy").exists());
        return;
    }

    let original = ServeProcess::start(&config);
    let signed_in = sign_in_alice(&original, &secret).await;
    let access_token = signed_in["access_token"].as_str().unwrap().to_string();
    let refresh_token = signed_in["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let kids = jwks_kids(&original).await;
    assert!(!kids.is_empty());

    // The server keeps serving, and writing (each sign-in stores a session, a consent, a
    // grant and audit events), while the copy is taken.
    let busy = {
        let base = original.url("");
        let secret = secret.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut answered = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while tokio::time::Instant::now() < deadline {
                let status = http
                    .post(format!("{base}/token"))
                    .basic_auth("app", Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, StatusCode::OK);
                answered += 1;
                if answered >= 40 {
                    break;
                }
            }
            answered
        })
    };
    let writer = sign_in_alice(&original, &secret);
    let copy = dir.path().join("backup.sqlite");
    let copy_text = copy.to_str().unwrap().to_string();
    let (backup, _) = tokio::join!(
        tokio::task::spawn_blocking(move || run(Some(&config), &["backup", &copy_text])),
        writer
    );
    let backup = backup.unwrap();
    assert!(backup.ok(), "{backup:?}");
    assert!(busy.await.unwrap() >= 40);
    assert!(
        backup.stdout.contains("back up the master key too"),
        "{}",
        backup.stdout
    );
    assert!(
        backup
            .stdout
            .contains(&dir.path().join("data/master.key").display().to_string()),
        "says where the key is: {}",
        backup.stdout
    );
    assert!(!backup.stdout.contains(master_key) && !backup.stderr.contains(master_key));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&copy).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the copy is private");

    // An existing file is never replaced.
    let before = std::fs::read(&copy).unwrap();
    let config = dir.path().join("gatehouse.toml");
    let again = run(Some(&config), &["backup", copy.to_str().unwrap()]);
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    assert_eq!(std::fs::read(&copy).unwrap(), before);

    drop(original);

    // Restore: the copy and the same master key, in a new place, for a new server.
    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(restored_dir.path().join("data")).unwrap();
    std::fs::copy(
        dir.path().join("data/master.key"),
        restored_dir.path().join("data/master.key"),
    )
    .unwrap();
    let restored_db = restored_dir.path().join("gatehouse.sqlite");
    std::fs::copy(&copy, &restored_db).unwrap();
    let restored_config = write_config(
        restored_dir.path(),
        &listen,
        &format!("sqlite://{}?mode=rw", restored_db.display()),
        "",
    )
    .await;
    let check = run(Some(&restored_config), &["migrate", "--check"]);
    assert!(check.ok(), "the copy is fully migrated: {check:?}");
    let restored = ServeProcess::start(&restored_config);

    assert_eq!(jwks_kids(&restored).await, kids, "the same signing keys");
    // The client and its secret (verified with a key derived from the master key).
    let (status, body) = token(&restored, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // alice's grant: her access token is honoured and her refresh token redeemed.
    let userinfo = reqwest::Client::new()
        .get(restored.url("/userinfo"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
    let claims: serde_json::Value = userinfo.json().await.unwrap();
    assert_eq!(claims["preferred_username"], "alice", "{claims}");
    let (status, body) = token(
        &restored,
        &secret,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn migrate_check_lists_pending_migrations_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_test_database_url(dir.path()).await;
    let config = write_config(dir.path(), "127.0.0.1:0", &database_url, "").await;

    for _ in 0..2 {
        let check = run(Some(&config), &["migrate", "--check"]);
        assert_eq!(check.code, Some(PENDING), "{check:?}");
        assert!(
            check.stdout.contains("m20261128_000001_create_foundation"),
            "{}",
            check.stdout
        );
        assert!(check.stderr.contains("pending"), "{}", check.stderr);
    }

    let migrate = run(Some(&config), &["migrate"]);
    assert!(migrate.ok(), "{migrate:?}");
    let check = run(Some(&config), &["migrate", "--check"]);
    assert_eq!(check.code, Some(0), "{check:?}");
    assert!(check.stdout.contains("up to date"), "{}", check.stdout);

    // A newer Gatehouse migrated the database: this version says so and will not start on
    // it (migrations are forward only; the README's upgrade notes rest on this).
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29991231_000001_from_the_future', 0)",
    )
    .await
    .unwrap();
    db.close().await.unwrap();
    let check = run(Some(&config), &["migrate", "--check"]);
    assert_eq!(check.code, Some(1), "{check:?}");
    assert!(
        check.stderr.contains("m29991231_000001_from_the_future") && check.stderr.contains("newer version"),
        "{}",
        check.stderr
    );
    let migrate = run(Some(&config), &["migrate"]);
    assert_eq!(migrate.code, Some(1), "{migrate:?}");
    assert!(
        migrate.stderr.contains("m29991231_000001_from_the_future"),
        "{}",
        migrate.stderr
    );
}
