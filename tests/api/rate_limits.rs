//! Rate limits: the `X-RateLimit-*` headers counting down on every response of the limited
//! endpoints (errors included), 429 with `Retry-After` over a limit (JSON on the protocol
//! endpoints, a page on the sign-in pages), recovery once the window has passed (the test
//! clock moves, nobody sleeps), per-client budgets that wrong credentials cannot spend,
//! addresses taken from `X-Forwarded-For` only behind a trusted proxy, and wrong passwords
//! per username counted in the database so every instance refuses.

use gatehouse::config::{Config, Secret};
use gatehouse::directory::Directory;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::audit::audit_rows_until;
use crate::support::browser::Browser;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

/// A code that was never issued: every token request with it fails with `invalid_grant`
/// once the client is authenticated.
const BOGUS_CODE: &[(&str, &str)] = &[
    ("grant_type", "authorization_code"),
    ("code", "never-issued"),
    ("redirect_uri", CONFIDENTIAL_REDIRECT),
];

/// (limit, remaining, reset) from the headers; every one must be there.
fn rate_headers(headers: &HeaderMap) -> (u32, u32, i64) {
    let number = |name: &str| -> i64 {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} is missing from {headers:?}"))
            .to_str()
            .expect("ASCII header")
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not a number: {e}"))
    };
    let reset = number("x-ratelimit-reset");
    (
        number("x-ratelimit-limit") as u32,
        number("x-ratelimit-remaining") as u32,
        reset,
    )
}

fn retry_after(headers: &HeaderMap) -> i64 {
    headers
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .expect("ASCII header")
        .parse()
        .expect("Retry-After in seconds")
}

fn assert_json_429(reply: &JsonReply, window: i64) {
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", reply.body);
    assert_eq!(reply.error(), Some("temporarily_unavailable"), "{:?}", reply.body);
    assert!(reply.body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let wait = retry_after(&reply.headers);
    assert!((1..=window).contains(&wait), "Retry-After {wait}");
    let (_, remaining, reset) = rate_headers(&reply.headers);
    assert_eq!(remaining, 0);
    assert_eq!(reset, wait, "Retry-After and X-RateLimit-Reset agree");
}

async fn post_with_forwarded_for(app: &TestApp, forwarded_for: &str) -> JsonReply {
    let response = http_client()
        .post(app.url("/token"))
        .header("x-forwarded-for", forwarded_for)
        .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
        .form(BOGUS_CODE)
        .send()
        .await
        .expect("token request");
    JsonReply::read(response).await
}

#[tokio::test]
async fn token_endpoint_counts_down_refuses_with_retry_after_and_recovers_after_the_window() {
    let app = spawn_app_with(|config| {
        config.rate_limits.window_seconds = 60;
        config.rate_limits.token_per_ip = 3;
    })
    .await;
    let basic = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));

    for expected_remaining in [2, 1, 0] {
        let reply = token_request(&app, basic, BOGUS_CODE).await;
        // An error answer carries the headers too.
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
        assert_eq!(reply.error(), Some("invalid_grant"));
        let (limit, remaining, reset) = rate_headers(&reply.headers);
        assert_eq!((limit, remaining), (3, expected_remaining));
        assert!((1..=60).contains(&reset), "reset {reset}");
    }
    let refused = token_request(&app, basic, BOGUS_CODE).await;
    assert_json_429(&refused, 60);
    assert_eq!(rate_headers(&refused.headers).0, 3);
    // A refused request is not counted: still refused, not further behind.
    assert_json_429(&token_request(&app, basic, BOGUS_CODE).await, 60);

    app.clock.advance(61);
    let recovered = token_request(&app, basic, BOGUS_CODE).await;
    assert_eq!(recovered.error(), Some("invalid_grant"), "{:?}", recovered.body);
    assert_eq!(rate_headers(&recovered.headers), (3, 2, 60));

    let rows = audit_rows_until(&app.database_url, |rows| rows.iter().any(|r| r.kind == "rate_limited")).await;
    let limited: Vec<_> = rows.iter().filter(|r| r.kind == "rate_limited").collect();
    assert_eq!(limited.len(), 1, "one audit event per bucket and window: {limited:?}");
    assert_eq!(limited[0].actor.as_deref(), Some("127.0.0.1"));
    assert!(limited[0].detail.contains("token_per_ip"), "{}", limited[0].detail);
}

