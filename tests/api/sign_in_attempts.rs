//! Limits count people, not spellings: failed passwords count against the directory entry
//! a name finds (OpenLDAP matches `ｂｏｂ`, `ⓑob` and `𝐛ob` to `bob`), an attempt is
//! reserved before the password reaches the directory (parallel guesses cannot pass the
//! limit), and a name that matches nobody is counted by its folded form without ever
//! being stored or recorded as typed.

use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::audit::audit_rows_until;
use crate::support::browser::Browser;
use crate::support::spawn_app::{spawn_app_with, TestApp};

const INVALID: &str = "Invalid username or password.";

fn limited(limit: u32) -> impl FnOnce(&mut gatehouse::config::Config) {
    move |config| {
        config.rate_limits.login_failures_per_username = limit;
        config.rate_limits.login_failures_window_seconds = 900;
    }
}

async fn attempt(app: &TestApp, username: &str, password: &str) -> (StatusCode, String) {
    let (status, _, body) = Browser::new()
        .submit_login(&app.url("/login"), username, password)
        .await;
    (status, body)
}

/// Every text value stored in the database, for looking for what must not be there.
async fn stored_text(app: &TestApp) -> String {
    let db = Database::connect(&app.database_url).await.expect("database");
    let backend = db.get_database_backend();
    let mut all = String::new();
    for table in ["login_failures", "audit_events", "users"] {
        let rows = db
            .query_all(Statement::from_string(backend, format!("SELECT * FROM {table}")))
            .await
            .expect("read the table");
        for row in rows {
            for column in row.column_names() {
                if let Ok(Some(text)) = row.try_get::<Option<String>>("", &column) {
                    all.push_str(&text);
                    all.push('\n');
                }
            }
        }
    }
    all
}

#[tokio::test]
async fn look_alike_spellings_of_one_person_share_one_budget() {
    let app = spawn_app_with(limited(3)).await;
    for spelling in ["bob", "ｂｏｂ", "𝐛ob"] {
        let (status, body) = attempt(&app, spelling, "wrong-password").await;
        assert_eq!(status, StatusCode::OK, "{spelling}: {body}");
        assert!(body.contains(INVALID), "{spelling}: {body}");
    }
    // The budget is bob's, whatever he is called: even the right password waits now.
    for spelling in ["ⓑob", "BOB", "bob"] {
        let (status, body) = attempt(&app, spelling, "bob-password").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{spelling}: {body}");
    }
    let (status, body) = attempt(&app, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "others are not affected: {body}");
}

#[tokio::test]
async fn parallel_wrong_passwords_never_pass_the_limit() {
    let app = spawn_app_with(limited(10)).await;
    let answers = join_all((0..60).map(|_| attempt(&app, "bob", "wrong-password"))).await;
    let judged = answers
        .iter()
        .filter(|(status, body)| *status == StatusCode::OK && body.contains(INVALID))
        .count();
    let refused = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(judged, 10, "exactly the limit reached the directory");
    assert_eq!(refused, 50, "every other attempt was refused before it");
}

#[tokio::test]
async fn names_that_match_nobody_are_counted_folded_and_never_kept_as_typed() {
    let app = spawn_app_with(limited(3)).await;
    let typed = ["Zelda-Nobody", "ＺＥＬＤＡ-nobody", "zelda-NOBODY"];
    for name in typed {
        let (status, body) = attempt(&app, name, "guess").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains(INVALID));
    }
    let (status, _) = attempt(&app, "zelda-nobody", "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "one name, however it is spelled");

    // A name no directory has: refused at once, never looked up, shown back or recorded.
    let huge = format!("mallory{}", "x".repeat(10_000));
    let (status, body) = attempt(&app, &huge, "guess").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not valid"), "{body}");
    assert!(!body.contains("mallory"), "not shown back");

    audit_rows_until(&app.database_url, |rows| {
        rows.iter().filter(|row| row.kind == "sign_in.failed").count() >= 3
    })
    .await;
    let stored = stored_text(&app).await.to_lowercase();
    assert!(!stored.contains("zelda"), "no typed name is stored: {stored}");
    assert!(!stored.contains("ｚｅｌｄａ"));
    assert!(!stored.contains("mallory"));
    assert!(
        !stored.contains(&gatehouse::crypto::sha256_hex(b"zelda-nobody")),
        "nor its plain hash"
    );
}

#[tokio::test]
async fn a_failed_attempt_on_a_real_person_is_audited_with_who_it_was() {
    let app = spawn_app_with(limited(5)).await;
    let (status, _) = attempt(&app, "ＢＯＢ", "wrong-password").await;
    assert_eq!(status, StatusCode::OK);
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|row| row.kind == "sign_in.failed")
    })
    .await;
    let failed = rows.iter().find(|row| row.kind == "sign_in.failed").expect("audited");
    let detail: serde_json::Value = serde_json::from_str(&failed.detail).unwrap();
    assert_eq!(
        detail["username"], "bob",
        "the directory's name, not what was typed: {detail}"
    );
    assert!(failed.actor.as_deref().is_some_and(|sub| !sub.is_empty()), "{failed:?}");
    assert!(
        detail["attempt_key"].as_str().unwrap().starts_with("entry:"),
        "{detail}"
    );
}
