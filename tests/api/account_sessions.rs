//! `/account/sessions`: a person's browser sessions and connected applications, ending
//! sessions and disconnecting applications; and the administrators' view of a person's
//! sessions with "revoke everything".

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::support::audit::audit_rows_until;
use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::*;
use crate::support::second_factor::{sign_in_for_administration, texts};
use crate::support::spawn_app::*;

const CHROME_ON_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX_ON_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";
const CONFIDENTIAL: Option<(&str, &str)> = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));

/// A browser that says what it is, as real ones do.
fn browser_with_agent(user_agent: &str) -> Browser {
    Browser {
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_store(true)
            .user_agent(user_agent)
            .build()
            .expect("http client"),
    }
}

/// One row of "Your sessions".
#[derive(Debug)]
struct ListedSession {
    sid: String,
    browser: String,
    ip: String,
    this_browser: bool,
}

fn listed_sessions(body: &str) -> Vec<ListedSession> {
    let document = Html::parse_document(body);
    let row = Selector::parse("li.session").expect("selector");
    let text = |element: scraper::ElementRef<'_>, css: &str| {
        let selector = Selector::parse(css).expect("selector");
        element
            .select(&selector)
            .next()
            .map(|e| e.text().collect::<String>())
            .unwrap_or_default()
    };
    let sid = Selector::parse("input[name=\"sid\"]").expect("selector");
    document
        .select(&row)
        .map(|element| ListedSession {
            sid: element
                .select(&sid)
                .next()
                .and_then(|input| input.value().attr("value"))
                .expect("every session has a sign-out form")
                .to_string(),
            browser: text(element, ".session-browser"),
            ip: text(element, ".session-ip"),
            this_browser: !text(element, ".session-this").is_empty(),
        })
        .collect()
}

/// The sessions page as `browser` sees it: (body, CSRF token).
async fn sessions_page(app: &TestApp, browser: &Browser) -> (String, String) {
    let response = browser
        .http
        .get(app.url("/account/sessions"))
        .send()
        .await
        .expect("GET /account/sessions");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body = response.text().await.expect("body");
    let csrf = hidden_field(&body, "csrf_token").expect("the page carries a CSRF token");
    (body, csrf)
}

/// Whether the browser's `/account` opens (true) or sends it to sign in (false).
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

/// bob's tokens from the confidential (consent-asking) client, signing in when needed.
async fn confidential_access_token(app: &TestApp, browser: &Browser) -> String {
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("scope", "openid email");
    let location = browser.authorize(&request.url(app), "bob", "bob-password").await;
    let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
    let reply = redeem_code(app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["access_token"].as_str().expect("access token").to_string()
}

#[tokio::test]
async fn sessions_page_needs_a_signed_in_browser() {
    let app = spawn_app().await;
    let (status, location, _) = Browser::new().visit(&app.url("/account/sessions")).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        location.as_deref(),
        Some(app.url("/login?next=/account/sessions").as_str())
    );
    let (status, location, _) = Browser::new()
        .post_form(&app.url("/account/sessions/end-others"), &[("csrf_token", "x")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(app.url("/login?next=/account/sessions").as_str())
    );
}

#[tokio::test]
async fn sessions_page_lists_both_browsers_and_ending_the_other_signs_it_out_at_once() {
    let app = spawn_app().await;
    let chrome = browser_with_agent(CHROME_ON_LINUX);
    let firefox = browser_with_agent(FIREFOX_ON_WINDOWS);
    sign_in(&app, &chrome, "bob", "bob-password").await;
    sign_in(&app, &firefox, "bob", "bob-password").await;

    let (_, _, account) = chrome.visit(&app.url("/account")).await;
    assert!(
        account.contains(r#"href="/account/sessions""#),
        "the account page links here"
    );
    let (body, csrf) = sessions_page(&app, &chrome).await;
    let sessions = listed_sessions(&body);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions.iter().all(|s| s.ip == "127.0.0.1"), "{sessions:?}");
    let mine = sessions
        .iter()
        .find(|s| s.this_browser)
        .expect("this browser is marked");
    assert_eq!(mine.browser, "Chrome on Linux");
    let other = sessions.iter().find(|s| !s.this_browser).expect("the other browser");
    assert_eq!(other.browser, "Firefox on Windows");
    assert_eq!(sessions.iter().filter(|s| s.this_browser).count(), 1);
    assert!(body.contains("Sign out everywhere else"));

    let (status, _, body) = chrome
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf_token", &csrf), ("sid", &other.sid)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("The session was signed out."), "{body}");
    assert_eq!(listed_sessions(&body).len(), 1);

    assert!(
        !reaches_account(&app, &firefox).await,
        "the ended session no longer signs in"
    );
    assert!(reaches_account(&app, &chrome).await, "this browser stays signed in");

    let sid = other.sid.clone();
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter()
            .any(|r| r.kind == "session.ended" && r.detail.contains(&sid))
    })
    .await;
    assert!(
        rows.iter()
            .any(|r| r.kind == "session.ended" && r.detail.contains(&sid)),
        "{rows:?}"
    );

    // Ending it again changes nothing.
    let (status, _, body) = chrome
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf_token", &csrf), ("sid", &other.sid)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("That session had already ended."), "{body}");
}

