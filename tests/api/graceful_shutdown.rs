//! SIGTERM on the real binary: `/readyz` turns 503 at once, the listener closes after
//! `[shutdown] drain_delay`, a request in flight still gets its normal answer, the audit
//! event it queued is stored, and the process exits 0 within the grace period.

use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::audit::audit_rows_until;
use crate::support::oauth::http_client;
use crate::support::running_binary::{RunningBinary, SERVICE_ID, SERVICE_SECRET};

const DRAIN_DELAY: u64 = 3;
const GRACE_PERIOD: u64 = 10;

async fn readyz_status(app: &RunningBinary) -> Option<u16> {
    // A new connection each time, as a load balancer's probe.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let response = client.get(app.url("/readyz")).send().await.ok()?;
    Some(response.status().as_u16())
}

#[tokio::test]
async fn sigterm_drains_then_finishes_requests_in_flight_and_stores_queued_audit_events() {
    let mut app = RunningBinary::start(
        &format!("[shutdown]\ndrain_delay = {DRAIN_DELAY}\ngrace_period = {GRACE_PERIOD}\n"),
        &[],
    )
    .await;
    assert_eq!(readyz_status(&app).await, Some(200));
    let token = http_client()
        .post(app.url("/token"))
        .basic_auth(SERVICE_ID, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .expect("a client_credentials token")
        .to_string();

    // A revocation whose headers are sent and whose body is held back.
    let body = format!("token={token}");
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{SERVICE_ID}:{SERVICE_SECRET}"));
    let address = app.address.trim_start_matches("http://").to_string();
    let mut in_flight = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /revoke HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {credentials}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(first_half.as_bytes()).await.unwrap();
    in_flight.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.signal("TERM");
    let signalled = Instant::now();
    // Unready at once, while still answering.
    let mut during_drain = None;
    while signalled.elapsed() < Duration::from_secs(DRAIN_DELAY) - Duration::from_millis(500) {
        during_drain = readyz_status(&app).await;
        if during_drain == Some(503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(during_drain, Some(503), "/readyz answers 503 during the drain");
    assert!(
        signalled.elapsed() < Duration::from_secs(DRAIN_DELAY),
        "still within the drain delay"
    );

    // After the drain delay the listener is closed...
    tokio::time::sleep(Duration::from_secs(DRAIN_DELAY) + Duration::from_millis(700) - signalled.elapsed()).await;
    assert_eq!(
        readyz_status(&app).await,
        None,
        "no new request is taken after the drain delay"
    );
    assert!(
        app.exit_within(Duration::from_millis(10)).await.is_none(),
        "the process waits for the request in flight"
    );

    // ...and the request in flight still gets its normal answer.
    in_flight.write_all(second_half.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), in_flight.read_to_string(&mut answer))
        .await
        .expect("the request in flight is answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let status = app
        .exit_within(Duration::from_secs(GRACE_PERIOD) - Duration::from_secs(DRAIN_DELAY))
        .await
        .expect("the process exits within the grace period");
    assert!(status.success(), "exit status 0, got {status:?}");

    let rows = audit_rows_until(&app.database_url, |rows| {
        rows.iter().any(|row| row.kind == "token.revoked")
    })
    .await;
    let revoked = rows
        .iter()
        .find(|row| row.kind == "token.revoked")
        .unwrap_or_else(|| panic!("the revocation's audit event was stored: {rows:#?}"));
    assert_eq!(revoked.client_id.as_deref(), Some(SERVICE_ID));
    let lines = app.stderr_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("stopping") && line.contains("SIGTERM")),
        "{lines:#?}"
    );
}
