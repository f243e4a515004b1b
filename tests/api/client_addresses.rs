//! Client address allowlists: a client restricted to some networks is refused at `/token`,
//! `/revoke` and `/introspect` from anywhere else, and `X-Forwarded-For` counts only when
//! it comes from a trusted proxy.

use reqwest::StatusCode;

use crate::client_credentials::{service_client, SERVICE_ID, SERVICE_SECRET};
use crate::support::audit::audit_rows_until;
use crate::support::oauth::*;
use crate::support::spawn_app::*;

async fn client_token(app: &TestApp, forwarded_for: Option<&str>) -> JsonReply {
    let mut request = http_client()
        .post(app.url("/token"))
        .basic_auth(SERVICE_ID, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")]);
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    JsonReply::read(request.send().await.expect("POST /token")).await
}

fn assert_refused(reply: &JsonReply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.error(), Some("invalid_client"), "{}", reply.body);
    assert!(reply.body.get("access_token").is_none());
}

#[tokio::test]
async fn a_client_restricted_to_other_networks_is_refused_and_audited() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&["10.0.0.0/8"]))).await;
    assert_refused(&client_token(&app, None).await);

    for path in ["/revoke", "/introspect"] {
        let response = http_client()
            .post(app.url(path))
            .basic_auth(SERVICE_ID, Some(SERVICE_SECRET))
            .form(&[("token", "anything")])
            .send()
            .await
            .expect("POST");
        assert_refused(&JsonReply::read(response).await);
    }

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().filter(|r| r.kind == "client.address_refused").count() >= 3
    })
    .await;
    let refused: Vec<_> = rows.iter().filter(|r| r.kind == "client.address_refused").collect();
    assert_eq!(refused.len(), 3, "{rows:?}");
    for row in refused {
        assert_eq!(row.client_id.as_deref(), Some(SERVICE_ID));
        assert!(row.detail.contains("127.0.0.1"), "{}", row.detail);
        assert!(!row.detail.contains(SERVICE_SECRET));
    }
}

#[tokio::test]
async fn a_client_is_served_from_an_allowed_address() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&["10.0.0.0/8", "127.0.0.1/32"]))).await;
    let reply = client_token(&app, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn x_forwarded_for_from_a_trusted_proxy_is_honoured() {
    let app = spawn_app_with(|config| {
        config.network.trusted_proxies = vec!["127.0.0.1".into()];
        config.clients.push(service_client(&["10.0.0.0/8"]));
    })
    .await;
    let reply = client_token(&app, Some("10.1.2.3")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The proxy says the request came from elsewhere: refused.
    assert_refused(&client_token(&app, Some("192.0.2.10")).await);
    // Without the header it is the proxy's own address, which is not allowed.
    assert_refused(&client_token(&app, None).await);
}

#[tokio::test]
async fn a_forged_x_forwarded_for_is_ignored_without_trusted_proxies() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&["10.0.0.0/8"]))).await;
    assert_refused(&client_token(&app, Some("10.1.2.3")).await);
}

/// Everything in an answer except what describes the moment, the request's own id or the
/// address's own budget.
async fn comparable(response: reqwest::Response) -> (StatusCode, Vec<(String, String)>, String) {
    let status = response.status();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "date" | "x-request-id" | "x-ratelimit-remaining" | "x-ratelimit-reset"
            )
        })
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_string()))
        .collect();
    headers.sort();
    (status, headers, response.text().await.expect("body"))
}

/// From outside a client's allowlist, the answer must not tell whether the secret was
/// right: otherwise the allowlist is an oracle for guessing it from anywhere.
#[tokio::test]
async fn outside_the_allowlist_a_right_and_a_wrong_secret_get_the_same_answer() {
    let app = spawn_app_with(|config| config.clients.push(service_client(&["10.0.0.0/8"]))).await;
    for path in ["/token", "/revoke", "/introspect"] {
        let send = |secret: &'static str| {
            let url = app.url(path);
            async move {
                http_client()
                    .post(url)
                    .basic_auth(SERVICE_ID, Some(secret))
                    .form(&[("grant_type", "client_credentials"), ("token", "anything")])
                    .send()
                    .await
                    .expect("POST")
            }
        };
        let right = comparable(send(SERVICE_SECRET).await).await;
        let wrong = comparable(send("not-the-service-secret-at-all").await).await;
        assert_eq!(right.0, StatusCode::UNAUTHORIZED, "{path}: {}", right.2);
        assert_eq!(right, wrong, "{path}: the answers tell the secrets apart");
        assert!(right.1.iter().any(|(name, _)| name == "x-ratelimit-limit"));
    }
    // Both are audited as address refusals; the trail (not the caller) tells them apart,
    // since a right secret from a wrong address may mean it leaked.
    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().filter(|r| r.kind == "client.address_refused").count() >= 6
    })
    .await;
    let refused: Vec<_> = rows.iter().filter(|r| r.kind == "client.address_refused").collect();
    assert_eq!(refused.len(), 6, "{rows:?}");
    let valid = refused
        .iter()
        .filter(|r| r.detail.contains(r#""credentials":"valid""#))
        .count();
    let invalid = refused
        .iter()
        .filter(|r| r.detail.contains(r#""credentials":"invalid""#))
        .count();
    assert_eq!((valid, invalid), (3, 3), "{refused:?}");
}
