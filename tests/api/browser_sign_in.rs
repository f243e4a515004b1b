//! Signing in and out in real headless Chromium: the sign-in, consent and sign-out pages
//! as a browser renders them, their forms, and the redirects after those forms, which
//! Chromium checks against the page's Content-Security-Policy `form-action`.
//!
//! The application is a tiny HTTP server on a loopback port of its own, so the browser
//! really lands on it (and Chromium applies `form-action` to a different origin).

use std::sync::{Arc, Mutex};

use openidconnect::TokenResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use gatehouse::config::{ClientConfig, Secret, TokenEndpointAuthMethod};

use crate::support::browser::query_param;
use crate::support::oauth::callback;
use crate::support::relying_party::RelyingParty;
use crate::support::spawn_app::{spawn_app_with, TestApp};
use crate::support::webdriver::WebDriver;

const CLIENT_ID: &str = "browser-app";
const CLIENT_NAME: &str = "Browser Test App";
const CLIENT_SECRET: &str = "browser-app-secret-0123456789";

/// A relying party's web server: answers every GET with a small page showing the
/// request target, and remembers the targets.
struct RelyingPartyServer {
    origin: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl RelyingPartyServer {
    async fn start() -> RelyingPartyServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relying party's port");
        let origin = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, seen.clone()));
            }
        });
        RelyingPartyServer { origin, requests, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Request targets (path and query) received so far for `path`.
    fn requests_for(&self, path: &str) -> Vec<String> {
        self.requests
            .lock()
            .expect("requests lock")
            .iter()
            .filter(|target| target.split('?').next() == Some(path))
            .cloned()
            .collect()
    }
}

