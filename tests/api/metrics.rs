//! `/metrics`: real flows (sign-ins of every kind, tokens of every grant, a refresh token
//! presented twice, a rate-limited attempt, LDAP binds) counted exactly, read back through
//! an independent exposition-format parser; who may scrape; the listener of its own; and
//! the dashboard and alerting rules in `deploy/` naming only metrics Gatehouse exports.

use std::collections::BTreeSet;

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue, Sample};
use reqwest::StatusCode;

use crate::support::browser::Browser;
use crate::support::oauth::*;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::*;

const CONFIDENTIAL: Option<(&str, &str)> = Some((CONFIDENTIAL_ID, CONFIDENTIAL_SECRET));

type Scrape = MetricsExposition<PrometheusType, PrometheusValue>;

/// Fetches `url` (with `headers`); returns status, content type, body.
async fn get(url: &str, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
    let mut request = http_client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("GET");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

/// Scrapes `base` + `/metrics` and parses the answer with an exposition-format parser.
async fn scrape(base: &str) -> Scrape {
    let (status, content_type, body) = get(&format!("{base}/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    parse_prometheus(&body).unwrap_or_else(|e| panic!("not the exposition format ({e:?}):\n{body}"))
}

/// The labels of `sample` as sorted `name=value` pairs.
fn labels_of(sample: &Sample<PrometheusValue>) -> Vec<String> {
    let set = sample.get_labelset().expect("label set");
    let mut pairs: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs
}

/// The samples of the family `metric` whose labels are exactly `labels`.
fn samples<'s>(scrape: &'s Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'s Sample<PrometheusValue>> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    wanted.sort();
    scrape
        .families
        .get(metric)
        .map(|family| family.iter_samples().filter(|s| labels_of(s) == wanted).collect())
        .unwrap_or_default()
}

/// The value of the one sample of `metric` with exactly `labels` (a histogram: its count).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, metric, labels);
    assert_eq!(found.len(), 1, "{metric}{labels:?}: {found:?}");
    match &found[0].value {
        PrometheusValue::Counter(counter) => counter.value.as_f64(),
        PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
        PrometheusValue::Histogram(histogram) => histogram.count.expect("histogram count") as f64,
        other => panic!("{metric}: unexpected {other:?}"),
    }
}

/// Every label set of `metric`, each as sorted `name=value` pairs.
fn label_sets(scrape: &Scrape, metric: &str) -> BTreeSet<Vec<String>> {
    scrape
        .families
        .get(metric)
        .map(|family| family.iter_samples().map(labels_of).collect())
        .unwrap_or_default()
}

fn set(pairs: &[&[&str]]) -> BTreeSet<Vec<String>> {
    pairs
        .iter()
        .map(|pairs| pairs.iter().map(|p| p.to_string()).collect())
        .collect()
}

async fn wrong_password(app: &TestApp, username: &str) -> (StatusCode, String) {
    let (status, _, body) = Browser::new()
        .submit_login(&app.url("/login"), username, "not-the-password")
        .await;
    (status, body)
}

#[tokio::test]
async fn flows_are_counted_exactly_by_outcome_grant_client_and_rule() {
    let slapd = TestSlapd::shared().await;
    let app = spawn_app_with(|config| {
        config.rate_limits.login_failures_per_username = 2;
        config.rate_limits.login_failures_window_seconds = 900;
    })
    .await;

    // A sign-in through the authorization code flow, its code redeemed.
    let request = AuthorizeRequest::new(CONFIDENTIAL_ID, CONFIDENTIAL_REDIRECT)
        .set("scope", "openid profile offline_access")
        .set("nonce", "nonce-of-the-sign-in");
    let location = Browser::new()
        .authorize(&request.url(&app), "bob", "bob-password")
        .await;
    let code = expect_code(&location, CONFIDENTIAL_REDIRECT);
    let tokens = redeem_code(&app, CONFIDENTIAL, &code, CONFIDENTIAL_REDIRECT, None).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let first_refresh = tokens.body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();

    // Refreshed once, then the used token presented again: reuse.
    let refresh_fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first_refresh.as_str()),
    ];
    let refreshed = token_request(&app, CONFIDENTIAL, &refresh_fields).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let reused = token_request(&app, CONFIDENTIAL, &refresh_fields).await;
    assert_eq!(reused.error(), Some("invalid_grant"), "{}", reused.body);

    // client_credentials, twice; and a client nobody registered.
    for _ in 0..2 {
        let reply = token_request(&app, RESOURCE_SERVER, &[("grant_type", "client_credentials")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let stranger = token_request(
        &app,
        Some(("not-a-registered-client", "some-secret-0123456789")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED, "{}", stranger.body);

    // Two wrong passwords for alice use up her budget; the third attempt waits.
    for _ in 0..2 {
        let (status, body) = wrong_password(&app, "alice").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = wrong_password(&app, "alice").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // The signing key's age and the time to the next rotation follow the app clock.
    app.clock.advance(120);
    let scraped = scrape(&app.address).await;

    let sign_ins = label_sets(&scraped, "gatehouse_sign_ins_total");
    assert_eq!(
        sign_ins,
        set(&[
            &["outcome=ok"],
            &["outcome=wrong_password"],
            &["outcome=account_refused"],
            &["outcome=directory_unavailable"],
            &["outcome=second_factor_failed"],
            &["outcome=rate_limited"],
        ])
    );
    let outcome = |name: &str| value(&scraped, "gatehouse_sign_ins_total", &[("outcome", name)]);
    assert_eq!(outcome("ok"), 1.0);
    assert_eq!(outcome("wrong_password"), 2.0);
    assert_eq!(outcome("rate_limited"), 1.0);
    assert_eq!(outcome("account_refused"), 0.0);
    assert_eq!(outcome("directory_unavailable"), 0.0);
    assert_eq!(outcome("second_factor_failed"), 0.0);

    // Tokens: per grant and registered client; the stranger's id is no label.
    assert_eq!(
        label_sets(&scraped, "gatehouse_tokens_issued_total"),
        set(&[
            &["client_id=confidential-app", "grant_type=authorization_code"],
            &["client_id=confidential-app", "grant_type=refresh_token"],
            &["client_id=resource-server", "grant_type=client_credentials"],
        ])
    );
    let issued = |grant: &str, client: &str| {
        value(
            &scraped,
            "gatehouse_tokens_issued_total",
            &[("grant_type", grant), ("client_id", client)],
        )
    };
    assert_eq!(issued("authorization_code", CONFIDENTIAL_ID), 1.0);
    assert_eq!(issued("refresh_token", CONFIDENTIAL_ID), 1.0);
    assert_eq!(issued("client_credentials", RESOURCE_SERVER_ID), 2.0);
    assert_eq!(
        value(
            &scraped,
            "gatehouse_refresh_token_reuse_total",
            &[("client_id", CONFIDENTIAL_ID)]
        ),
        1.0
    );

    // Rate limits: every rule listed from the start, the per-person one refused once.
    let rules = label_sets(&scraped, "gatehouse_rate_limited_total");
    assert_eq!(rules.len(), 11, "{rules:?}");
    assert_eq!(
        value(
            &scraped,
            "gatehouse_rate_limited_total",
            &[("rule", "login_failures_per_username")]
        ),
        1.0
    );
    assert_eq!(
        value(&scraped, "gatehouse_rate_limited_total", &[("rule", "login_per_ip")]),
        0.0
    );

    // Requests by route pattern, method and status; the counter and the histogram agree.
    let token_ok = [("route", "/token"), ("method", "POST"), ("status", "200")];
    assert_eq!(value(&scraped, "gatehouse_http_requests_total", &token_ok), 4.0);
    assert_eq!(
        value(&scraped, "gatehouse_http_request_duration_seconds", &token_ok),
        4.0
    );
    let token_refused = [("route", "/token"), ("method", "POST"), ("status", "400")];
    assert_eq!(value(&scraped, "gatehouse_http_requests_total", &token_refused), 1.0);
    let login_limited = [("route", "/login"), ("method", "POST"), ("status", "429")];
    assert_eq!(value(&scraped, "gatehouse_http_requests_total", &login_limited), 1.0);
    for labels in label_sets(&scraped, "gatehouse_http_requests_total") {
        assert!(
            labels.iter().all(|l| !l.contains('?') && !l.contains("request=")),
            "{labels:?}"
        );
    }

    // The directory: bob's sign-in bound as the service account (a new pooled
    // connection) and as bob; each of alice's two judged attempts bound as alice on the
    // pooled connection's server; the third was refused before any password was sent.
    let server = [("server", slapd.url.as_str())];
    assert_eq!(value(&scraped, "gatehouse_ldap_bind_duration_seconds", &server), 4.0);
    assert!(value(&scraped, "gatehouse_ldap_search_duration_seconds", &server) >= 4.0);
    assert_eq!(value(&scraped, "gatehouse_ldap_server_up", &server), 1.0);
    assert_eq!(value(&scraped, "gatehouse_ldap_pool_connections_in_use", &server), 0.0);
    assert_eq!(value(&scraped, "gatehouse_ldap_pool_connections_idle", &server), 1.0);

    // The database pool is open; the key is 120 s old, and rotates 120 s sooner.
    assert!(value(&scraped, "gatehouse_database_pool_connections", &[]) >= 1.0);
    // (The test clock runs on from the wall clock: a real second or two may have passed.)
    let rs256 = [("algorithm", "RS256")];
    let age = value(&scraped, "gatehouse_signing_key_age_seconds", &rs256);
    assert!((120.0..=720.0).contains(&age), "{age}");
    let period = app.state.config.keys.rotation_period as f64;
    assert_eq!(
        value(&scraped, "gatehouse_signing_key_next_rotation_seconds", &rs256),
        period - age
    );
    assert_eq!(
        value(
            &scraped,
            "gatehouse_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

#[tokio::test]
async fn each_instance_counts_its_own_requests() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    for _ in 0..3 {
        let (status, _, _) = get(&first.url("/healthz"), &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    let healthz = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert_eq!(
        value(&scrape(&first.address).await, "gatehouse_http_requests_total", &healthz),
        3.0
    );
    assert!(samples(
        &scrape(&second.address).await,
        "gatehouse_http_requests_total",
        &healthz
    )
    .is_empty());
}

#[tokio::test]
async fn a_path_with_an_id_counts_under_its_route_pattern_and_strays_under_unmatched() {
    let app = spawn_app().await;
    let (status, _, _) = get(&app.url("/static/app.css"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    get(&app.url("/no/such/page/12345"), &[]).await;
    let scraped = scrape(&app.address).await;
    assert_eq!(
        value(
            &scraped,
            "gatehouse_http_requests_total",
            &[("route", "/static/{name}"), ("method", "GET"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &scraped,
            "gatehouse_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
}

#[tokio::test]
async fn openmetrics_is_served_to_a_scraper_that_asks_for_it() {
    let app = spawn_app().await;
    let accept = "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5";
    let (status, content_type, body) = get(&app.url("/metrics"), &[("accept", accept)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# TYPE gatehouse_sign_ins counter"), "{body}");
}

#[tokio::test]
async fn scrapes_from_networks_not_allowed_are_refused() {
    // By default only loopback may scrape; this server allows a network the test is not in.
    let app = spawn_app_with(|config| {
        config.metrics.allow_from = vec!["192.0.2.0/24".into()];
        config.network.trusted_proxies = vec!["10.9.9.9".into()];
    })
    .await;
    let (status, _, body) = get(&app.url("/metrics"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("gatehouse_"), "{body}");
    // X-Forwarded-For from an untrusted peer is ignored.
    let (status, _, _) = get(&app.url("/metrics"), &[("x-forwarded-for", "192.0.2.7")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Behind a trusted proxy, the forwarded address counts.
    let proxied = spawn_app_with(|config| {
        config.metrics.allow_from = vec!["192.0.2.0/24".into()];
        config.network.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let (status, _, body) = get(&proxied.url("/metrics"), &[("x-forwarded-for", "192.0.2.7")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = get(&proxied.url("/metrics"), &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn metrics_on_their_own_address_are_not_on_the_public_port() {
    let app = spawn_app_with(|config| config.metrics.listen = Some("127.0.0.1:0".into())).await;
    let own = app.metrics_address.clone().expect("metrics listener");
    let (status, _, body) = get(&app.url("/metrics"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let scraped = scrape(&own).await;
    assert_eq!(
        value(
            &scraped,
            "gatehouse_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // The public port's 404 for /metrics was counted; the scrape itself was not.
    assert_eq!(
        value(
            &scraped,
            "gatehouse_http_requests_total",
            &[("route", "/metrics"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    let (status, _, _) = get(&format!("{own}/login"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_switched_off_are_nowhere() {
    let app = spawn_app_with(|config| config.metrics.enabled = false).await;
    let (status, _, _) = get(&app.url("/metrics"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Every `gatehouse_*` name in `text`, with the `_bucket`, `_sum` and `_count` series of
/// an exported histogram named by their histogram.
fn metric_names_in(text: &str, exported: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("gatehouse_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|base| exported.contains(*base)))
            .unwrap_or(name);
        names.insert(base.to_string());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn dashboard_and_alert_rules_use_only_metrics_gatehouse_exports() {
    // What a live server exports (families without a sample yet have no TYPE line) is
    // in the list; the unit tests check the list against a registry with every family.
    let app = spawn_app().await;
    let (_, _, body) = get(&app.url("/metrics"), &[]).await;
    let exported: BTreeSet<String> = gatehouse::metrics::METRIC_NAMES.iter().map(|n| n.to_string()).collect();
    for line in body.lines() {
        if let Some(typed) = line.strip_prefix("# TYPE ") {
            let name = typed.split(' ').next().unwrap_or_default();
            assert!(exported.contains(name), "{name} is not in METRIC_NAMES");
        }
    }

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard = std::fs::read_to_string(root.join("deploy/grafana/gatehouse.json")).expect("dashboard");
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/gatehouse-alerts.yml")).expect("rules");
    for (file, text) in [("dashboard", &dashboard), ("alerting rules", &rules)] {
        let used = metric_names_in(text, &exported);
        assert!(!used.is_empty(), "{file} names no metric");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics Gatehouse does not export: {unknown:?}"
        );
    }
    // Every metric is on the dashboard.
    let missing: Vec<_> = exported
        .difference(&metric_names_in(&dashboard, &exported))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}
