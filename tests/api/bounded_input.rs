//! Every input has a size. An over-long authorization parameter is `invalid_request` at the
//! client's redirect URI (an error page while the client or redirect URI is in doubt), is
//! never echoed back, and leaves nothing stored; the same caps hold at `/logout` and on the
//! protocol forms, and `/authorize` is rate-limited per client address.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::audit::audit_rows_until;
use crate::support::browser::{hidden_field, Browser};
use crate::support::oauth::*;
use crate::support::spawn_app::*;

async fn pending_authorizations(database_url: &str) -> i64 {
    let db = Database::connect(database_url)
        .await
        .expect("connect to the test database");
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM pending_authorizations",
        ))
        .await
        .expect("count pending_authorizations")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("count")
}

fn long(bytes: usize) -> String {
    "x".repeat(bytes)
}

/// The redirect of an over-long parameter: `invalid_request` with `iss`, naming the
/// parameter, and short (the long value is not in it).
fn assert_too_long_redirect(app: &TestApp, location: &str, parameter: &str) {
    let answer = callback(location);
    assert_eq!(answer.base, CONFIDENTIAL_REDIRECT, "{parameter}: {location}");
    assert_eq!(
        answer.error.as_deref(),
        Some("invalid_request"),
        "{parameter}: {location}"
    );
    assert_eq!(answer.iss.as_deref(), Some(app.address.as_str()));
    assert!(answer.code.is_none());
    let description = crate::support::browser::query_param(location, "error_description").unwrap_or_default();
    assert!(
        description.contains(parameter) && description.contains("too long"),
        "{parameter}: {description}"
    );
    assert!(
        location.len() < 4096,
        "{parameter}: the answer is short: {} bytes",
        location.len()
    );
}

/// The attack of issue 10: a 60 KB `state`, by GET and by POST, once stored a pending
/// request each time. Now it is refused at once, the state is not echoed, nothing is stored.
#[tokio::test]
async fn an_over_long_state_is_invalid_request_and_stores_nothing() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let huge_state = long(60 * 1024);
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("state", &huge_state);

    let location = redirect_of(&browser, &request.url(&app)).await;
    assert_too_long_redirect(&app, &location, "state");
    assert!(callback(&location).state.is_none(), "the over-long state is not echoed");

    let posted = browser
        .http
        .post(app.url("/authorize"))
        .form(&request.params)
        .send()
        .await
        .expect("POST /authorize");
    assert_eq!(posted.status(), StatusCode::FOUND);
    let location = posted.headers()["location"].to_str().unwrap().to_string();
    assert_too_long_redirect(&app, &location, "state");

    assert_eq!(pending_authorizations(&app.database_url).await, 0, "nothing was stored");

    // At the limit, the request goes on (to the sign-in page) as before.
    let at_limit = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("state", &long(2048));
    let location = redirect_of(&browser, &at_limit.url(&app)).await;
    assert!(is_login_page(&app, &location), "{location}");
    assert_eq!(pending_authorizations(&app.database_url).await, 1);
}

#[tokio::test]
async fn every_stored_or_echoed_authorize_parameter_has_a_cap() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let cases = [
        ("nonce", long(513)),
        ("login_hint", long(513)),
        ("id_token_hint", long(8 * 1024 + 1)),
        ("acr_values", long(513)),
        ("ui_locales", long(257)),
        ("claims_locales", long(257)),
        ("scope", format!("openid {}", long(2048))),
        ("code_challenge", long(129)),
        ("max_age", "1".repeat(17)),
        ("prompt", format!("login{}", " ".repeat(100))),
        ("display", long(65)),
        ("claims", long(4097)),
        ("some_extension", long(2049)),
    ];
    for (name, value) in cases {
        let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set(name, &value);
        let location = redirect_of(&browser, &request.url(&app)).await;
        let parameter = if name == "some_extension" { "parameter" } else { name };
        assert_too_long_redirect(&app, &location, parameter);
        assert_eq!(
            callback(&location).state.as_deref(),
            Some(STATE),
            "{name}: a good state is echoed"
        );
    }

    // A flood of parameters is refused too, whatever their size.
    let mut many = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT);
    for i in 0..100 {
        many = many.set(&format!("p{i}"), "v");
    }
    let location = redirect_of(&browser, &many.url(&app)).await;
    assert_eq!(
        callback(&location).error.as_deref(),
        Some("invalid_request"),
        "{location}"
    );
    assert!(location.contains("too+many+parameters"), "{location}");

    assert_eq!(pending_authorizations(&app.database_url).await, 0, "nothing was stored");
}

/// While the client or its redirect URI is in doubt there is nowhere to redirect: a page,
/// never a 500.
#[tokio::test]
async fn an_over_long_client_id_or_redirect_uri_gets_an_error_page() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let cases = [
        (
            AuthorizeRequest::new(&long(10_000), CONFIDENTIAL_REDIRECT),
            "The client_id parameter is too long",
        ),
        (
            AuthorizeRequest::new(CONFIDENTIAL_ID, &format!("{CONFIDENTIAL_REDIRECT}?{}", long(10_000))),
            "The redirect_uri parameter is too long",
        ),
    ];
    for (request, expected) in cases {
        let response = browser.http.get(request.url(&app)).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("location").is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{expected}: {body}");
        assert!(body.len() < 10_000, "the value is not echoed");
    }
    assert_eq!(pending_authorizations(&app.database_url).await, 0);
}

