//! The sign-in page: failures that give nothing away, usernames that try to inject LDAP
//! filters, people with unusual names, CSRF, the headers pages carry, and health checks.

use openidconnect::TokenResponse;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::support::browser::{hidden_field, Browser};
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::*;
use crate::support::relying_party::RelyingParty;
use crate::support::spawn_app::*;

const INVALID_CREDENTIALS: &str = "Invalid username or password.";

/// Starts an authorization request of the confidential client and returns its sign-in page.
async fn pending_login_url(app: &TestApp, browser: &Browser) -> String {
    let url = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).url(app);
    let location = redirect_of(browser, &url).await;
    assert!(is_login_page(app, &location), "{location}");
    location
}

/// Fills in the sign-in page and returns the raw answer (status, headers, body).
async fn attempt_sign_in(
    browser: &Browser,
    login_url: &str,
    username: &str,
    password: &str,
) -> (StatusCode, HeaderMap, String) {
    let page = browser.form_page(login_url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let action = login_url.split('?').next().expect("url");
    let response = browser
        .http
        .post(action)
        .form(&[
            ("request", page.request.as_str()),
            ("csrf_token", page.csrf_token.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /login");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

/// The text of the page's error box, if it shows one.
fn error_box(body: &str) -> Option<String> {
    let document = Html::parse_document(body);
    let selector = Selector::parse(".error-box").expect("valid selector");
    document
        .select(&selector)
        .next()
        .map(|element| element.text().collect::<String>().trim().to_string())
}

fn assert_refused(username: &str, status: StatusCode, headers: &HeaderMap, body: &str) {
    assert_eq!(status, StatusCode::OK, "{username}: the form is shown again");
    assert!(headers.get("location").is_none(), "{username}: no redirect");
    assert_eq!(error_box(body).as_deref(), Some(INVALID_CREDENTIALS), "{username}");
    assert!(
        set_cookies(headers, SESSION_COOKIE).is_empty(),
        "{username}: no session cookie after a failed sign-in"
    );
    assert_eq!(
        hidden_field(body, "username").as_deref(),
        Some(username),
        "the username is kept in the form"
    );
}

#[tokio::test]
async fn sign_in_failure_is_identical_for_unknown_user_and_wrong_password() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let login_url = pending_login_url(&app, &browser).await;

    let (wrong_status, wrong_headers, wrong_body) =
        attempt_sign_in(&browser, &login_url, "alice", "not-alices-password").await;
    let (unknown_status, unknown_headers, unknown_body) =
        attempt_sign_in(&browser, &login_url, "nobody-by-this-name", "not-alices-password").await;

    assert_refused("alice", wrong_status, &wrong_headers, &wrong_body);
    assert_refused("nobody-by-this-name", unknown_status, &unknown_headers, &unknown_body);
    // Same browser, same pending request, same CSRF cookie: apart from the username
    // echoed back into the form, the two pages must be byte for byte the same.
    assert_eq!(
        wrong_body.replace("value=\"alice\"", "value=\"USER\""),
        unknown_body.replace("value=\"nobody-by-this-name\"", "value=\"USER\""),
        "the pages differ: existence of the account leaks"
    );
    assert!(!is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn sign_in_refuses_filter_injection_usernames_with_a_real_password() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let login_url = pending_login_url(&app, &browser).await;
    for (username, password) in [
        ("*", "alice-password"),
        (")(uid=*", "alice-password"),
        ("admin*", "admin2-password"),
        ("*)(|(uid=*", "alice-password"),
        ("alice)(uid=*", "alice-password"),
        ("al*", "alice-password"),
    ] {
        let (status, headers, body) = attempt_sign_in(&browser, &login_url, username, password).await;
        assert_refused(username, status, &headers, &body);
    }
    assert!(!is_signed_in(&app, &browser).await, "no attempt signed anyone in");
}

#[tokio::test]
async fn people_with_special_characters_sign_in_through_the_full_flow() {
    let app = spawn_app().await;
    let rp = RelyingParty::discover(&app, CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET), CONFIDENTIAL_REDIRECT).await;
    let mut subjects = Vec::new();
    for (username, password, name, email) in [
        ("o*malley", "omalley-password", "Orla O'Malley", "omalley@example.org"),
        ("a(b)c", "abc-password", "Abe Cee", "abc@example.org"),
        ("jose", "pässwörd-ñ-日本", "José Müller-Ñúñez", "jose@example.org"),
    ] {
        let browser = Browser::new();
        let start = rp.start(&["profile", "email"], &[]);
        let location = browser.authorize(&start.url, username, password).await;
        let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
        let tokens = rp
            .exchange(&code, start.pkce_verifier)
            .await
            .expect("the code is redeemed");
        let claims = rp.verify_id_token(&tokens, &start.nonce);
        assert_eq!(
            claims.preferred_username().map(|u| u.as_str()),
            Some(username),
            "{username}"
        );
        assert_eq!(
            claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
            Some(name),
            "{username}"
        );
        assert_eq!(claims.email().map(|e| e.as_str()), Some(email), "{username}");
        subjects.push(claims.subject().to_string());
    }
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 3, "three different people");
}

#[tokio::test]
async fn sign_in_without_a_valid_csrf_token_is_refused() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let login_url = pending_login_url(&app, &browser).await;
    let page = browser.form_page(&login_url).await;
    let other_browser = Browser::new();
    let foreign_token = other_browser.form_page(&app.url("/login")).await.csrf_token;
    assert!(!foreign_token.is_empty() && foreign_token != page.csrf_token);

    let attempts: [(&Browser, &str, &str); 4] = [
        (&browser, "", "no token"),
        (&browser, "forged-token", "a made-up token"),
        (&browser, &foreign_token, "another browser's token"),
        (&Browser::new(), &page.csrf_token, "no CSRF cookie"),
    ];
    for (client, token, case) in attempts {
        let response = client
            .http
            .post(app.url("/login"))
            .form(&[
                ("request", page.request.as_str()),
                ("csrf_token", token),
                ("username", "alice"),
                ("password", "alice-password"),
            ])
            .send()
            .await
            .expect("POST /login");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert!(response.headers().get("location").is_none(), "{case}");
        assert!(
            set_cookies(response.headers(), SESSION_COOKIE).is_empty(),
            "{case}: no session cookie"
        );
        let body = response.text().await.expect("body");
        assert_eq!(
            error_box(&body).as_deref(),
            Some("This form had expired. Please enter your password again."),
            "{case}"
        );
    }
    assert!(!is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn a_person_without_email_gets_no_email_claim_even_with_the_email_scope() {
    let app = spawn_app().await;
    let rp = RelyingParty::discover(&app, CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET), CONFIDENTIAL_REDIRECT).await;
    let start = rp.start(&["profile", "email"], &[]);
    let browser = Browser::new();
    let location = browser.authorize(&start.url, "carol", "carol-password").await;
    let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
    let tokens = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("the code is redeemed");
    let claims = rp.verify_id_token(&tokens, &start.nonce);
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("carol"));
    assert!(claims.email().is_none());

    let payload = decode_jwt_payload(&tokens.id_token().expect("ID token").to_string());
    assert!(payload.get("email").is_none(), "{payload}");
    assert!(payload.get("email_verified").is_none(), "{payload}");
    assert_eq!(payload["name"], "Carol Danvers");

    let access_token = openidconnect::OAuth2TokenResponse::access_token(&tokens)
        .secret()
        .clone();
    let userinfo = userinfo_with_header(&app, &access_token).await;
    assert_eq!(userinfo.status, StatusCode::OK);
    assert!(userinfo.body.get("email").is_none(), "{}", userinfo.body);
    assert!(userinfo.body.get("email_verified").is_none(), "{}", userinfo.body);
}

#[tokio::test]
async fn pages_carry_security_headers_and_the_session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let login_url = pending_login_url(&app, &browser).await;
    let error_url = app.url("/authorize?client_id=nobody");
    for url in [login_url.as_str(), error_url.as_str(), &app.url("/")] {
        let response = browser.http.get(url).send().await.expect("GET");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ASCII").to_string())
                .unwrap_or_default()
        };
        assert!(header("content-type").starts_with("text/html"), "{url}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{url}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{url}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{url}");
        assert_eq!(header("cache-control"), "no-store", "{url}");
    }

    let (status, headers, body) = attempt_sign_in(&browser, &login_url, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let cookies = set_cookies(&headers, SESSION_COOKIE);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attributes: Vec<String> = cookies[0]
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.iter().any(|a| a == "httponly"), "{}", cookies[0]);
    assert!(attributes.iter().any(|a| a == "samesite=lax"), "{}", cookies[0]);
    assert!(attributes.iter().any(|a| a == "path=/"), "{}", cookies[0]);
}

#[tokio::test]
async fn health_checks_report_the_process_database_and_directory() {
    let app = spawn_app().await;
    let healthz = JsonReply::read(reqwest::get(app.url("/healthz")).await.expect("GET /healthz")).await;
    assert_eq!(healthz.status, StatusCode::OK);
    assert_eq!(healthz.body["status"], "ok");

    let readyz = JsonReply::read(reqwest::get(app.url("/readyz")).await.expect("GET /readyz")).await;
    assert_eq!(readyz.status, StatusCode::OK, "{}", readyz.body);
    assert_eq!(readyz.body["status"], "ready");
    assert_eq!(readyz.body["database"], "ok");
    assert_eq!(readyz.body["directory"], "ok");
}
