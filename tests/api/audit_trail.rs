//! The audit trail records sign-ins, consent, sign-out and code replays, without secrets.

use crate::support::audit::audit_rows_until;
use crate::support::browser::{query_param, Browser};
use crate::support::oauth::{new_pkce, redeem_code, AuthorizeRequest};
use crate::support::spawn_app::*;

/// (kind, actor, client_id, detail) rows, waiting up to 5 s for `expected` rows to appear
/// (the writer stores events in the background).
async fn audit_rows(app: &TestApp, expected: usize) -> Vec<(String, Option<String>, Option<String>, String)> {
    audit_rows_until(&app.database_url, |rows| rows.len() >= expected)
        .await
        .into_iter()
        .map(|row| (row.kind, row.actor, row.client_id, row.detail))
        .collect()
}

#[tokio::test]
async fn sign_ins_consent_replays_and_sign_out_are_audited_without_secrets() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let pkce = new_pkce();
    let url = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT)
        .set("scope", "openid email")
        .with_pkce(&pkce)
        .url(&app);
    let (_, location, _) = browser.visit(&url).await;
    let login = location.unwrap();
    let (status, _, _) = browser.submit_login(&login, "alice", "not-her-password").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (_, consent, _) = browser.submit_login(&login, "alice", "alice-password").await;
    let callback = browser.submit_consent(&consent.unwrap(), "allow").await;
    let code = query_param(&callback, "code").unwrap();
    let basic = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));
    let first = redeem_code(&app, basic, &code, CONFIDENTIAL_REDIRECT, Some(&pkce.verifier)).await;
    assert_eq!(first.status, reqwest::StatusCode::OK);
    let second = redeem_code(&app, basic, &code, CONFIDENTIAL_REDIRECT, Some(&pkce.verifier)).await;
    assert_eq!(second.error(), Some("invalid_grant"));
    let id_token = first.body["id_token"].as_str().unwrap().to_string();
    let logout = format!(
        "{}?id_token_hint={id_token}&post_logout_redirect_uri={}",
        app.url("/logout"),
        url::form_urlencoded::byte_serialize(CONFIDENTIAL_POST_LOGOUT.as_bytes()).collect::<String>()
    );
    let (status, _, _) = browser.visit(&logout).await;
    assert_eq!(status, reqwest::StatusCode::FOUND);

    let rows = audit_rows(&app, 5).await;
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "sign_in.failed",
            "sign_in.succeeded",
            "consent.granted",
            "authorization_code.replayed",
            "sign_out"
        ],
        "{rows:?}"
    );
    let sub = rows[1].1.clone().unwrap();
    assert_ne!(sub, "alice", "successful events name the stable sub");
    assert_eq!(
        rows[0].1.as_deref(),
        Some(sub.as_str()),
        "a failed sign-in of a real person names them by their sub too"
    );
    assert!(rows[0].3.contains("\"username\":\"alice\""), "{}", rows[0].3);
    assert_eq!(rows[2].2.as_deref(), Some(CONFIDENTIAL_ID));
    assert_eq!(rows[3].1.as_deref(), Some(sub.as_str()));
    assert_eq!(rows[3].2.as_deref(), Some(CONFIDENTIAL_ID));
    let everything = format!("{rows:?}");
    for secret in [
        "not-her-password",
        "alice-password",
        code.as_str(),
        CONFIDENTIAL_SECRET,
        &pkce.verifier,
    ] {
        assert!(!everything.contains(secret), "the audit trail holds a secret");
    }
}
