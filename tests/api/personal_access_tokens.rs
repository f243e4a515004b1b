//! Personal access tokens: created on `/account/tokens` (shown once, stored hashed), used
//! as bearer tokens at `/userinfo` and (with the `admin` scope, by an administrator) at the
//! admin API, revoked by their owner or an administrator, bound to their expiry and their
//! IP allowlist. alice is in `admins` in the test directory, bob is not.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;

use crate::support::audit::audit_rows_until;
use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::{http_client, sign_in, userinfo_with_header, JsonReply};
use crate::support::second_factor::{sign_in_for_administration, texts};
use crate::support::spawn_app::{spawn_app, spawn_app_with, TestApp};

const PAT_PREFIX: &str = "gatehouse_pat_";

async fn signed_in(app: &TestApp, username: &str) -> Browser {
    let browser = Browser::new();
    sign_in(app, &browser, username, &format!("{username}-password")).await;
    browser
}

/// The tokens page, which must not be cached.
pub(crate) async fn tokens_page(app: &TestApp, browser: &Browser) -> String {
    let response = browser.http.get(app.url("/account/tokens")).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    response.text().await.expect("body")
}

/// Submits the create form as a browser would (the CSRF token from the page) and returns
/// the status and the page answered.
pub(crate) async fn submit_token_form(
    app: &TestApp,
    browser: &Browser,
    name: &str,
    scopes: &[&str],
    lifetime_days: &str,
    allowed_ips: &str,
) -> (StatusCode, String) {
    let page = tokens_page(app, browser).await;
    let csrf = hidden_field(&page, "csrf_token").expect("the form has a CSRF token");
    let mut fields = vec![
        ("csrf_token", csrf.as_str()),
        ("name", name),
        ("lifetime_days", lifetime_days),
        ("allowed_ips", allowed_ips),
    ];
    fields.extend(scopes.iter().map(|scope| ("scope", *scope)));
    let (status, _, body) = browser.post_form(&app.url("/account/tokens"), &fields).await;
    (status, body)
}

/// Creates a token through the page and returns its secret, shown once.
pub(crate) async fn create_token(
    app: &TestApp,
    browser: &Browser,
    name: &str,
    scopes: &[&str],
    lifetime_days: &str,
    allowed_ips: &str,
) -> String {
    let (status, body) = submit_token_form(app, browser, name, scopes, lifetime_days, allowed_ips).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secrets = texts(&body, ".new-token-secret");
    assert_eq!(secrets.len(), 1, "the new token is shown: {body}");
    secrets[0].clone()
}

fn assert_token_format(secret: &str) {
    let rest = secret.strip_prefix(PAT_PREFIX).expect("the prefix");
    assert_eq!(rest.len(), 38, "{secret}");
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{secret}");
    assert!(gatehouse::tokens::personal_access_token::is_well_formed_pat(secret));
}

/// The id of the token called `name` on the page (from its revoke form).
fn token_id(page: &str, name: &str) -> String {
    let document = scraper::Html::parse_document(page);
    let selector = scraper::Selector::parse("li.token").expect("selector");
    let name_selector = scraper::Selector::parse(".token-name").expect("selector");
    document
        .select(&selector)
        .find(|li| li.select(&name_selector).any(|n| n.text().collect::<String>() == name))
        .and_then(|li| li.value().attr("id"))
        .and_then(|id| id.strip_prefix("token-"))
        .unwrap_or_else(|| panic!("no token {name} on the page: {page}"))
        .to_string()
}

/// The text of the list entry of the token `id`.
fn token_entry(page: &str, id: &str) -> String {
    let found = texts(page, &format!("li#token-{id}"));
    assert_eq!(found.len(), 1, "{page}");
    found[0].clone()
}

