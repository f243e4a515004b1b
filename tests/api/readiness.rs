//! `/readyz` is cheap to ask: a flood of probes is not a flood of directory binds. The
//! answer is computed by one request at a time and kept for a few seconds (by the app
//! clock) per instance.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};

use crate::support::oauth::{http_client, JsonReply};
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::{spawn_app_with, TestApp};

/// How long an instance keeps its readiness answer.
const CACHED_FOR_SECONDS: i64 = gatehouse::readiness::READINESS_CACHE_TIME.whole_seconds();

/// A TCP relay in front of slapd that counts the connections made through it: every
/// directory check that cannot reuse a pooled connection opens one.
struct CountingRelay {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl CountingRelay {
    async fn start(slapd: &TestSlapd) -> CountingRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let url = format!("ldap://{}/", listener.local_addr().expect("relay address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let target = format!("127.0.0.1:{}", slapd.port);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        CountingRelay { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn readyz(app: &TestApp) -> JsonReply {
    let response = http_client().get(app.url("/readyz")).send().await.expect("GET /readyz");
    JsonReply::read(response).await
}

fn assert_ready(reply: &JsonReply, context: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{context}: {}", reply.body);
    assert_eq!(reply.body["directory"], "ok", "{context}: {}", reply.body);
}

fn assert_directory_unreachable(reply: &JsonReply, context: &str) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{context}: {}",
        reply.body
    );
    assert_eq!(reply.body["directory"], "unreachable", "{context}: {}", reply.body);
}

#[tokio::test]
async fn concurrent_readiness_probes_share_one_directory_check() {
    let slapd = TestSlapd::start().await;
    let relay = CountingRelay::start(&slapd).await;
    let ldap = gatehouse::config::LdapConfig {
        url: relay.url.clone(),
        ..slapd.ldap_config()
    };
    let app = spawn_app_with(|config| config.ldap = ldap).await;
    let before = relay.connections();

    let replies = join_all((0..20).map(|_| readyz(&app))).await;
    for reply in &replies {
        assert_ready(reply, "one of twenty probes at once");
    }
    assert_eq!(
        relay.connections() - before,
        1,
        "twenty probes at once open one directory connection"
    );

    // Within the window the answer comes from memory, even with the directory gone.
    drop(slapd);
    for _ in 0..20 {
        assert_ready(&readyz(&app).await, "a probe within the window");
    }
    assert_eq!(relay.connections() - before, 1, "no new check within the window");
}

#[tokio::test]
async fn the_readiness_answer_is_kept_for_its_window_then_checked_again() {
    let mut slapd = TestSlapd::start().await;
    let ldap = slapd.ldap_config();
    let app = spawn_app_with(|config| config.ldap = ldap).await;
    assert_ready(&readyz(&app).await, "directory up");

    slapd.stop();
    assert_ready(
        &readyz(&app).await,
        "directory just stopped: the answer is still the kept one",
    );
    app.clock.advance(CACHED_FOR_SECONDS - 1);
    assert_ready(&readyz(&app).await, "a second before the window ends");
    app.clock.advance(1);
    assert_directory_unreachable(&readyz(&app).await, "the window has passed");

    // A failure is kept for the window too, and then the directory is asked again.
    slapd.restart().await;
    assert_directory_unreachable(&readyz(&app).await, "directory back, within the window");
    app.clock.advance(CACHED_FOR_SECONDS);
    assert_ready(&readyz(&app).await, "directory back, window passed");
}
