//! `[log] format = "json"` (here through `GATEHOUSE__LOG__FORMAT`): the real binary writes
//! one JSON object per line, every line of a request carries its id (echoed in
//! `X-Request-Id`, taken from a trusted proxy only), the request's route, client and
//! person, audit events are lines too, refused authorization requests name the client and
//! redirect URI, and no line ever holds a password, code, token, secret or cookie.

use std::collections::BTreeSet;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::jwt::decode_jwt_payload;
use crate::support::oauth::{expect_code, http_client, new_pkce, JsonReply};
use crate::support::running_binary::{RunningBinary, APP_ID, APP_REDIRECT, APP_SECRET, SERVICE_ID, SERVICE_SECRET};

const JSON_LOGS: (&str, &str) = ("GATEHOUSE__LOG__FORMAT", "json");
const ALICE_PASSWORD: &str = "alice-password";
const WRONG_PASSWORD: &str = "not-alice-password-4711";

fn authorize_url(app: &RunningBinary, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

async fn post_form(app: &RunningBinary, path: &str, basic: (&str, &str), fields: &[(&str, &str)]) -> JsonReply {
    let response = http_client()
        .post(app.url(path))
        .basic_auth(basic.0, Some(basic.1))
        .form(fields)
        .send()
        .await
        .unwrap();
    JsonReply::read(response).await
}

/// The lines of the request whose response carried `reply`'s `X-Request-Id`.
fn lines_of<'l>(lines: &'l [Value], request_id: &str) -> Vec<&'l Value> {
    lines.iter().filter(|line| line["request_id"] == request_id).collect()
}

/// The request's last line (target `http`).
fn finished_line<'l>(lines: &'l [Value], request_id: &str) -> &'l Value {
    lines_of(lines, request_id)
        .into_iter()
        .find(|line| line["target"] == "http")
        .unwrap_or_else(|| panic!("no http line for request {request_id}: {lines:#?}"))
}