async fn revoke_on_page(app: &TestApp, browser: &Browser, id: &str) -> (StatusCode, String) {
    let page = tokens_page(app, browser).await;
    let csrf = hidden_field(&page, "csrf_token").expect("csrf");
    let (status, _, body) = browser
        .post_form(
            &app.url(&format!("/account/tokens/{id}/revoke")),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    (status, body)
}

async fn userinfo_with_forwarded_for(app: &TestApp, token: &str, forwarded_for: &str) -> JsonReply {
    let response = http_client()
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .expect("userinfo request");
    JsonReply::read(response).await
}

pub(crate) async fn admin_api(app: &TestApp, method: reqwest::Method, path: &str, token: &str) -> JsonReply {
    let response = http_client()
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("admin API request");
    JsonReply::read(response).await
}

fn assert_invalid_token(reply: &JsonReply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
    assert_eq!(reply.error(), Some("invalid_token"));
    let challenge = reply.header("www-authenticate").expect("a challenge");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

/// Every text column of the stored tokens, and for SQLite the database files themselves.
async fn stored_bytes(app: &TestApp) -> Vec<u8> {
    let db = Database::connect(&app.database_url).await.expect("connect");
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, user_id, name, token_hash, scope, allowed_ips FROM personal_access_tokens",
        ))
        .await
        .expect("read personal_access_tokens");
    let mut bytes = Vec::new();
    for row in rows {
        for column in ["id", "user_id", "name", "token_hash", "scope", "allowed_ips"] {
            let value: String = row.try_get("", column).expect("a text column");
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(b'\n');
        }
    }
    if let Some(path) = app
        .database_url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
    {
        for suffix in ["", "-wal"] {
            if let Ok(file) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(file);
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

fn sha256_hex(text: &str) -> String {
    gatehouse::crypto::sha256_hex(text.as_bytes())
}

#[tokio::test]
async fn the_tokens_page_needs_a_signed_in_person() {
    let app = spawn_app().await;
    let (status, location, _) = Browser::new().visit(&app.url("/account/tokens")).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location, Some(app.url("/login?next=/account/tokens")));
    let (status, location, _) = Browser::new()
        .post_form(&app.url("/account/tokens"), &[("name", "x"), ("scope", "openid")])
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location, Some(app.url("/login?next=/account/tokens")));

    // The account page links to it.
    let bob = signed_in(&app, "bob").await;
    let (status, _, body) = bob.visit(&app.url("/account")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("href=\"/account/tokens\""), "{body}");
}

#[tokio::test]
async fn a_token_is_shown_once_stored_hashed_used_at_userinfo_and_revoked_at_once() {
    let app = spawn_app().await;
    let bob = signed_in(&app, "bob").await;
    let page = tokens_page(&app, &bob).await;
    assert_eq!(texts(&page, ".no-tokens").len(), 1, "{page}");
    assert!(
        texts(&page, "input[name=scope][value=admin]").is_empty(),
        "no admin scope for bob"
    );

    let secret = create_token(&app, &bob, "backup script", &["openid", "profile"], "30", "").await;
    assert_token_format(&secret);

    // Never shown again; listed with its details.
    let page = tokens_page(&app, &bob).await;
    assert!(!page.contains(&secret));
    let id = token_id(&page, "backup script");
    let entry = token_entry(&page, &id);
    assert!(
        entry.contains("(active)") && entry.contains("openid profile"),
        "{entry}"
    );
    assert!(entry.contains("Never used") && entry.contains("anywhere"), "{entry}");

    // Only the hash is stored.
    let stored = stored_bytes(&app).await;
    assert!(contains(&stored, &sha256_hex(&secret)), "the hash is stored");
    assert!(!contains(&stored, &secret), "the token itself is not stored");
    assert!(!contains(&stored, &secret[PAT_PREFIX.len()..]));

    // A bearer token at /userinfo, with the claims of its scopes.
    let reply = userinfo_with_header(&app, &secret).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["preferred_username"], "bob");
    assert!(reply.body.get("email").is_none(), "no email scope: {:?}", reply.body);
    let bob_sub = reply.body["sub"].as_str().expect("sub").to_string();
    let entry = token_entry(&tokens_page(&app, &bob).await, &id);
    assert!(
        entry.contains("Last used") && entry.contains("from 127.0.0.1"),
        "{entry}"
    );

    // A typo is refused like an unknown token.
    let mut typo = secret.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    assert_invalid_token(&userinfo_with_header(&app, &String::from_utf8(typo).expect("ascii")).await);

    // A revoke form without its CSRF token changes nothing.
    let (status, _, _) = bob
        .post_form(
            &app.url(&format!("/account/tokens/{id}/revoke")),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(userinfo_with_header(&app, &secret).await.status, StatusCode::OK);

    // Someone else cannot revoke it.
    let alice = signed_in(&app, "alice").await;
    let (status, _) = revoke_on_page(&app, &alice, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(userinfo_with_header(&app, &secret).await.status, StatusCode::OK);

    let (status, body) = revoke_on_page(&app, &bob, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(texts(&body, ".notice-box")[0].contains("was revoked"), "{body}");
    assert!(token_entry(&body, &id).contains("(revoked)"));
    assert!(
        texts(&body, &format!("form[action=\"/account/tokens/{id}/revoke\"]")).is_empty(),
        "no revoke button for a revoked token"
    );
    assert_invalid_token(&userinfo_with_header(&app, &secret).await);

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|r| r.kind == "personal_access_token.revoked")
    })
    .await;
    let created = rows
        .iter()
        .find(|r| r.kind == "personal_access_token.created")
        .expect("creation is audited");
    assert_eq!(created.actor.as_deref(), Some(bob_sub.as_str()));
    assert!(created.detail.contains("backup script") && created.detail.contains(&id));
    let revoked = rows
        .iter()
        .find(|r| r.kind == "personal_access_token.revoked")
        .expect("revocation is audited");
    assert_eq!(revoked.actor.as_deref(), Some(bob_sub.as_str()));
    for row in &rows {
        assert!(
            !row.detail.contains(&secret[PAT_PREFIX.len()..]),
            "no secret in {row:?}"
        );
    }
}