impl Drop for RelyingPartyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(mut stream: TcpStream, requests: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    requests.lock().expect("requests lock").push(target.clone());
    let escaped = target
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let body = format!(
        "<!DOCTYPE html><html><head><title>Relying party</title></head>\
         <body><h1>Relying party</h1><p id=\"request\">{escaped}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Gatehouse with a confidential, third-party client (so it asks for consent) whose
/// redirect and sign-out URIs are on the relying party's server.
async fn spawn_app_for(rp_server: &RelyingPartyServer) -> TestApp {
    let client = ClientConfig {
        client_id: CLIENT_ID.into(),
        name: CLIENT_NAME.into(),
        secret: Some(Secret::new(CLIENT_SECRET)),
        redirect_uris: vec![rp_server.url("/callback")],
        post_logout_redirect_uris: vec![rp_server.url("/")],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        first_party: false,
        require_mfa: false,
        ..ClientConfig::default()
    };
    spawn_app_with(move |config| config.clients.push(client)).await
}

/// The URL without its query.
fn base_of(url: &str) -> String {
    callback(url).base
}

/// Checks the page is one of ours with its stylesheet applied (not blocked by the CSP).
async fn assert_gatehouse_page(browser: &WebDriver, title: &str) {
    assert_eq!(browser.title().await, format!("{title} · Gatehouse"));
    let stylesheet_rules = browser
        .execute(
            "const link = document.querySelector('link[rel=stylesheet]');\
             return link && link.sheet ? link.sheet.cssRules.length : -1;",
        )
        .await;
    assert!(
        stylesheet_rules.as_i64().is_some_and(|n| n > 0),
        "the stylesheet is loaded on the {title} page: {stylesheet_rules}"
    );
}

/// On the sign-in page: types the credentials and submits.
async fn submit_sign_in(browser: &WebDriver, username: Option<&str>, password: &str) {
    if let Some(username) = username {
        let field = browser.find("#username").await;
        field.clear().await;
        field.send_keys(username).await;
    }
    browser.find("#password").await.send_keys(password).await;
    browser
        .find("form[action='/login'] button[type=submit]")
        .await
        .click()
        .await;
}

#[tokio::test]
async fn a_person_signs_in_consents_and_signs_out_in_headless_chromium() {
    let rp_server = RelyingPartyServer::start().await;
    let redirect_uri = rp_server.url("/callback");
    let post_logout_uri = rp_server.url("/");
    let app = spawn_app_for(&rp_server).await;
    let rp = RelyingParty::discover(&app, CLIENT_ID, Some(CLIENT_SECRET), &redirect_uri).await;
    let browser = WebDriver::start().await;

    // PKCE S256, state and nonce, scope `openid profile email`.
    let start = rp.start(&["profile", "email"], &[]);
    browser.navigate(&start.url).await;

    // The sign-in page.
    browser
        .wait_for_url("the sign-in page", |url| url.starts_with(&app.url("/login?request=")))
        .await;
    assert_gatehouse_page(&browser, "Sign in").await;
    let lead = browser.find(".lead").await.text().await;
    assert!(lead.contains(CLIENT_NAME), "the sign-in page names the client: {lead}");
    browser.save_screenshot("sign-in").await;
    submit_sign_in(&browser, Some("alice"), "alice-password").await;

    // The consent page.
    browser
        .wait_for_url("the consent page", |url| url.starts_with(&app.url("/consent?request=")))
        .await;
    assert_gatehouse_page(&browser, "Allow access").await;
    let heading = browser.find("h1").await.text().await;
    assert!(
        heading.contains(CLIENT_NAME),
        "the consent page names the client: {heading}"
    );
    let mut scopes = Vec::new();
    for element in browser.find_all(".scope-list .scope-name").await {
        scopes.push(element.text().await);
    }
    assert_eq!(
        scopes,
        ["openid", "profile", "email"],
        "the consent page lists the scopes"
    );
    assert_eq!(browser.find(".meta code").await.text().await, CLIENT_ID);
    browser.save_screenshot("consent").await;
    browser.find("button[name=decision][value=allow]").await.click().await;

    // Back at the application, through a redirect after a form POST that Chromium checks
    // against the consent page's form-action.
    let landed = browser
        .wait_for_url("the application's callback", |url| base_of(url) == redirect_uri)
        .await;
    assert_eq!(query_param(&landed, "state").as_deref(), Some(start.state.as_str()));
    assert_eq!(query_param(&landed, "iss").as_deref(), Some(app.address.as_str()));
    assert_eq!(query_param(&landed, "error"), None, "{landed}");
    let code = query_param(&landed, "code").expect("a code at the callback");
    let target = landed
        .strip_prefix(&rp_server.origin)
        .expect("the callback is on the RP");
    assert_eq!(
        rp_server.requests_for("/callback"),
        [target.to_string()],
        "the application's server received the callback once"
    );
    assert_eq!(browser.find("#request").await.text().await, target);

    // The application redeems the code over HTTP and verifies the ID token.
    let tokens = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("the code from the browser is redeemed");
    let claims = rp.verify_id_token(&tokens, &start.nonce);
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("alice"));
    assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.org"));
    let id_token = tokens.id_token().expect("an ID token").to_string();

    // RP-initiated logout with id_token_hint: straight back to the application.
    let logout_state = gatehouse::crypto::random_token(16);
    let mut logout = url::Url::parse(&app.url("/logout")).expect("logout URL");
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &post_logout_uri)
        .append_pair("state", &logout_state);
    browser.navigate(logout.as_str()).await;
    let signed_out = browser
        .wait_for_url("the application's signed-out page", |url| {
            base_of(url) == post_logout_uri
        })
        .await;
    assert_eq!(
        query_param(&signed_out, "state").as_deref(),
        Some(logout_state.as_str())
    );

    // The session is gone.
    let silent = rp.start(&["profile"], &[("prompt", "none")]);
    browser.navigate(&silent.url).await;
    let answer = browser
        .wait_for_url("the callback of the prompt=none request", |url| {
            base_of(url) == redirect_uri
        })
        .await;
    assert_eq!(
        query_param(&answer, "error").as_deref(),
        Some("login_required"),
        "{answer}"
    );
    assert_eq!(query_param(&answer, "state").as_deref(), Some(silent.state.as_str()));
    assert_eq!(query_param(&answer, "code"), None);
}