#[tokio::test]
async fn ending_this_browsers_own_session_signs_it_out() {
    let app = spawn_app().await;
    let browser = browser_with_agent(CHROME_ON_LINUX);
    sign_in(&app, &browser, "bob", "bob-password").await;
    let (body, csrf) = sessions_page(&app, &browser).await;
    let sessions = listed_sessions(&body);
    assert_eq!(sessions.len(), 1);
    assert!(!body.contains("Sign out everywhere else"), "nothing else to sign out");
    let (status, location, _) = browser
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf_token", &csrf), ("sid", &sessions[0].sid)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(app.url("/").as_str()));
    assert!(!reaches_account(&app, &browser).await);
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_only_this_browser() {
    let app = spawn_app().await;
    let browsers = [
        browser_with_agent(CHROME_ON_LINUX),
        browser_with_agent(FIREFOX_ON_WINDOWS),
        Browser::new(),
    ];
    for browser in &browsers {
        sign_in(&app, browser, "bob", "bob-password").await;
    }
    // alice's session is not bob's to end.
    let alice = Browser::new();
    sign_in(&app, &alice, "alice", "alice-password").await;

    let (body, csrf) = sessions_page(&app, &browsers[0]).await;
    let sessions = listed_sessions(&body);
    assert_eq!(sessions.len(), 3);
    assert!(
        sessions.iter().any(|s| s.browser == "Unknown browser"),
        "a browser without User-Agent: {sessions:?}"
    );
    let (status, _, body) = browsers[0]
        .post_form(&app.url("/account/sessions/end-others"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("2 other browsers were signed out."), "{body}");
    assert!(reaches_account(&app, &browsers[0]).await);
    assert!(!reaches_account(&app, &browsers[1]).await);
    assert!(!reaches_account(&app, &browsers[2]).await);
    assert!(reaches_account(&app, &alice).await, "other people's sessions stay");
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = spawn_app().await;
    let chrome = browser_with_agent(CHROME_ON_LINUX);
    let firefox = browser_with_agent(FIREFOX_ON_WINDOWS);
    let access_token = confidential_access_token(&app, &chrome).await;
    sign_in(&app, &firefox, "bob", "bob-password").await;
    let (body, _) = sessions_page(&app, &chrome).await;
    let other = listed_sessions(&body)
        .into_iter()
        .find(|s| !s.this_browser)
        .expect("the other session");

    for (path, fields) in [
        ("/account/sessions/end", vec![("sid", other.sid.as_str())]),
        (
            "/account/sessions/end",
            vec![("sid", other.sid.as_str()), ("csrf_token", "forged")],
        ),
        ("/account/sessions/end-others", vec![]),
        ("/account/applications/disconnect", vec![("client_id", CONFIDENTIAL_ID)]),
    ] {
        let (status, _, body) = chrome.post_form(&app.url(path), &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {fields:?}");
        assert!(body.contains("This form had expired"), "{body}");
    }
    // A token from another browser is not this browser's either.
    let (_, firefox_csrf) = sessions_page(&app, &firefox).await;
    let (status, _, _) = chrome
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf_token", &firefox_csrf), ("sid", &other.sid)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert!(reaches_account(&app, &firefox).await, "nothing was ended");
    assert_eq!(userinfo_with_header(&app, &access_token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn disconnecting_an_application_revokes_its_tokens_and_forgets_the_consent() {
    let app = spawn_app().await;
    let browser = browser_with_agent(CHROME_ON_LINUX);
    let access_token = confidential_access_token(&app, &browser).await;
    assert_eq!(userinfo_with_header(&app, &access_token).await.status, StatusCode::OK);

    let (body, csrf) = sessions_page(&app, &browser).await;
    let names = texts(&body, ".application-name");
    assert_eq!(names, vec![format!("{CONFIDENTIAL_ID} name")], "{body}");
    assert_eq!(texts(&body, ".application-scopes"), vec!["openid, email".to_string()]);
    assert!(texts(&body, ".application-activity")[0].contains("UTC"), "{body}");

    let (status, _, body) = browser
        .post_form(
            &app.url("/account/applications/disconnect"),
            &[("csrf_token", &csrf), ("client_id", CONFIDENTIAL_ID)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("was disconnected"), "{body}");
    assert!(texts(&body, ".application-name").is_empty(), "{body}");

    let reply = userinfo_with_header(&app, &access_token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);

    // Still signed in, but the application has to ask again.
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("scope", "openid email");
    let location = redirect_of(&browser, &request.url(&app)).await;
    assert!(is_consent_page(&app, &location), "consent is asked again: {location}");

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|r| r.kind == "application.disconnected")
    })
    .await;
    let row = rows
        .iter()
        .find(|r| r.kind == "application.disconnected")
        .expect("audited");
    assert_eq!(row.client_id.as_deref(), Some(CONFIDENTIAL_ID));

    // Disconnecting what is not connected says so.
    let (status, _, body) = browser
        .post_form(
            &app.url("/account/applications/disconnect"),
            &[("csrf_token", &csrf), ("client_id", "no-such-app")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("That application was not connected."), "{body}");
}

mod administrators {
    use sea_orm::{ActiveValue::Set, ColumnTrait, Database, EntityTrait, QueryFilter};

    use super::*;
    use gatehouse::clock::Clock;
    use gatehouse::storage::entities::{browser_sessions, grants, personal_access_tokens};

    async fn admin_api(
        app: &TestApp,
        browser: &Browser,
        method: reqwest::Method,
        path: &str,
        csrf: Option<&str>,
    ) -> JsonReply {
        let mut request = browser.http.request(method, app.url(path));
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        JsonReply::read(request.send().await.expect("admin API request")).await
    }

    #[tokio::test]
    async fn revoke_all_ends_every_session_grant_and_personal_access_token_of_a_person() {
        let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;
        let admin = Browser::new();
        sign_in_for_administration(&app, &admin, "alice", "alice-password").await;
        let session = admin_api(&app, &admin, reqwest::Method::GET, "/admin/api/session", None).await;
        let csrf = session.body["csrf_token"].as_str().expect("csrf_token").to_string();

        let chrome = browser_with_agent(CHROME_ON_LINUX);
        let firefox = browser_with_agent(FIREFOX_ON_WINDOWS);
        let access_token = confidential_access_token(&app, &chrome).await;
        sign_in(&app, &firefox, "bob", "bob-password").await;
        let bob = userinfo_with_header(&app, &access_token).await.body["sub"]
            .as_str()
            .expect("sub")
            .to_string();

        // A personal access token of bob's, stored as the token feature stores them.
        let db = Database::connect(&app.database_url).await.expect("database");
        let now = app.clock.now_unix();
        personal_access_tokens::Entity::insert(personal_access_tokens::ActiveModel {
            id: Set("pat-of-bob".into()),
            user_id: Set(bob.clone()),
            name: Set("backup script".into()),
            token_hash: Set("0".repeat(64)),
            scope: Set("openid".into()),
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

        // The sessions, as administrators see them.
        let path = format!("/admin/api/users/{bob}/sessions");
        let listed = admin_api(&app, &admin, reqwest::Method::GET, &path, None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.header("cache-control"), Some("no-store"));
        let sessions = listed.body["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 2, "{}", listed.body);
        for session in sessions {
            assert_eq!(session["ip"], "127.0.0.1");
            assert_eq!(session["active"], true);
            assert!(session["sid"].is_string() && session["created_at"].is_i64());
            assert!(session["last_seen_at"].is_i64() && session["expires_at"].is_i64());
        }
        let agents: Vec<&str> = sessions.iter().filter_map(|s| s["user_agent"].as_str()).collect();
        assert!(agents.contains(&CHROME_ON_LINUX) && agents.contains(&FIREFOX_ON_WINDOWS));

        // Only administrators, and changes only with the CSRF header.
        let refused = admin_api(&app, &firefox, reqwest::Method::GET, &path, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let revoke = format!("/admin/api/users/{bob}/revoke-all");
        let refused = admin_api(&app, &admin, reqwest::Method::POST, &revoke, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.error(), Some("invalid_csrf_token"));
        let refused = admin_api(&app, &admin, reqwest::Method::POST, &revoke, Some("forged")).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(reaches_account(&app, &chrome).await, "nothing was revoked yet");
        let unknown = admin_api(
            &app,
            &admin,
            reqwest::Method::POST,
            "/admin/api/users/nobody/revoke-all",
            Some(&csrf),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);

        let revoked = admin_api(&app, &admin, reqwest::Method::POST, &revoke, Some(&csrf)).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        assert_eq!(revoked.body["sessions"], 2);
        assert_eq!(revoked.body["grants"], 1);
        assert_eq!(revoked.body["personal_access_tokens"], 1);

        assert!(!reaches_account(&app, &chrome).await);
        assert!(!reaches_account(&app, &firefox).await);
        assert!(reaches_account(&app, &admin).await, "the administrator stays signed in");
        assert_eq!(
            userinfo_with_header(&app, &access_token).await.status,
            StatusCode::UNAUTHORIZED
        );
        let pat = personal_access_tokens::Entity::find_by_id("pat-of-bob".to_string())
            .one(&db)
            .await
            .expect("read")
            .expect("kept");
        assert!(pat.revoked_at.is_some());
        let live_grants = grants::Entity::find()
            .filter(grants::Column::UserId.eq(bob.as_str()))
            .filter(grants::Column::RevokedAt.is_null())
            .all(&db)
            .await
            .expect("read");
        assert!(live_grants.is_empty());
        let live_sessions = browser_sessions::Entity::find()
            .filter(browser_sessions::Column::UserId.eq(bob.as_str()))
            .filter(browser_sessions::Column::EndedAt.is_null())
            .all(&db)
            .await
            .expect("read");
        assert!(live_sessions.is_empty());

        // Listed as ended; a second revocation finds nothing left.
        let listed = admin_api(&app, &admin, reqwest::Method::GET, &path, None).await;
        let sessions = listed.body["sessions"].as_array().expect("sessions");
        assert!(sessions.iter().all(|s| s["active"] == false && s["ended_at"].is_i64()));
        let again = admin_api(&app, &admin, reqwest::Method::POST, &revoke, Some(&csrf)).await;
        assert_eq!(again.body["sessions"], 0);
        assert_eq!(again.body["grants"], 0);
        assert_eq!(again.body["personal_access_tokens"], 0);

        let alice = session.body["sub"].as_str().expect("sub").to_string();
        let rows = audit_rows_until(&app.database_url, |rows| {
            rows.iter().filter(|r| r.kind == "user.everything_revoked").count() == 2
        })
        .await;
        let row = rows
            .iter()
            .find(|r| r.kind == "user.everything_revoked")
            .expect("audited");
        assert_eq!(row.actor.as_deref(), Some(alice.as_str()));
        assert!(row.detail.contains(&bob), "{}", row.detail);
        assert!(!row.detail.contains(&access_token));
    }
}