#[tokio::test]
async fn expired_tokens_and_tokens_without_openid_are_refused_at_userinfo() {
    let app = spawn_app().await;
    let bob = signed_in(&app, "bob").await;
    let daily = create_token(&app, &bob, "daily", &["openid", "email"], "1", "").await;
    let no_openid = create_token(&app, &bob, "profile only", &["profile"], "30", "").await;

    let reply = userinfo_with_header(&app, &daily).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(reply.body.get("email").is_some(), "{:?}", reply.body);

    let reply = userinfo_with_header(&app, &no_openid).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error(), Some("insufficient_scope"));
    assert!(reply
        .header("www-authenticate")
        .is_some_and(|c| c.contains("error=\"insufficient_scope\"")));

    app.clock.advance(86_400 + 1);
    assert_invalid_token(&userinfo_with_header(&app, &daily).await);
    // (The browser session has ended by now too.)
    let bob = signed_in(&app, "bob").await;
    let page = tokens_page(&app, &bob).await;
    let id = token_id(&page, "daily");
    assert!(token_entry(&page, &id).contains("(expired)"));

    // An expired token's name is free again.
    create_token(&app, &bob, "daily", &["openid"], "1", "").await;
}

#[tokio::test]
async fn the_allowlist_is_checked_against_the_real_client_address() {
    let app = spawn_app().await;
    let bob = signed_in(&app, "bob").await;
    let secret = create_token(&app, &bob, "office", &["openid"], "30", "10.0.0.0/8").await;
    let id = token_id(&tokens_page(&app, &bob).await, "office");

    // From 127.0.0.1, outside the list; a forged X-Forwarded-For changes nothing without
    // trusted proxies.
    assert_invalid_token(&userinfo_with_header(&app, &secret).await);
    assert_invalid_token(&userinfo_with_forwarded_for(&app, &secret, "10.1.2.3").await);
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter()
            .filter(|r| r.kind == "personal_access_token.address_refused")
            .count()
            >= 2
    })
    .await;
    let refused: Vec<_> = rows
        .iter()
        .filter(|r| r.kind == "personal_access_token.address_refused")
        .collect();
    assert_eq!(refused.len(), 2, "{rows:?}");
    for row in refused {
        assert!(row.detail.contains("127.0.0.1") && row.detail.contains(&id), "{row:?}");
    }
    assert!(token_entry(&tokens_page(&app, &bob).await, &id).contains("Never used"));

    // Behind a trusted proxy, the forwarded address counts.
    let proxied = spawn_app_with(|config| config.network.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let bob = signed_in(&proxied, "bob").await;
    let secret = create_token(&proxied, &bob, "office", &["openid"], "30", "10.0.0.0/8").await;
    let reply = userinfo_with_forwarded_for(&proxied, &secret, "10.1.2.3").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let page = tokens_page(&proxied, &bob).await;
    let entry = token_entry(&page, &token_id(&page, "office"));
    assert!(entry.contains("from 10.1.2.3"), "{entry}");
    assert_invalid_token(&userinfo_with_forwarded_for(&proxied, &secret, "192.0.2.1").await);
}