#[tokio::test]
async fn each_client_has_its_own_budget_that_wrong_credentials_cannot_spend() {
    let app = spawn_app_with(|config| {
        config.rate_limits.token_per_ip = 1000;
        config.rate_limits.token_per_client = 2;
    })
    .await;
    let basic = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));
    for expected_remaining in [1, 0] {
        let reply = token_request(&app, basic, BOGUS_CODE).await;
        assert_eq!(reply.error(), Some("invalid_grant"), "{:?}", reply.body);
        let (limit, remaining, _) = rate_headers(&reply.headers);
        assert_eq!(
            (limit, remaining),
            (2, expected_remaining),
            "the client's bucket is the tighter one"
        );
    }
    assert_json_429(&token_request(&app, basic, BOGUS_CODE).await, 60);

    // Another client, from the same address, is not affected. It authenticates in the
    // form body, which the limiter reads and the token endpoint still gets intact.
    let post_fields = |secret: &'static str| {
        let mut fields = BOGUS_CODE.to_vec();
        fields.push(("client_id", POST_CLIENT_ID));
        fields.push(("client_secret", secret));
        fields
    };
    for _ in 0..5 {
        let wrong = token_request(&app, None, &post_fields("not-the-secret-at-all")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{:?}", wrong.body);
        assert_eq!(wrong.error(), Some("invalid_client"));
        assert_eq!(
            rate_headers(&wrong.headers).1,
            2,
            "a 401 does not count against the client"
        );
    }
    let right = token_request(&app, None, &post_fields(POST_CLIENT_SECRET)).await;
    assert_eq!(
        right.error(),
        Some("invalid_grant"),
        "the body reached the handler: {:?}",
        right.body
    );
    assert_eq!(rate_headers(&right.headers).1, 1);

    // Once a client's budget is gone, every request naming it waits, whatever it presents.
    let wrong_for_exhausted = token_request(&app, Some((CONFIDENTIAL_ID, "not-the-secret-at-all")), BOGUS_CODE).await;
    assert_json_429(&wrong_for_exhausted, 60);

    app.clock.advance(60);
    let again = token_request(&app, basic, BOGUS_CODE).await;
    assert_eq!(again.error(), Some("invalid_grant"), "{:?}", again.body);
    assert_eq!(rate_headers(&again.headers).1, 1);
}

