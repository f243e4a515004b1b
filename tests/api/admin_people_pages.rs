//! The people pages of the administration (`/admin/people`, `/admin/people/{sub}`): an
//! administrator finds a person, sees their sessions and tokens, ends all of them or resets
//! their second factor; CSRF-protected, audited, administrators only. alice is in `admins`
//! in the test directory, bob is not.

use gatehouse::clock::Clock;
use gatehouse::storage::entities::personal_access_tokens;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use sea_orm::{ActiveValue::Set, Database, EntityTrait};

use crate::support::audit::audit_rows_until;
use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::{expect_code, redeem_code, sign_in, AuthorizeRequest};
use crate::support::second_factor::{sign_in_another_administrator, sign_in_for_administration, texts};
use crate::support::spawn_app::{spawn_app_with, TestApp, FIRST_PARTY_ID, FIRST_PARTY_REDIRECT, FIRST_PARTY_SECRET};

/// The `sub` of every person listed, from the links to their pages.
fn listed_subs(body: &str) -> Vec<String> {
    let document = Html::parse_document(body);
    let selector = Selector::parse("a.person-link").expect("selector");
    document
        .select(&selector)
        .filter_map(|link| link.value().attr("href"))
        .map(|href| {
            href.strip_prefix("/admin/people/")
                .expect("a link to a person's page")
                .to_string()
        })
        .collect()
}

/// GETs an admin page, checking it is not cached.
async fn admin_page(app: &TestApp, browser: &Browser, path: &str) -> (StatusCode, String) {
    let response = browser.http.get(app.url(path)).send().await.expect("GET");
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers().get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
    (status, response.text().await.expect("body"))
}

/// Whether the browser's session still opens `/account` (otherwise it is sent to sign in).
async fn reaches_account(app: &TestApp, browser: &Browser) -> bool {
    let (status, location, body) = browser.visit(&app.url("/account")).await;
    match status {
        StatusCode::OK => true,
        StatusCode::FOUND => {
            assert_eq!(location.as_deref(), Some(app.url("/login?next=/account").as_str()));
            false
        }
        other => panic!("/account answered {other}: {body}"),
    }
}