#[tokio::test]
async fn json_logs_carry_the_request_and_never_a_secret() {
    let mut app = RunningBinary::start("[shutdown]\ndrain_delay = 0\n", &[JSON_LOGS]).await;

    // A wrong password first, then a whole authorization code flow.
    let jar = std::sync::Arc::new(Jar::default());
    let browser = Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .unwrap(),
    };
    let (status, _, body) = browser.submit_login(&app.url("/login"), "alice", WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pkce = new_pkce();
    let location = browser
        .authorize(
            &authorize_url(
                &app,
                &[
                    ("response_type", "code"),
                    ("client_id", APP_ID),
                    ("redirect_uri", APP_REDIRECT),
                    ("scope", "openid profile offline_access"),
                    ("state", "log-state"),
                    ("nonce", "log-nonce"),
                    ("code_challenge", &pkce.challenge),
                    ("code_challenge_method", "S256"),
                ],
            ),
            "alice",
            ALICE_PASSWORD,
        )
        .await;
    let code = expect_code(&location, APP_REDIRECT);
    let cookies = jar
        .cookies(&url::Url::parse(&app.address).unwrap())
        .map(|value| value.to_str().unwrap().to_string())
        .expect("the browser holds cookies");

    let tokens = post_form(
        &app,
        "/token",
        (APP_ID, APP_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.body);
    let token_request_id = tokens.header("x-request-id").expect("the id is echoed").to_string();
    let access_token = tokens.body["access_token"].as_str().unwrap().to_string();
    let id_token = tokens.body["id_token"].as_str().unwrap().to_string();
    let refresh_token = tokens.body["refresh_token"].as_str().unwrap().to_string();
    let sub = decode_jwt_payload(&id_token)["sub"].as_str().unwrap().to_string();

    let userinfo = http_client()
        .get(app.url("/userinfo"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    let userinfo_request_id = userinfo.headers()["x-request-id"].to_str().unwrap().to_string();

    let refreshed = post_form(
        &app,
        "/token",
        (APP_ID, APP_SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let new_access_token = refreshed.body["access_token"].as_str().unwrap().to_string();
    let new_refresh_token = refreshed.body["refresh_token"].as_str().unwrap().to_string();

    let introspection = post_form(
        &app,
        "/introspect",
        (SERVICE_ID, SERVICE_SECRET),
        &[("token", &new_access_token)],
    )
    .await;
    assert_eq!(introspection.body["active"], true, "{:?}", introspection.body);
    let introspection_request_id = introspection.header("x-request-id").unwrap().to_string();
    let service_token = post_form(
        &app,
        "/token",
        (SERVICE_ID, SERVICE_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(service_token.status, 200, "{:?}", service_token.body);
    let service_access_token = service_token.body["access_token"].as_str().unwrap().to_string();
    let revoked = post_form(&app, "/revoke", (APP_ID, APP_SECRET), &[("token", &new_refresh_token)]).await;
    assert_eq!(revoked.status, 200);

    app.stop().await;
    let lines = app.json_lines();

    // Every line: time (RFC 3339, UTC), level, target, message.
    for line in &lines {
        let time = line["time"].as_str().unwrap_or_else(|| panic!("no time: {line}"));
        assert!(
            time.ends_with('Z')
                && time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).is_ok(),
            "{line}"
        );
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&line["level"].as_str().unwrap_or_default()),
            "{line}"
        );
        assert!(line["target"].is_string() && line["message"].is_string(), "{line}");
    }

    // The token request: one id on all its lines, the route, the client and the person.
    let token_line = finished_line(&lines, &token_request_id);
    assert_eq!(token_line["method"], "POST");
    assert_eq!(token_line["route"], "/token");
    assert_eq!(token_line["path"], "/token");
    assert_eq!(token_line["status"], 200);
    assert!(
        token_line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{token_line}"
    );
    assert_eq!(token_line["client_id"], APP_ID, "{token_line}");
    assert_eq!(token_line["sub"], sub.as_str(), "{token_line}");
    let userinfo_line = finished_line(&lines, &userinfo_request_id);
    assert_eq!(
        (userinfo_line["route"].as_str(), userinfo_line["sub"].as_str()),
        (Some("/userinfo"), Some(sub.as_str()))
    );
    let introspection_line = finished_line(&lines, &introspection_request_id);
    assert_eq!(introspection_line["client_id"], SERVICE_ID);
    assert_eq!(introspection_line["sub"], sub.as_str());

    // Request ids are unique per request.
    let finished: Vec<&Value> = lines.iter().filter(|line| line["target"] == "http").collect();
    let ids: BTreeSet<&str> = finished.iter().filter_map(|line| line["request_id"].as_str()).collect();
    assert_eq!(ids.len(), finished.len(), "one id per request");

    // Audit events are lines too, inside their request.
    let signed_in = lines
        .iter()
        .find(|line| line["target"] == "audit" && line["event"] == "sign_in.succeeded")
        .unwrap_or_else(|| panic!("no sign-in audit line: {lines:#?}"));
    assert_eq!(signed_in["message"], "sign_in.succeeded");
    assert_eq!(signed_in["actor"], sub.as_str());
    let sign_in_request = signed_in["request_id"]
        .as_str()
        .expect("the audit line is in its request");
    assert_eq!(finished_line(&lines, sign_in_request)["route"], "/login");
    assert_eq!(finished_line(&lines, sign_in_request)["sub"], sub.as_str());
    for event in ["sign_in.failed", "consent.granted", "token.revoked"] {
        assert!(
            lines
                .iter()
                .any(|line| line["target"] == "audit" && line["event"] == event),
            "no {event} line"
        );
    }

    // No secret anywhere.
    let master_key = std::fs::read_to_string(app.data_dir.join("master.key")).unwrap();
    let slapd = crate::support::slapd::TestSlapd::shared().await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", ALICE_PASSWORD.into()),
        ("wrong password", WRONG_PASSWORD.into()),
        ("client secret", APP_SECRET.into()),
        ("service secret", SERVICE_SECRET.into()),
        ("authorization code", code.clone()),
        ("PKCE verifier", pkce.verifier.clone()),
        ("access token", access_token.clone()),
        ("id token", id_token.clone()),
        ("refresh token", refresh_token.clone()),
        ("refreshed access token", new_access_token),
        ("refreshed refresh token", new_refresh_token),
        ("client_credentials token", service_access_token),
        ("master key", master_key.trim().to_string()),
        (
            "LDAP bind password",
            slapd.ldap_config().bind_password.expose().to_string(),
        ),
    ];
    for cookie in cookies.split("; ") {
        let (name, value) = cookie.split_once('=').unwrap();
        assert!(value.len() >= 16, "cookie {name} is a secret worth looking for");
        secrets.push(("cookie", value.to_string()));
    }
    // The signature of a JWT is its unforgeable part: not even that alone.
    let signature = access_token.rsplit('.').next().unwrap().to_string();
    secrets.push(("access token signature", signature));
    let all = app.stderr_lines();
    assert!(all.len() > 20, "the flow was logged: {all:#?}");
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} is long enough to search for");
        for line in &all {
            assert!(!line.contains(secret.as_str()), "the {what} is in a log line: {line}");
        }
    }
}

#[tokio::test]
async fn refused_authorizations_are_logged_and_request_ids_come_only_from_trusted_proxies() {
    let mut app = RunningBinary::start(
        "[network]\ntrusted_proxies = [\"127.0.0.1\"]\n\n[shutdown]\ndrain_delay = 0\n",
        &[JSON_LOGS],
    )
    .await;
    let trusted = http_client();
    // 127.0.0.2 is this machine too, but not a trusted proxy.
    let untrusted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();

    let unknown = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "no-such-app"),
            ("redirect_uri", "https://unknown.example/cb"),
            ("scope", "openid"),
        ],
    );
    let response = trusted
        .get(&unknown)
        .header("X-Request-Id", "proxy-7f3a.1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-request-id"],
        "proxy-7f3a.1",
        "a trusted proxy's id is kept"
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("not registered with Gatehouse"),
        "the error page stays: {page}"
    );

    let long_uri = format!("https://evil.example/{}", "x".repeat(1500));
    let unregistered = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", APP_ID),
            ("redirect_uri", &long_uri),
            ("scope", "openid"),
        ],
    );
    let response = untrusted
        .get(&unregistered)
        .header("X-Request-Id", "spoofed-by-a-client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(generated, "spoofed-by-a-client", "an untrusted peer's id is replaced");
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    // A trusted proxy's malformed id is replaced too.
    let response = trusted
        .get(app.url("/healthz"))
        .header("X-Request-Id", "two words")
        .send()
        .await
        .unwrap();
    let replaced = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    let response = trusted
        .get(app.url("/healthz"))
        .header("X-Request-Id", "a".repeat(129))
        .send()
        .await
        .unwrap();
    assert!(uuid::Uuid::parse_str(response.headers()["x-request-id"].to_str().unwrap()).is_ok());

    app.stop().await;
    let lines = app.json_lines();
    let refusals: Vec<&Value> = lines
        .iter()
        .filter(|line| line["level"] == "warn" && line["message"] == "authorization request refused with an error page")
        .collect();
    assert_eq!(refusals.len(), 2, "{lines:#?}");
    let unknown_client = refusals[0];
    assert_eq!(unknown_client["client_id"], "no-such-app");
    assert_eq!(unknown_client["redirect_uri"], "https://unknown.example/cb");
    assert_eq!(unknown_client["request_id"], "proxy-7f3a.1");
    assert_eq!(unknown_client["route"], "/authorize");
    assert!(unknown_client["reason"].as_str().unwrap().contains("not registered"));
    let unknown_uri = refusals[1];
    assert_eq!(unknown_uri["client_id"], APP_ID);
    assert_eq!(unknown_uri["request_id"], generated.as_str());
    let logged_uri = unknown_uri["redirect_uri"].as_str().unwrap();
    assert!(logged_uri.starts_with("https://evil.example/xxx"), "{logged_uri}");
    assert!(logged_uri.len() <= 512, "bounded: {} bytes", logged_uri.len());
    assert!(!lines.iter().any(|line| line["request_id"] == "spoofed-by-a-client"));
    assert_eq!(finished_line(&lines, "proxy-7f3a.1")["status"], 400);
}

#[tokio::test]
async fn text_logs_stay_the_default_and_carry_the_request_id() {
    let mut app = RunningBinary::start("[shutdown]\ndrain_delay = 0\n", &[]).await;
    let response = http_client().get(app.url("/healthz")).send().await.unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    app.stop().await;
    let lines = app.stderr_lines();
    assert!(
        lines.iter().all(|line| serde_json::from_str::<Value>(line).is_err()),
        "{lines:#?}"
    );
    let finished = lines
        .iter()
        .find(|line| line.contains("request finished"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        finished.contains(&request_id) && finished.contains("/healthz"),
        "{finished}"
    );
}
