//! An administrator's first authenticator needs more than the password: once any
//! administrator has a second factor, another administrator sets one up only with a
//! one-time setup link made for them by an administrator (signed in with the second
//! factor). The very first administrator still enrols with the password alone, audited
//! apart; people who do not administer enrol after their password as before.
//!
//! Here `admins` and `staff` administer: alice (admins, staff), bob and jose (staff) are
//! administrators; carol is in no group.

use gatehouse::clock::Clock;
use gatehouse::mfa::has_active_totp;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};

use crate::support::audit::{audit_rows_until, AuditRow};
use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::{sign_in, JsonReply};
use crate::support::second_factor::{
    api_csrf_token, code_at, confirm_enrolment_at, create_setup_link, enrol_with_setup_link, recorded_sub,
    request_setup_link, sign_in_for_administration, sign_in_with_setup_link, texts,
};
use crate::support::spawn_app::{spawn_app_with, TestApp};

const REFUSAL: &str = "Administrators set up their second factor with a setup link from another administrator";
const JOSE_PASSWORD: &str = "pässwörd-ñ-日本";
/// A setup link lives 24 hours.
const SETUP_LINK_LIFETIME: i64 = 24 * 3600;

async fn spawn_two_group_app() -> TestApp {
    spawn_app_with(|config| config.admin.groups = vec!["admins".into(), "staff".into()]).await
}

/// alice, the first administrator, signed in for the administration with the second factor.
async fn first_administrator(app: &TestApp) -> Browser {
    let alice = Browser::new();
    sign_in_for_administration(app, &alice, "alice", "alice-password").await;
    alice
}

/// A password-only sign-in (policy `optional`), which records the person; returns their sub.
async fn known_person(app: &TestApp, username: &str, password: &str) -> (Browser, String) {
    let browser = Browser::new();
    sign_in(app, &browser, username, password).await;
    (browser, recorded_sub(app, username).await)
}

async fn enrolled(app: &TestApp, sub: &str) -> bool {
    has_active_totp(&app.state.db, sub)
        .await
        .expect("read the second factor")
}

fn assert_refused(status: StatusCode, body: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains(REFUSAL), "{body}");
    assert!(texts(body, "code.totp-secret").is_empty(), "no secret is shown: {body}");
}

/// Whether the browser reaches the administration (rather than being sent to sign in).
async fn administers(app: &TestApp, browser: &Browser) -> bool {
    let (status, location, body) = browser.visit(&app.url("/admin")).await;
    match status {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(location.as_deref(), Some("/login?next=%2Fadmin"));
            false
        }
        other => panic!("/admin answered {other}: {body}"),
    }
}

/// What the database holds of setup links: (person, token hash, maker).
async fn stored_setup_links(app: &TestApp) -> Vec<(String, String, String)> {
    let db = &app.state.db;
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        "SELECT user_id, token_hash, created_by FROM second_factor_setup_links ORDER BY user_id",
    ))
    .await
    .expect("read second_factor_setup_links")
    .iter()
    .map(|row| {
        let column = |name: &str| row.try_get::<String>("", name).expect("column");
        (column("user_id"), column("token_hash"), column("created_by"))
    })
    .collect()
}

/// Nothing about `sub`'s second factor was audited.
async fn assert_no_second_factor_events(app: &TestApp, sub: &str) {
    app.state.audit.flush().await;
    let rows = audit_rows_until(&app.database_url, |_| true).await;
    assert!(
        !rows
            .iter()
            .any(|row| row.kind.starts_with("totp.") && row.actor.as_deref() == Some(sub)),
        "{rows:?}"
    );
}

fn events<'a>(rows: &'a [AuditRow], kind: &str) -> Vec<&'a AuditRow> {
    rows.iter().filter(|row| row.kind == kind).collect()
}