#[tokio::test]
async fn authorize_is_rate_limited_per_address_with_a_page() {
    let app = spawn_app_with(|config| config.rate_limits.authorize_per_ip = 2).await;
    let browser = Browser::new();
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT);

    let first = browser.http.get(request.url(&app)).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::FOUND);
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    // POST counts against the same budget.
    let second = browser
        .http
        .post(app.url("/authorize"))
        .form(&request.params)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::FOUND);
    assert_eq!(second.headers()["x-ratelimit-remaining"], "0");

    let refused = browser.http.get(request.url(&app)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = refused.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let wait: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(headers["x-ratelimit-limit"], "2");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["x-ratelimit-reset"].to_str().unwrap(), wait.to_string());
    assert!(headers.get("location").is_none());
    let body = refused.text().await.unwrap();
    assert!(body.contains("Too many attempts, try again in"), "{body}");
    assert_eq!(
        pending_authorizations(&app.database_url).await,
        2,
        "the refused one stored nothing"
    );

    app.clock.advance(61);
    let again = browser.http.get(request.url(&app)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn logout_refuses_over_long_parameters_without_echoing_them() {
    let app = spawn_app().await;
    let browser = Browser::new();
    sign_in(&app, &browser, "alice", "alice-password").await;
    let huge_state = long(60 * 1024);
    let url = format!(
        "{}?client_id={CONFIDENTIAL_ID}&post_logout_redirect_uri={}&state={huge_state}",
        app.url("/logout"),
        url::form_urlencoded::byte_serialize(CONFIDENTIAL_POST_LOGOUT.as_bytes()).collect::<String>(),
    );
    let (status, location, body) = browser.visit(&url).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(location.is_none());
    assert!(body.contains("The state parameter is too long"), "{body}");
    assert!(!body.contains(&huge_state[..4096]), "the state is not echoed");
    assert!(is_signed_in(&app, &browser).await, "nobody was signed out");
}

#[tokio::test]
async fn protocol_forms_refuse_over_long_fields_and_floods_of_fields() {
    let app = spawn_app().await;
    let basic = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));
    let code = long(10_000);
    let reply = token_request(
        &app,
        basic,
        &[("grant_type", "authorization_code"), ("code", code.as_str())],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.error(), Some("invalid_request"), "{:?}", reply.body);
    let description = reply.body["error_description"].as_str().unwrap();
    assert!(description.contains("code parameter is too long"), "{description}");

    let names: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
    let mut flood: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    flood.push(("grant_type", "client_credentials"));
    let reply = token_request(&app, basic, &flood).await;
    assert_eq!(reply.error(), Some("invalid_request"), "{:?}", reply.body);

    for path in ["/revoke", "/introspect"] {
        let token = long(9000);
        let response = http_client()
            .post(app.url(path))
            .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        let reply = JsonReply::read(response).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {:?}", reply.body);
        assert_eq!(reply.error(), Some("invalid_request"), "{path}: {:?}", reply.body);
    }
}

/// A sign-in with a 60 KB username is refused before anything: the directory is not
/// asked, the page does not echo it, nothing records it; a 60 KB password is a wrong
/// password, and the audit trail keeps a bounded record of it.
#[tokio::test]
async fn the_sign_in_form_bounds_what_it_echoes_and_records() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let huge = long(60 * 1024);
    let (status, _, body) = browser.submit_login(&app.url("/login"), &huge, "wrong-password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("That username is not valid."), "{body}");
    assert_eq!(hidden_field(&body, "username").unwrap_or_default().len(), 0);
    assert!(body.len() < 20_000, "the username is not echoed: {} bytes", body.len());

    let (status, _, body) = browser
        .submit_login(&app.url("/login"), "alice", &long(60 * 1024))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Invalid username or password."), "{body}");

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().filter(|r| r.kind == "sign_in.failed").count() >= 2
    })
    .await;
    let failed: Vec<_> = rows.iter().filter(|r| r.kind == "sign_in.failed").collect();
    assert_eq!(failed.len(), 1, "only the wrong password is a failed sign-in: {rows:?}");
    for row in rows {
        assert!(
            row.actor.as_deref().unwrap_or_default().len() <= 256 && row.detail.len() <= 4096,
            "the audit trail keeps a bounded record: {} bytes",
            row.detail.len()
        );
    }
}

/// Beyond the parameter limits, the server's own: a body over 64 KB, an address over the
/// HTTP head limit. A client error either way, never a 500.
#[tokio::test]
async fn oversized_bodies_and_addresses_are_client_errors() {
    let app = spawn_app().await;
    let browser = Browser::new();
    let huge = long(100 * 1024);
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT).set("state", &huge);
    let posted = browser
        .http
        .post(app.url("/authorize"))
        .form(&request.params)
        .send()
        .await
        .expect("POST /authorize");
    assert_eq!(posted.status(), StatusCode::PAYLOAD_TOO_LARGE);
    for path in ["/token", "/logout", "/login"] {
        let response = browser
            .http
            .post(app.url(path))
            .form(&[("state", huge.as_str())])
            .send()
            .await
            .expect("POST");
        assert!(response.status().is_client_error(), "{path}: {}", response.status());
    }
    let response = browser.http.get(request.url(&app)).send().await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "GET: {}", response.status());
    }
    assert_eq!(pending_authorizations(&app.database_url).await, 0);
}