#[tokio::test]
async fn a_wrong_password_denial_and_confirmed_sign_out_in_headless_chromium() {
    let rp_server = RelyingPartyServer::start().await;
    let redirect_uri = rp_server.url("/callback");
    let post_logout_uri = rp_server.url("/");
    let app = spawn_app_for(&rp_server).await;
    let rp = RelyingParty::discover(&app, CLIENT_ID, Some(CLIENT_SECRET), &redirect_uri).await;
    let browser = WebDriver::start().await;

    let start = rp.start(&["profile", "email"], &[]);
    browser.navigate(&start.url).await;
    browser
        .wait_for_url("the sign-in page", |url| url.starts_with(&app.url("/login?request=")))
        .await;
    browser.save_screenshot("sign-in").await;

    // A wrong password: the same page again, with the error and the username kept.
    submit_sign_in(&browser, Some("alice"), "not-alices-password").await;
    let error = browser.wait_for_element(".error-box").await.text().await;
    assert_eq!(error, "Invalid username or password.");
    assert!(
        browser.current_url().await.starts_with(&app.url("/login")),
        "still on the sign-in page"
    );
    assert_gatehouse_page(&browser, "Sign in").await;
    let username = browser.find("#username").await;
    assert_eq!(username.property("value").await.as_deref(), Some("alice"));
    assert_eq!(
        browser.find("#password").await.property("value").await.as_deref(),
        Some(""),
        "the password field starts empty again"
    );
    assert!(
        !browser.page_source().await.contains("not-alices-password"),
        "the password is not sent back"
    );
    browser.save_screenshot("sign-in-error").await;

    // The re-rendered form works: the right password leads to the consent page.
    submit_sign_in(&browser, None, "alice-password").await;
    browser
        .wait_for_url("the consent page", |url| url.starts_with(&app.url("/consent?request=")))
        .await;
    browser.save_screenshot("consent").await;

    // Deny: the application hears access_denied.
    browser.find("button[name=decision][value=deny]").await.click().await;
    let denied = browser
        .wait_for_url("the application's callback", |url| base_of(url) == redirect_uri)
        .await;
    assert_eq!(
        query_param(&denied, "error").as_deref(),
        Some("access_denied"),
        "{denied}"
    );
    assert_eq!(query_param(&denied, "state").as_deref(), Some(start.state.as_str()));
    assert_eq!(query_param(&denied, "iss").as_deref(), Some(app.address.as_str()));
    assert_eq!(query_param(&denied, "code"), None);

    // Sign-out without id_token_hint needs the person's confirmation; that form's
    // redirect goes to the application, which the confirmation page's CSP must allow.
    let logout_state = gatehouse::crypto::random_token(16);
    let mut logout = url::Url::parse(&app.url("/logout")).expect("logout URL");
    logout
        .query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("post_logout_redirect_uri", &post_logout_uri)
        .append_pair("state", &logout_state);
    browser.navigate(logout.as_str()).await;
    assert_gatehouse_page(&browser, "Sign out").await;
    let text = browser.page_text().await;
    assert!(text.contains(CLIENT_NAME), "the confirmation names the client: {text}");
    browser
        .find("form[action='/logout'] button[name=confirm][value=yes]")
        .await
        .click()
        .await;
    let signed_out = browser
        .wait_for_url("the application's signed-out page", |url| {
            base_of(url) == post_logout_uri
        })
        .await;
    assert_eq!(
        query_param(&signed_out, "state").as_deref(),
        Some(logout_state.as_str())
    );
    assert_eq!(rp_server.requests_for("/").len(), 1, "one sign-out landing");

    let silent = rp.start(&[], &[("prompt", "none")]);
    browser.navigate(&silent.url).await;
    let answer = browser
        .wait_for_url("the callback of the prompt=none request", |url| {
            base_of(url) == redirect_uri
        })
        .await;
    assert_eq!(
        query_param(&answer, "error").as_deref(),
        Some("login_required"),
        "{answer}"
    );
}