#[tokio::test]
async fn another_administrator_cannot_set_up_a_second_factor_with_the_password_alone() {
    let app = spawn_two_group_app().await;
    first_administrator(&app).await;

    // bob administers too, and has no authenticator yet: whoever knows his password signs
    // in for the administration and is asked to set one up...
    let attacker = Browser::new();
    let (status, location, body) = attacker
        .submit_login(&app.url("/login?next=%2Fadmin"), "bob", "bob-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let enrol_url = location.expect("to the second factor");
    assert!(enrol_url.starts_with(&app.url("/login/totp/enrol")), "{enrol_url}");
    // ...but gets no secret to put in an authenticator.
    let (status, _, body) = attacker.visit(&enrol_url).await;
    assert_refused(status, &body);
    // Confirming anyway sets nothing up.
    let csrf = attacker.form_page(&app.url("/login")).await.csrf_token;
    let (status, _, body) = attacker
        .post_form(
            &app.url("/login/totp/enrol"),
            &[("csrf_token", &csrf), ("code", "123456")],
        )
        .await;
    assert_refused(status, &body);
    assert!(
        !administers(&app, &attacker).await,
        "no session with administration rights"
    );
    let bob_sub = recorded_sub(&app, "bob").await;
    assert!(!enrolled(&app, &bob_sub).await);
    assert_no_second_factor_events(&app, &bob_sub).await;
}

#[tokio::test]
async fn another_administrator_cannot_set_up_a_second_factor_from_the_account_page_either() {
    let app = spawn_two_group_app().await;
    first_administrator(&app).await;

    // Under the `optional` policy bob's password alone gives him a session without the
    // second factor (which administers nothing); the account page offers no enrolment.
    let (password_only, bob_sub) = known_person(&app, "bob", "bob-password").await;
    let (status, _, body) = password_only.visit(&app.url("/account/totp/enrol")).await;
    assert_refused(status, &body);
    let (_, _, account) = password_only.visit(&app.url("/account")).await;
    let csrf = hidden_field(&account, "csrf_token").unwrap_or_default();
    let (status, _, body) = password_only
        .post_form(
            &app.url("/account/totp/enrol"),
            &[("csrf_token", &csrf), ("code", "123456")],
        )
        .await;
    assert_refused(status, &body);
    assert!(!administers(&app, &password_only).await);
    assert!(!enrolled(&app, &bob_sub).await);
    assert_no_second_factor_events(&app, &bob_sub).await;
}

#[tokio::test]
async fn the_first_administrator_rule_is_checked_again_when_the_enrolment_is_confirmed() {
    let app = spawn_two_group_app().await;
    // While no administrator has a second factor, bob may set one up with his password,
    // and is shown a secret...
    let bob = Browser::new();
    let (status, location, body) = bob
        .submit_login(&app.url("/login?next=%2Fadmin"), "bob", "bob-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let enrol_url = location.expect("to enrolment");
    let (status, _, page) = bob.visit(&enrol_url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let secret = texts(&page, "code.totp-secret").pop().expect("a secret");

    // ...but alice becomes the first administrator with a second factor meanwhile.
    first_administrator(&app).await;

    let fields: Vec<(&str, String)> = [
        "request",
        "csrf_token",
        "qr_png_base64",
        "secret_grouped",
        "otpauth_url",
    ]
    .into_iter()
    .map(|name| (name, hidden_field(&page, name).unwrap_or_default()))
    .chain([("code", code_at(&secret, app.clock.now_unix()))])
    .collect();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, _, body) = bob.post_form(&app.url("/login/totp/enrol"), &fields).await;
    assert_refused(status, &body);
    assert!(!enrolled(&app, &recorded_sub(&app, "bob").await).await);
    assert!(!administers(&app, &bob).await);
}

#[tokio::test]
async fn a_setup_link_from_another_administrator_lets_an_administrator_set_up_a_second_factor() {
    let app = spawn_two_group_app().await;
    let alice = first_administrator(&app).await;
    let alice_sub = recorded_sub(&app, "alice").await;
    let (_, bob_sub) = known_person(&app, "bob", "bob-password").await;

    // On bob's page alice creates a link; it is shown once.
    let person = app.url(&format!("/admin/people/{bob_sub}"));
    let page = alice.form_page(&person).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Create a second-factor setup link"), "{}", page.body);
    let create = app.url(&format!("/admin/people/{bob_sub}/second-factor-setup-link"));
    let (status, _, body) = alice.post_form(&create, &[("csrf_token", "forged")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(texts(&body, "code.setup-link").is_empty());
    let (status, _, body) = alice.post_form(&create, &[("csrf_token", &page.csrf_token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let link = texts(&body, "code.setup-link").pop().expect("the link is shown");
    assert!(link.starts_with(&app.url("/login/totp/setup?token=")), "{link}");
    let token = link.split("token=").nth(1).expect("a token").to_string();
    // Afterwards the page says a link is live, without showing it again.
    let page = alice.form_page(&person).await;
    assert!(!page.body.contains(&token), "{}", page.body);
    let live = texts(&page.body, ".setup-link-live")
        .pop()
        .expect("the live link is described");
    assert!(live.contains("alice"), "{live}");
    // Only the token's hash is stored, bound to bob.
    assert_eq!(
        stored_setup_links(&app).await,
        vec![(
            bob_sub.clone(),
            gatehouse::crypto::sha256_hex(token.as_bytes()),
            alice_sub.clone()
        )]
    );

    // bob opens it: the token goes into an HttpOnly cookie and he signs in.
    let bob = Browser::new();
    let response = bob.http.get(&link).send().await.expect("GET link");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().expect("ascii").to_string())
        .find(|value| value.starts_with("gatehouse_totp_setup="))
        .expect("the token is kept in a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    enrol_with_setup_link(&app, &bob, &link, "bob", "bob-password").await;
    assert!(enrolled(&app, &bob_sub).await);
    assert!(
        administers(&app, &bob).await,
        "bob administers with his new second factor"
    );
    // His account page warns him before he removes it.
    let (_, _, account) = bob.visit(&app.url("/account")).await;
    assert_eq!(texts(&account, ".admin-reset-warning").len(), 1, "{account}");

    app.state.audit.flush().await;
    let rows = audit_rows_until(&app.database_url, |rows| !events(rows, "totp.enrolled").is_empty()).await;
    let created = events(&rows, "totp.setup_link_created");
    assert_eq!(created.len(), 1, "{rows:?}");
    assert_eq!(created[0].actor.as_deref(), Some(alice_sub.as_str()));
    assert!(created[0].detail.contains(&bob_sub), "{:?}", created[0]);
    let enrolments = events(&rows, "totp.enrolled");
    assert_eq!(enrolments.len(), 1, "{rows:?}");
    assert_eq!(enrolments[0].actor.as_deref(), Some(bob_sub.as_str()));
    assert!(
        enrolments[0].detail.contains(r#""setup_link":true"#),
        "{:?}",
        enrolments[0]
    );
    assert!(enrolments[0].detail.contains(&alice_sub), "{:?}", enrolments[0]);
    // The link is spent.
    assert!(stored_setup_links(&app).await.is_empty());
}

#[tokio::test]
async fn a_setup_link_works_once_for_its_own_person_until_it_expires_or_is_replaced() {
    let app = spawn_two_group_app().await;
    let alice = first_administrator(&app).await;
    let (_, bob_sub) = known_person(&app, "bob", "bob-password").await;
    let (_, jose_sub) = known_person(&app, "jose", JOSE_PASSWORD).await;
    let link = create_setup_link(&app, &alice, &bob_sub).await;

    // Bound to bob: jose, another administrator, cannot use it for himself.
    let jose = Browser::new();
    let enrol_url = sign_in_with_setup_link(&app, &jose, &link, "jose", JOSE_PASSWORD).await;
    let (status, _, body) = jose.visit(&enrol_url).await;
    assert_refused(status, &body);
    assert!(body.contains("made for someone else"), "{body}");
    assert!(!enrolled(&app, &jose_sub).await);

    // Single use: a second browser brings the same link, but bob uses it first.
    let late = Browser::new();
    let (status, _, _) = late.visit(&link).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    enrol_with_setup_link(&app, &Browser::new(), &link, "bob", "bob-password").await;
    assert!(enrolled(&app, &bob_sub).await);
    // (An administrator resets bob's second factor, so a link would matter again.)
    let csrf = api_csrf_token(&app, &alice).await;
    let reset = alice
        .http
        .delete(app.url(&format!("/admin/api/users/{bob_sub}/totp")))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .expect("DELETE totp");
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let (status, _, body) = Browser::new().visit(&link).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a used link is refused: {body}");
    let (status, location, body) = late
        .submit_login(&app.url("/login?next=%2Fadmin"), "bob", "bob-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _, body) = late.visit(&location.expect("to enrolment")).await;
    assert_refused(status, &body);
    assert!(body.contains("used, replaced by a newer one, or has expired"), "{body}");

    // Replaced: a new link revokes the previous one, even in a browser that brought it.
    let first = create_setup_link(&app, &alice, &bob_sub).await;
    let holder = Browser::new();
    let enrol_url = sign_in_with_setup_link(&app, &holder, &first, "bob", "bob-password").await;
    let (status, second) = request_setup_link(&app, &alice, &bob_sub).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["replaced"], true);
    let second = second["url"].as_str().expect("url").to_string();
    let (status, _, body) = holder.visit(&enrol_url).await;
    assert_refused(status, &body);
    let (status, _, _) = Browser::new().visit(&first).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the replaced link is refused");

    // Ending all of bob's access drops his link too.
    let person = alice.form_page(&app.url(&format!("/admin/people/{bob_sub}"))).await;
    let (status, _, body) = alice
        .post_form(
            &app.url(&format!("/admin/people/{bob_sub}/revoke-all")),
            &[("csrf_token", person.csrf_token.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _, _) = Browser::new().visit(&second).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "revoked with everything else");

    // Expired: a link opened in time but used after its 24 hours is refused.
    let third = create_setup_link(&app, &alice, &bob_sub).await;
    let slow = Browser::new();
    let (status, _, _) = slow.visit(&third).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.clock.advance(SETUP_LINK_LIFETIME + 1);
    let (status, _, _) = Browser::new().visit(&third).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an expired link is refused");
    let (status, location, body) = slow
        .submit_login(&app.url("/login?next=%2Fadmin"), "bob", "bob-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _, body) = slow.visit(&location.expect("to enrolment")).await;
    assert_refused(status, &body);
    assert!(!enrolled(&app, &bob_sub).await);

    app.state.audit.flush().await;
    let rows = audit_rows_until(&app.database_url, |_| true).await;
    let created = events(&rows, "totp.setup_link_created");
    assert_eq!(created.len(), 4, "{rows:?}");
    assert!(created[2].detail.contains(r#""replaced":true"#), "{:?}", created[2]);
    assert!(created[3].detail.contains(r#""replaced":false"#), "{:?}", created[3]);
}

#[tokio::test]
async fn the_first_administrator_enrols_with_the_password_audited_apart_and_others_as_before() {
    let app = spawn_app_with(|config| {
        config.admin.groups = vec!["admins".into(), "staff".into()];
        config.mfa.policy = gatehouse::config::MfaPolicyName::Required;
    })
    .await;
    // Right after the setup no administrator has a second factor: alice sets hers up with
    // the password alone.
    let alice = first_administrator(&app).await;
    assert!(administers(&app, &alice).await);
    let alice_sub = recorded_sub(&app, "alice").await;

    // carol administers nothing: her first authenticator follows her password, as before,
    // although an administrator has a second factor now.
    let carol = Browser::new();
    let (status, location, body) = carol.submit_login(&app.url("/login"), "carol", "carol-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let enrol_url = location.expect("to enrolment");
    assert!(enrol_url.starts_with(&app.url("/login/totp/enrol")), "{enrol_url}");
    let (status, body, _) = confirm_enrolment_at(&app, &carol, &enrol_url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(texts(&body, "code.recovery-code").len(), 10, "{body}");
    let carol_sub = recorded_sub(&app, "carol").await;
    assert!(enrolled(&app, &carol_sub).await);
    let (_, _, account) = carol.visit(&app.url("/account")).await;
    assert!(account.contains("Remove authenticator app"), "{account}");
    assert!(texts(&account, ".admin-reset-warning").is_empty(), "{account}");

    app.state.audit.flush().await;
    let rows = audit_rows_until(&app.database_url, |rows| !events(rows, "totp.enrolled").is_empty()).await;
    let first = events(&rows, "totp.first_administrator_enrolled");
    assert_eq!(first.len(), 1, "{rows:?}");
    assert_eq!(first[0].actor.as_deref(), Some(alice_sub.as_str()));
    let enrolments = events(&rows, "totp.enrolled");
    assert_eq!(enrolments.len(), 1, "only carol's is an ordinary enrolment: {rows:?}");
    assert_eq!(enrolments[0].actor.as_deref(), Some(carol_sub.as_str()));
    assert!(
        enrolments[0].detail.contains(r#""setup_link":false"#),
        "{:?}",
        enrolments[0]
    );
}

#[tokio::test]
async fn the_setup_link_api_needs_an_administrator_with_the_second_factor() {
    let app = spawn_two_group_app().await;
    let alice = first_administrator(&app).await;
    let alice_sub = recorded_sub(&app, "alice").await;
    let (bob, bob_sub) = known_person(&app, "bob", "bob-password").await;
    let (carol, _) = known_person(&app, "carol", "carol-password").await;
    let path = |sub: &str| app.url(&format!("/admin/api/users/{sub}/second-factor-setup-link"));

    // A password-only administrator, someone who does not administer, no CSRF header.
    let reply = JsonReply::read(bob.http.post(path(&bob_sub)).send().await.expect("POST")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), Some("insufficient_user_authentication"));
    let reply = JsonReply::read(carol.http.post(path(&bob_sub)).send().await.expect("POST")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = JsonReply::read(alice.http.post(path(&bob_sub)).send().await.expect("POST")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "the CSRF header is required");

    // Nobody by that sub; someone who has a second factor already (reset it first).
    let (status, body) = request_setup_link(&app, &alice, "nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = request_setup_link(&app, &alice, &alice_sub).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let person = alice.form_page(&app.url(&format!("/admin/people/{alice_sub}"))).await;
    let (status, _, body) = alice
        .post_form(
            &app.url(&format!("/admin/people/{alice_sub}/second-factor-setup-link")),
            &[("csrf_token", person.csrf_token.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(texts(&body, "code.setup-link").is_empty(), "{body}");

    let csrf = api_csrf_token(&app, &alice).await;
    let reply = JsonReply::read(
        alice
            .http
            .post(path(&bob_sub))
            .header("X-CSRF-Token", csrf)
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.body["url"]
        .as_str()
        .is_some_and(|url| url.starts_with(&app.url("/login/totp/setup?token="))));
    let now = app.clock.now_unix();
    assert_eq!(reply.body["expires_at"], now + SETUP_LINK_LIFETIME);
    assert_eq!(reply.body["replaced"], false);
    assert!(!enrolled(&app, &bob_sub).await, "a link sets nothing up by itself");

    // A link that is no link of ours is refused plainly, whatever its size.
    for token in ["", "x", &"a".repeat(5000), "not%20a%20token"] {
        let (status, _, body) = Browser::new()
            .visit(&app.url(&format!("/login/totp/setup?token={token}")))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token}: {body}");
        assert!(body.contains("This setup link is not valid"), "{body}");
    }
}