#[tokio::test]
async fn a_forged_forwarded_for_does_not_escape_the_limit_but_a_trusted_proxy_is_believed() {
    let direct = spawn_app_with(|config| config.rate_limits.token_per_ip = 2).await;
    assert_eq!(
        post_with_forwarded_for(&direct, "203.0.113.1").await.error(),
        Some("invalid_grant")
    );
    assert_eq!(
        post_with_forwarded_for(&direct, "203.0.113.2").await.error(),
        Some("invalid_grant")
    );
    assert_json_429(&post_with_forwarded_for(&direct, "203.0.113.3").await, 60);

    let proxied = spawn_app_with(|config| {
        config.rate_limits.token_per_ip = 2;
        config.network.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    for _ in 0..2 {
        let reply = post_with_forwarded_for(&proxied, "203.0.113.1").await;
        assert_eq!(reply.error(), Some("invalid_grant"), "{:?}", reply.body);
    }
    assert_json_429(&post_with_forwarded_for(&proxied, "203.0.113.1").await, 60);
    let other = post_with_forwarded_for(&proxied, "203.0.113.2").await;
    assert_eq!(other.error(), Some("invalid_grant"), "{:?}", other.body);
    assert_eq!(rate_headers(&other.headers), (2, 1, 60));
}

/// A public client proves nothing about itself, so a stranger sending its `client_id` must
/// not spend the budget of its real users elsewhere: its bucket is per client and address.
#[tokio::test]
async fn strangers_cannot_spend_a_public_clients_budget() {
    let app = spawn_app_with(|config| {
        config.rate_limits.token_per_client = 2;
        config.network.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let refresh_as_public_client = |forwarded_for: &'static str| {
        let app = &app;
        async move {
            let response = http_client()
                .post(app.url("/token"))
                .header("x-forwarded-for", forwarded_for)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", PUBLIC_ID),
                    ("refresh_token", "never-issued"),
                ])
                .send()
                .await
                .expect("token request");
            JsonReply::read(response).await
        }
    };
    for _ in 0..2 {
        let reply = refresh_as_public_client("198.51.100.66").await;
        assert_eq!(reply.error(), Some("invalid_grant"), "{:?}", reply.body);
    }
    assert_json_429(&refresh_as_public_client("198.51.100.66").await, 60);
    // The application's real users, elsewhere, still have their budget.
    let user = refresh_as_public_client("203.0.113.7").await;
    assert_eq!(user.error(), Some("invalid_grant"), "{:?}", user.body);
    assert_eq!(rate_headers(&user.headers).1, 1);
}

#[tokio::test]
async fn userinfo_revocation_and_introspection_carry_the_headers_and_refuse_over_the_limit() {
    let app = spawn_app_with(|config| {
        config.rate_limits.userinfo_per_ip = 2;
        config.rate_limits.revoke_per_client = 1;
        config.rate_limits.introspect_per_ip = 1;
    })
    .await;
    let unauthorized = userinfo_with_header(&app, "not-a-token").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    let (limit, remaining, _) = rate_headers(&unauthorized.headers);
    assert_eq!((limit, remaining), (2, 1));
    userinfo_with_header(&app, "not-a-token").await;
    assert_json_429(&userinfo_with_header(&app, "not-a-token").await, 60);

    let call = |path: &'static str| {
        let url = app.url(path);
        async move {
            let response = http_client()
                .post(url)
                .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
                .form(&[("token", "not-a-token")])
                .send()
                .await
                .expect("request");
            JsonReply::read(response).await
        }
    };
    let revoked = call("/revoke").await;
    assert_ne!(revoked.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", revoked.body);
    assert_eq!(rate_headers(&revoked.headers).1, 0);
    assert_json_429(&call("/revoke").await, 60);

    let introspected = call("/introspect").await;
    assert_ne!(
        introspected.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        introspected.body
    );
    assert_eq!(rate_headers(&introspected.headers).1, 0);
    assert_json_429(&call("/introspect").await, 60);
}

#[tokio::test]
async fn sign_in_pages_count_submissions_and_refuse_with_a_page() {
    let app = spawn_app_with(|config| {
        config.rate_limits.login_per_ip = 2;
        config.rate_limits.second_factor_per_ip = 1;
    })
    .await;
    let browser = Browser::new();
    let login = app.url("/login");

    // Showing the form counts nothing but reports the headers.
    let shown = browser.http.get(&login).send().await.expect("GET /login");
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(rate_headers(shown.headers()), (2, 2, 60));

    for _ in 0..2 {
        let (status, _, body) = browser.submit_login(&login, "bob", "wrong-password").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Invalid username or password."));
    }
    let page = browser.form_page(&login).await;
    let refused = browser
        .http
        .post(&login)
        .form(&[
            ("csrf_token", page.csrf_token.as_str()),
            ("username", "bob"),
            ("password", "bob-password"),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = refused.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let wait = retry_after(&headers);
    assert_eq!(rate_headers(&headers), (2, 0, wait));
    let body = refused.text().await.unwrap();
    assert!(body.contains("Too many attempts, try again in"), "{body}");

    app.clock.advance(61);
    let (status, location, body) = browser.submit_login(&login, "bob", "bob-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some(app.url("/").as_str()));

    // The second-factor step has its own, tighter budget.
    let totp = app.url("/login/totp");
    let first = browser
        .http
        .post(&totp)
        .form(&[("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rate_headers(first.headers()).1, 0);
    let second = browser
        .http
        .post(&totp)
        .form(&[("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.text().await.unwrap().contains("Too many attempts"));
}

/// The failed attempts counted against `username`'s directory entry.
async fn failures_in_database(app: &TestApp, username: &str) -> Option<i64> {
    let db = Database::connect(&app.database_url)
        .await
        .expect("connect to the test database");
    let person = app
        .state
        .directory
        .authenticate_user(username, &format!("{username}-password"))
        .await
        .expect("the person exists");
    let hash = app.state.attempt_keys.entry_key(&person.id);
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        "SELECT username_hash, failures FROM login_failures",
    ))
    .await
    .expect("read login_failures")
    .iter()
    .find(|row| row.try_get::<String>("", "username_hash").expect("hash") == hash)
    .map(|row| i64::from(row.try_get::<i32>("", "failures").expect("failures")))
}

#[tokio::test]
async fn wrong_passwords_lock_a_username_on_every_instance_until_the_window_passes() {
    let master_key = gatehouse::crypto::hex_encode(&gatehouse::crypto::random_bytes(32));
    let limits = |config: &mut Config| {
        config.rate_limits.login_failures_per_username = 3;
        config.rate_limits.login_failures_window_seconds = 900;
    };
    let key = master_key.clone();
    let one = spawn_app_with(|config| {
        limits(config);
        config.master_key = Some(Secret::new(key));
    })
    .await;
    let shared_database = one.database_url.clone();
    let two = spawn_app_with(|config| {
        limits(config);
        config.master_key = Some(Secret::new(master_key));
        config.database.url = Some(Secret::new(shared_database));
    })
    .await;

    let browser = Browser::new();
    for _ in 0..3 {
        let (status, _, body) = browser.submit_login(&one.url("/login"), "bob", "wrong-password").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Invalid username or password."));
    }
    assert_eq!(failures_in_database(&one, "bob").await, Some(3));

    // Now even the right password waits, on this instance and on the other one.
    for (app, username) in [(&one, "bob"), (&two, "bob"), (&two, "BOB")] {
        let (status, _, body) = Browser::new()
            .submit_login(&app.url("/login"), username, "bob-password")
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{username}: {body}");
        assert!(body.contains("Too many attempts, try again in 15 minutes"), "{body}");
    }
    // Other people are not affected.
    let (status, _, body) = Browser::new()
        .submit_login(&two.url("/login"), "alice", "alice-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    let rows = audit_rows_until(&one.database_url, |rows| {
        rows.iter()
            .filter(|r| r.kind == "rate_limited" && r.detail.contains("login_failures_per_username"))
            .count()
            >= 3
    })
    .await;
    for row in rows.iter().filter(|r| r.kind == "rate_limited") {
        let actor = row.actor.as_deref().unwrap_or_default();
        assert!(!actor.to_lowercase().contains("bob"), "no username in clear: {row:?}");
    }

    // After the window, the right password works again and clears the count.
    one.clock.advance(901);
    let (status, _, body) = browser.submit_login(&one.url("/login"), "bob", "bob-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(failures_in_database(&one, "bob").await, None);
    let (status, _, body) = Browser::new()
        .submit_login(&two.url("/login"), "bob", "bob-password")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

/// A request answered before its client authenticated (a repeated parameter, two ways of
/// authenticating at once, a body that is not a form) proves nothing about the client, so
/// it must not spend the client's budget: only the address pays for it.
#[tokio::test]
async fn requests_that_never_authenticated_do_not_spend_the_clients_budget() {
    let app = spawn_app_with(|config| {
        config.rate_limits.token_per_ip = 1000;
        config.rate_limits.token_per_client = 2;
        config.rate_limits.revoke_per_client = 2;
    })
    .await;
    let wrong = Some((CONFIDENTIAL_ID, "not-the-secret-at-all"));
    for _ in 0..3 {
        let repeated = token_request(
            &app,
            wrong,
            &[("grant_type", "authorization_code"), ("grant_type", "refresh_token")],
        )
        .await;
        assert_eq!(repeated.status, StatusCode::BAD_REQUEST, "{:?}", repeated.body);
        assert_eq!(repeated.error(), Some("invalid_request"), "{:?}", repeated.body);

        let two_methods = token_request(
            &app,
            wrong,
            &[("grant_type", "client_credentials"), ("client_secret", "also-wrong")],
        )
        .await;
        assert_eq!(two_methods.error(), Some("invalid_request"), "{:?}", two_methods.body);

        let not_a_form = http_client()
            .post(app.url("/token"))
            .basic_auth(CONFIDENTIAL_ID, Some("not-the-secret-at-all"))
            .header("content-type", "text/plain")
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("token request");
        let not_a_form = JsonReply::read(not_a_form).await;
        assert_eq!(not_a_form.error(), Some("invalid_request"), "{:?}", not_a_form.body);

        let revoke = http_client()
            .post(app.url("/revoke"))
            .basic_auth(CONFIDENTIAL_ID, Some("not-the-secret-at-all"))
            .form(&[("token", "a"), ("token", "b")])
            .send()
            .await
            .expect("revocation request");
        let revoke = JsonReply::read(revoke).await;
        assert_eq!(revoke.error(), Some("invalid_request"), "{:?}", revoke.body);
    }

    // The real client still has its whole budget.
    let basic = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));
    let right = token_request(&app, basic, BOGUS_CODE).await;
    assert_eq!(right.error(), Some("invalid_grant"), "{:?}", right.body);
    assert_eq!(rate_headers(&right.headers), (2, 1, 60), "only its own request counted");
    let revoked = http_client()
        .post(app.url("/revoke"))
        .basic_auth(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .expect("revocation request");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(rate_headers(revoked.headers()).1, 1);
}

/// An IPv6 client usually holds a whole /64: its addresses share one budget, another /64
/// has its own, and an IPv4-mapped address is the IPv4 address.
#[tokio::test]
async fn ipv6_addresses_share_a_budget_per_prefix_and_mapped_ipv4_is_ipv4() {
    let app = spawn_app_with(|config| {
        config.rate_limits.token_per_ip = 2;
        config.network.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let first = post_with_forwarded_for(&app, "2001:db8:1:2::1").await;
    assert_eq!(first.error(), Some("invalid_grant"), "{:?}", first.body);
    let second = post_with_forwarded_for(&app, "2001:db8:1:2:ffff:ffff:ffff:fffe").await;
    assert_eq!(second.error(), Some("invalid_grant"), "{:?}", second.body);
    assert_eq!(rate_headers(&second.headers).1, 0, "one /64, one budget");
    assert_json_429(&post_with_forwarded_for(&app, "[2001:db8:1:2::99]:443").await, 60);
    let other = post_with_forwarded_for(&app, "2001:db8:1:3::1").await;
    assert_eq!(other.error(), Some("invalid_grant"), "{:?}", other.body);
    assert_eq!(rate_headers(&other.headers).1, 1, "another /64 has its own budget");

    let v4 = post_with_forwarded_for(&app, "203.0.113.9").await;
    assert_eq!(rate_headers(&v4.headers).1, 1);
    let mapped = post_with_forwarded_for(&app, "::ffff:203.0.113.9").await;
    assert_eq!(
        rate_headers(&mapped.headers).1,
        0,
        "IPv4-mapped IPv6 is the IPv4 address"
    );
    let neighbour = post_with_forwarded_for(&app, "203.0.113.10").await;
    assert_eq!(rate_headers(&neighbour.headers).1, 1, "IPv4 stays per address");

    let rows = audit_rows_until(&app.database_url, |rows| rows.iter().any(|r| r.kind == "rate_limited")).await;
    let limited = rows.iter().find(|r| r.kind == "rate_limited").expect("audited");
    assert_eq!(limited.actor.as_deref(), Some("2001:db8:1:2::/64"), "{limited:?}");
}

#[tokio::test]
async fn the_ipv6_prefix_length_is_configurable() {
    let wide = spawn_app_with(|config| {
        config.rate_limits.token_per_ip = 2;
        config.rate_limits.ipv6_prefix_length = 48;
        config.network.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    post_with_forwarded_for(&wide, "2001:db8:1:2::1").await;
    let same_48 = post_with_forwarded_for(&wide, "2001:db8:1:ffff::1").await;
    assert_eq!(rate_headers(&same_48.headers).1, 0, "one /48, one budget");

    let narrow = spawn_app_with(|config| {
        config.rate_limits.token_per_ip = 2;
        config.rate_limits.ipv6_prefix_length = 128;
        config.network.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    post_with_forwarded_for(&narrow, "2001:db8:1:2::1").await;
    let neighbour = post_with_forwarded_for(&narrow, "2001:db8:1:2::2").await;
    assert_eq!(rate_headers(&neighbour.headers).1, 1, "/128: every address on its own");
}

/// Public clients keep their budget per client and address, the address being the /64.
#[tokio::test]
async fn a_public_clients_budget_is_per_ipv6_prefix() {
    let app = spawn_app_with(|config| {
        config.rate_limits.token_per_client = 2;
        config.network.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let refresh = |forwarded_for: &'static str| {
        let app = &app;
        async move {
            let response = http_client()
                .post(app.url("/token"))
                .header("x-forwarded-for", forwarded_for)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", PUBLIC_ID),
                    ("refresh_token", "never-issued"),
                ])
                .send()
                .await
                .expect("token request");
            JsonReply::read(response).await
        }
    };
    refresh("2001:db8:5:6::1").await;
    refresh("2001:db8:5:6::2").await;
    assert_json_429(&refresh("2001:db8:5:6::3").await, 60);
    let elsewhere = refresh("2001:db8:5:7::1").await;
    assert_eq!(elsewhere.error(), Some("invalid_grant"), "{:?}", elsewhere.body);
}