#[tokio::test]
async fn mistakes_on_the_form_are_explained_and_the_values_kept() {
    let app = spawn_app().await;
    let bob = signed_in(&app, "bob").await;
    let (status, body) = submit_token_form(&app, &bob, "deploy", &[], "400", "10.0.0.0/8\nexample.org").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let problems = texts(&body, ".error-box li");
    assert!(
        problems.iter().any(|p| p == "Choose at least one scope."),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("from 1 to 365")), "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`example.org` is not an IP address or CIDR range")),
        "{problems:?}"
    );
    assert!(texts(&body, ".new-token-secret").is_empty());
    assert_eq!(hidden_field(&body, "name").as_deref(), Some("deploy"));
    assert_eq!(hidden_field(&body, "lifetime_days").as_deref(), Some("400"));
    assert_eq!(texts(&body, "textarea[name=allowed_ips]"), ["10.0.0.0/8\nexample.org"]);

    // Ticked scopes stay ticked; host bits get a hint.
    let (status, body) = submit_token_form(&app, &bob, "", &["email"], "30", "10.1.2.3/8").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let problems = texts(&body, ".error-box li");
    assert!(problems.iter().any(|p| p == "Give the token a name."), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("did you mean `10.0.0.0/8`")),
        "{problems:?}"
    );
    assert_eq!(texts(&body, "input[name=scope][checked]").len(), 1);
    assert_eq!(
        texts(&body, "input[name=scope][value=email][checked]").len(),
        1,
        "{body}"
    );

    // Names are unique among live tokens; bob cannot have the admin scope.
    create_token(&app, &bob, "deploy", &["openid"], "30", "").await;
    let (status, body) = submit_token_form(&app, &bob, "Deploy", &["openid"], "30", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        texts(&body, ".error-box li")[0].contains("already have an active token"),
        "{body}"
    );
    let (status, body) = submit_token_form(&app, &bob, "sneaky", &["openid", "admin"], "30", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        texts(&body, ".error-box li"),
        ["Only administrators can create tokens with the admin scope."]
    );

    // A form without its CSRF token creates nothing.
    let (status, _, body) = bob
        .post_form(
            &app.url("/account/tokens"),
            &[("name", "forged"), ("scope", "openid"), ("lifetime_days", "30")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(texts(&body, ".new-token-secret").is_empty());
    assert!(!tokens_page(&app, &bob).await.contains("forged"));
}

#[tokio::test]
async fn the_number_of_live_tokens_is_limited() {
    let app = spawn_app_with(|config| config.personal_access_tokens.max_per_person = 2).await;
    let bob = signed_in(&app, "bob").await;
    create_token(&app, &bob, "one", &["openid"], "30", "").await;
    create_token(&app, &bob, "two", &["openid"], "30", "").await;
    let (status, body) = submit_token_form(&app, &bob, "three", &["openid"], "30", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        texts(&body, ".error-box li")[0].contains("already have 2 active tokens"),
        "{body}"
    );
    let id = token_id(&body, "one");
    revoke_on_page(&app, &bob, &id).await;
    create_token(&app, &bob, "three", &["openid"], "30", "").await;
}

#[tokio::test]
async fn an_administrators_admin_token_is_accepted_by_the_admin_api() {
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;

    // An administrator signed in with the password only sees the scope but cannot grant it.
    let password_only = signed_in(&app, "alice").await;
    let page = tokens_page(&app, &password_only).await;
    assert_eq!(texts(&page, "input[name=scope][value=admin]").len(), 1);
    let (status, body) = submit_token_form(&app, &password_only, "ops", &["openid", "admin"], "30", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(texts(&body, ".error-box li")[0].contains("second factor"), "{body}");

    // With the second factor she can.
    let alice = Browser::new();
    sign_in_for_administration(&app, &alice, "alice", "alice-password").await;
    let admin_token = create_token(&app, &alice, "ops", &["openid", "admin"], "30", "").await;
    let plain_token = create_token(&app, &alice, "plain", &["openid"], "30", "").await;

    let reply = admin_api(&app, reqwest::Method::GET, "/admin/api/keys", &admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(reply.body["keys"].is_array());

    let reply = admin_api(&app, reqwest::Method::GET, "/admin/api/keys", &plain_token).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error(), Some("insufficient_scope"));
    assert!(reply
        .header("www-authenticate")
        .is_some_and(|c| c.contains("scope=\"admin\"")));

    let garbage = format!("{PAT_PREFIX}not-a-token");
    assert_invalid_token(&admin_api(&app, reqwest::Method::GET, "/admin/api/keys", &garbage).await);

    // bob's tokens: listed and revoked by the administrator, through her token (no CSRF
    // header: no cookie is involved).
    let bob = signed_in(&app, "bob").await;
    let bob_token = create_token(&app, &bob, "bob's script", &["openid"], "30", "").await;
    let bob_sub = userinfo_with_header(&app, &bob_token).await.body["sub"]
        .as_str()
        .expect("sub")
        .to_string();
    assert_eq!(
        admin_api(&app, reqwest::Method::GET, "/admin/api/keys", &bob_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let everyone = admin_api(
        &app,
        reqwest::Method::GET,
        "/admin/api/personal-access-tokens",
        &admin_token,
    )
    .await;
    assert_eq!(everyone.status, StatusCode::OK, "{:?}", everyone.body);
    assert_eq!(
        everyone.body["personal_access_tokens"].as_array().expect("list").len(),
        3
    );
    let listing = admin_api(
        &app,
        reqwest::Method::GET,
        &format!("/admin/api/personal-access-tokens?sub={bob_sub}"),
        &admin_token,
    )
    .await;
    let tokens = listing.body["personal_access_tokens"].as_array().expect("list").clone();
    assert_eq!(tokens.len(), 1, "{:?}", listing.body);
    let bob_entry = &tokens[0];
    assert_eq!(bob_entry["sub"], bob_sub.as_str());
    assert_eq!(bob_entry["name"], "bob's script");
    assert_eq!(bob_entry["scopes"], serde_json::json!(["openid"]));
    assert_eq!(bob_entry["last_used_ip"], "127.0.0.1");
    assert_eq!(bob_entry["revoked_at"], Value::Null);
    assert!(bob_entry.get("token_hash").is_none());
    let text = everyone.body.to_string();
    for secret in [&admin_token, &plain_token, &bob_token] {
        assert!(!text.contains(&sha256_hex(secret)), "no hashes in the listing");
    }
    let bob_id = bob_entry["id"].as_str().expect("id").to_string();

    // Through the browser session, a change still needs the CSRF header.
    let path = format!("/admin/api/personal-access-tokens/{bob_id}");
    let response = alice.http.delete(app.url(&path)).send().await.expect("DELETE");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(userinfo_with_header(&app, &bob_token).await.status, StatusCode::OK);

    let reply = admin_api(&app, reqwest::Method::DELETE, &path, &admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["personal_access_token"]["status"], "revoked");
    assert_invalid_token(&userinfo_with_header(&app, &bob_token).await);
    let again = admin_api(&app, reqwest::Method::DELETE, &path, &admin_token).await;
    assert_eq!(again.status, StatusCode::OK);
    let missing = admin_api(
        &app,
        reqwest::Method::DELETE,
        "/admin/api/personal-access-tokens/unknown",
        &admin_token,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let alice_sub = userinfo_with_header(&app, &plain_token).await.body["sub"]
        .as_str()
        .expect("sub")
        .to_string();
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|r| r.kind == "personal_access_token.revoked")
    })
    .await;
    let revoked: Vec<_> = rows
        .iter()
        .filter(|r| r.kind == "personal_access_token.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "a second revocation records nothing: {rows:?}");
    assert_eq!(
        revoked[0].actor.as_deref(),
        Some(alice_sub.as_str()),
        "by the administrator"
    );
    assert!(revoked[0].detail.contains(&bob_sub) && revoked[0].detail.contains(&bob_id));

    // Revoking her own admin token ends its access at once.
    let own = admin_api(
        &app,
        reqwest::Method::GET,
        "/admin/api/personal-access-tokens",
        &admin_token,
    )
    .await;
    let own_id = own.body["personal_access_tokens"]
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "ops")
        .and_then(|t| t["id"].as_str())
        .expect("the ops token")
        .to_string();
    let (status, _) = revoke_on_page(&app, &alice, &own_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_invalid_token(&admin_api(&app, reqwest::Method::GET, "/admin/api/keys", &admin_token).await);
}

#[tokio::test]
async fn an_administrator_revokes_a_token_on_the_admin_page() {
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;
    let bob = signed_in(&app, "bob").await;
    let bob_token = create_token(&app, &bob, "nightly", &["openid"], "30", "").await;
    let (status, _, _) = bob.visit(&app.url("/admin/personal-access-tokens")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "administrators only");

    let alice = Browser::new();
    sign_in_for_administration(&app, &alice, "alice", "alice-password").await;
    let (status, _, page) = alice.visit(&app.url("/admin/personal-access-tokens")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = token_id(&page, "nightly");
    let entry = token_entry(&page, &id);
    assert!(entry.contains("Owner: bob") && entry.contains("(active)"), "{entry}");
    assert!(!page.contains(&sha256_hex(&bob_token)));

    let action = app.url(&format!("/admin/personal-access-tokens/{id}/revoke"));
    let (status, _, _) = alice.post_form(&action, &[("csrf_token", "forged")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(userinfo_with_header(&app, &bob_token).await.status, StatusCode::OK);

    let csrf = hidden_field(&page, "csrf_token").expect("csrf");
    let (status, _, body) = alice.post_form(&action, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(texts(&body, ".notice-box")[0].contains("was revoked"), "{body}");
    assert!(token_entry(&body, &id).contains("(revoked)"));
    assert_invalid_token(&userinfo_with_header(&app, &bob_token).await);
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|r| r.kind == "personal_access_token.revoked")
    })
    .await;
    let revoked = rows
        .iter()
        .find(|r| r.kind == "personal_access_token.revoked")
        .expect("audited");
    assert_ne!(revoked.actor, None);
    assert!(revoked.detail.contains(&id));
    let bob_sub = rows
        .iter()
        .find(|r| r.kind == "personal_access_token.created")
        .and_then(|r| r.actor.clone())
        .expect("bob created it");
    assert_ne!(revoked.actor.as_deref(), Some(bob_sub.as_str()), "by the administrator");
}