/// The sub of the only person `query` finds.
async fn find_one(app: &TestApp, admin: &Browser, query: &str) -> String {
    let (status, body) = admin_page(app, admin, &format!("/admin/people?q={query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut subs = listed_subs(&body);
    assert_eq!(subs.len(), 1, "{query}: {body}");
    subs.pop().expect("one person")
}

#[tokio::test]
async fn an_administrator_finds_a_person_and_ends_all_their_sessions_and_tokens() {
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;
    let bob = Browser::new();
    sign_in(&app, &bob, "bob", "bob-password").await;
    assert!(reaches_account(&app, &bob).await);

    // Someone who is not an administrator sees no list and changes nothing.
    let (status, _) = admin_page(&app, &bob, "/admin/people").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = bob
        .post_form(&app.url("/admin/people/anyone/revoke-all"), &[("csrf_token", "x")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let admin = Browser::new();
    sign_in_for_administration(&app, &admin, "alice", "alice-password").await;
    let (status, body) = admin_page(&app, &admin, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"href="/admin/people""#), "{body}");

    // The search: everyone, by username (any case), by email, nobody.
    let (status, body) = admin_page(&app, &admin, "/admin/people").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut everyone = texts(&body, ".person-username");
    everyone.sort();
    assert_eq!(everyone, ["alice", "bob"]);
    let (_, body) = admin_page(&app, &admin, "/admin/people?q=bo").await;
    assert_eq!(texts(&body, ".person-username"), ["bob"], "{body}");
    assert_eq!(texts(&body, ".person-name"), ["Bob Builder"]);
    assert_eq!(texts(&body, ".person-email"), ["bob@example.org"]);
    assert_eq!(
        find_one(&app, &admin, "BUILDER").await,
        find_one(&app, &admin, "bo").await
    );
    let bob_sub = find_one(&app, &admin, "bob%40example").await;
    let (_, body) = admin_page(&app, &admin, "/admin/people?q=%25").await;
    assert!(listed_subs(&body).is_empty(), "a wildcard is plain text: {body}");
    assert!(body.contains("Nobody matches"), "{body}");

    // A personal access token of bob's, stored as the token feature stores them.
    let db = Database::connect(&app.database_url).await.expect("database");
    let now = app.clock.now_unix();
    personal_access_tokens::Entity::insert(personal_access_tokens::ActiveModel {
        id: Set("pat-of-bob".into()),
        user_id: Set(bob_sub.clone()),
        name: Set("backup script".into()),
        token_hash: Set("0".repeat(64)),
        scope: Set("openid profile".into()),
        allowed_ips: Set("[]".into()),
        created_at: Set(now),
        expires_at: Set(now + 86_400),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        revoked_at: Set(None),
    })
    .exec(&db)
    .await
    .expect("insert a personal access token");

    // bob's page: who he is, no second factor, his session and his token.
    let person = format!("/admin/people/{bob_sub}");
    let (status, body) = admin_page(&app, &admin, &person).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(texts(&body, ".person-username"), ["bob"]);
    assert_eq!(texts(&body, ".person-email"), ["bob@example.org"]);
    assert_eq!(texts(&body, ".person-groups"), ["staff"]);
    assert_eq!(texts(&body, ".second-factor-none").len(), 1, "{body}");
    assert!(!body.contains("/totp/reset"), "no reset button without a second factor");
    assert_eq!(texts(&body, ".session-ip"), ["127.0.0.1"], "{body}");
    assert_eq!(texts(&body, ".session").len(), 1);
    assert_eq!(texts(&body, ".token-name"), ["backup script"]);
    assert_eq!(texts(&body, ".token-scopes"), ["openid profile"]);
    assert_eq!(texts(&body, ".token-status"), ["(active)"]);
    let csrf = hidden_field(&body, "csrf_token").expect("csrf_token");

    // Without the CSRF token, or with a forged one: refused, nothing ended.
    let revoke_all = app.url(&format!("/admin/people/{bob_sub}/revoke-all"));
    let (status, _, body) = admin.post_form(&revoke_all, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("expired"), "{body}");
    let (status, _, _) = admin.post_form(&revoke_all, &[("csrf_token", "forged")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reaches_account(&app, &bob).await, "nothing was ended yet");

    // "End all sessions and tokens": back to his page with what was ended.
    let (status, location, body) = admin.post_form(&revoke_all, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.expect("back to the person's page");
    assert!(location.starts_with(&format!("{person}?")), "{location}");
    let (status, body) = admin_page(&app, &admin, &location).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notice = texts(&body, ".notice-box").pop().expect("a notice");
    assert!(
        notice.contains("Ended 1 session") && notice.contains("revoked 1 personal access token"),
        "{notice}"
    );
    assert_eq!(texts(&body, ".session").len(), 0, "{body}");
    assert_eq!(texts(&body, ".token-status"), ["(revoked)"]);
    assert!(!reaches_account(&app, &bob).await, "bob's browser is signed out");
    assert!(
        reaches_account(&app, &admin).await,
        "the administrator's own session is untouched"
    );

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|row| row.kind == "user.everything_revoked")
    })
    .await;
    let row = rows
        .iter()
        .find(|row| row.kind == "user.everything_revoked")
        .expect("the revocation is audited");
    let alice_sub = find_one(&app, &admin, "alice").await;
    assert_eq!(row.actor.as_deref(), Some(alice_sub.as_str()));
    assert!(row.detail.contains(&bob_sub), "{}", row.detail);

    // Someone who never signed in: a page that says so, for reading and for changing.
    let (status, body) = admin_page(&app, &admin, "/admin/people/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("No such person"), "{body}");
    let page = admin.form_page(&app.url(&person)).await;
    let (status, _, body) = admin
        .post_form(
            &app.url("/admin/people/nobody/revoke-all"),
            &[("csrf_token", page.csrf_token.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("No such person"), "{body}");
}

#[tokio::test]
async fn an_administrator_resets_a_persons_second_factor() {
    // Both are administrators here (bob through `staff`), so both have a second factor.
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into(), "staff".into()]).await;
    let bob = Browser::new();
    sign_in_for_administration(&app, &bob, "bob", "bob-password").await;
    // bob, the first administrator, hands alice a setup link.
    let admin = Browser::new();
    sign_in_another_administrator(&app, &bob, &admin, "alice", "alice-password").await;
    let bob_sub = find_one(&app, &admin, "bob").await;

    let person = format!("/admin/people/{bob_sub}");
    let page = admin.form_page(&app.url(&person)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(texts(&page.body, ".second-factor-enrolled").len(), 1, "{}", page.body);
    let reset = app.url(&format!("/admin/people/{bob_sub}/totp/reset"));

    let (status, _, body) = admin.post_form(&reset, &[("csrf_token", "forged")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(texts(&body, ".second-factor-enrolled").len(), 1, "nothing was reset");

    let (status, location, body) = admin
        .post_form(&reset, &[("csrf_token", page.csrf_token.as_str())])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, body) = admin_page(&app, &admin, &location.expect("back to the page")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notice = texts(&body, ".notice-box").pop().expect("a notice");
    assert!(notice.contains("second factor was reset"), "{notice}");
    assert_eq!(texts(&body, ".second-factor-none").len(), 1, "{body}");
    assert!(!body.contains("/totp/reset"));

    // A second press finds nothing to reset.
    let (status, location, _) = admin
        .post_form(&reset, &[("csrf_token", page.csrf_token.as_str())])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, body) = admin_page(&app, &admin, &location.expect("back to the page")).await;
    assert!(body.contains("There was no second factor to reset."), "{body}");

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|row| row.kind == "totp.reset")
    })
    .await;
    let resets: Vec<_> = rows.iter().filter(|row| row.kind == "totp.reset").collect();
    assert_eq!(resets.len(), 1, "{rows:?}");
    assert_ne!(
        resets[0].actor.as_deref(),
        Some(bob_sub.as_str()),
        "the administrator is the actor"
    );
    assert!(resets[0].detail.contains(&bob_sub), "{}", resets[0].detail);
}

#[tokio::test]
async fn ending_everything_also_ends_codes_not_yet_redeemed() {
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;
    let admin = Browser::new();
    sign_in_for_administration(&app, &admin, "alice", "alice-password").await;

    // bob signs in to an application; its code is on its way but not redeemed yet.
    let request = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT);
    let location = Browser::new()
        .authorize(&request.url(&app), "bob", "bob-password")
        .await;
    let code = expect_code(&location, FIRST_PARTY_REDIRECT);

    let bob_sub = find_one(&app, &admin, "bob").await;
    let page = admin.form_page(&app.url(&format!("/admin/people/{bob_sub}"))).await;
    let (status, _, body) = admin
        .post_form(
            &app.url(&format!("/admin/people/{bob_sub}/revoke-all")),
            &[("csrf_token", page.csrf_token.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    let reply = redeem_code(
        &app,
        Some((FIRST_PARTY_ID, FIRST_PARTY_SECRET)),
        &code,
        FIRST_PARTY_REDIRECT,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error(), Some("invalid_grant"));
}
