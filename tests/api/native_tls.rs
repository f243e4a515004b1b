//! Native TLS (`[tls]`): HTTPS through rustls with a throwaway CA, TLS 1.2 and 1.3 only,
//! certificates swapped without a failed request (on file change and on SIGHUP), a
//! replacement that cannot be served refused, `check-config` on the pair, the plain-http
//! redirect listener, and HSTS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::clock::{Clock, SystemClock};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use reqwest::StatusCode;
use rustls::ProtocolVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::browser::{query_param, Browser};
use crate::support::database::fresh_test_database_url;
use crate::support::gatehouse_process::ServeProcess;
use crate::support::oauth::http_client;
use crate::support::relying_party::RelyingParty;
use crate::support::slapd::TestSlapd;
use crate::support::spawn_app::*;
use crate::support::tls::{serve_https, ServerCertificate, TestCa};

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

/// An HTTPS server with a certificate for 127.0.0.1 from `ca`, its files in `dir`.
async fn spawn_https_app(
    ca: &TestCa,
    dir: &Path,
    reload_interval: i64,
) -> (TestApp, ServerCertificate, PathBuf, PathBuf) {
    let certificate = ca.issue(&["127.0.0.1", "localhost"]);
    let (cert_file, key_file) = certificate.write_to(dir);
    let app = spawn_app_with(|config| serve_https(config, &cert_file, &key_file, reload_interval)).await;
    (app, certificate, cert_file, key_file)
}

fn socket_addr(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("https://").parse().unwrap()
}

/// Waits until new handshakes present `expected` (at most `limit`).
async fn wait_for_certificate(ca: &TestCa, addr: SocketAddr, expected: &[u8], limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok((leaf, _)) = ca.handshake(addr, rustls::DEFAULT_VERSIONS).await {
            if leaf == expected {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn discovery_and_the_whole_code_flow_work_over_https() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (app, certificate, _, _) = spawn_https_app(&ca, dir.path(), 10).await;
    assert!(app.address.starts_with("https://"));

    // Plain http to the TLS port is not served.
    let plain = reqwest::get(app.address.replacen("https://", "http://", 1) + "/healthz").await;
    assert!(plain.map_or(true, |response| !response.status().is_success()));

    let discovery: serde_json::Value = ca
        .client()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.address);
    assert_eq!(discovery["token_endpoint"], app.url("/token"));

    // The server presents the certificate of its files, the chain's intermediate with it.
    let (leaf, _) = ca.handshake(socket_addr(&app), rustls::DEFAULT_VERSIONS).await.unwrap();
    assert_eq!(leaf, certificate.leaf_der);

    let rp = RelyingParty::discover_with(
        &app,
        CONFIDENTIAL_ID,
        Some(CONFIDENTIAL_SECRET),
        CONFIDENTIAL_REDIRECT,
        ca.client(),
    )
    .await;
    let start = rp.start(&["profile", "email"], &[]);
    let browser = Browser::with(ca.client_builder());
    let callback = browser.authorize(&start.url, "alice", "alice-password").await;
    assert!(callback.starts_with(CONFIDENTIAL_REDIRECT), "{callback}");
    assert_eq!(query_param(&callback, "iss").as_deref(), Some(app.address.as_str()));
    let code = query_param(&callback, "code").expect("a code");
    let tokens = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("the code is redeemed");
    let claims = rp.verify_id_token(&tokens, &start.nonce);
    assert_eq!(claims.issuer().as_str(), app.address);
    let (status, userinfo) = rp.userinfo(tokens.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(userinfo["email"], "alice@example.org");
    assert!(tokens.id_token().is_some());
}

/// ECDHE with AES-GCM (ECDSA and RSA), then CBC suites an old client would offer.
const MODERN_AND_CBC_SUITES: &[u16] = &[0xc02b, 0xc02f, 0xc009, 0xc013, 0x002f, 0x0035];
/// CBC suites only (ECDHE-ECDSA, ECDHE-RSA, RSA key exchange).
const CBC_SUITES: &[u16] = &[0xc009, 0xc013, 0xc023, 0xc027, 0x002f, 0x0035, 0x003c];

/// The first record of the server's answer to a hand-made ClientHello offering
/// `client_version` and `suites` (no `supported_versions` extension, as TLS 1.0 to 1.2
/// clients send).
async fn answer_to_client_hello(addr: SocketAddr, client_version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&client_version);
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    extensions.extend_from_slice(&[0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]);
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1u8]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22u8, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&record).await.unwrap();
    let mut answer = vec![0u8; 7];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer))
        .await
        .expect("the server answers")
        .expect("at least one record");
    answer
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_accepted_and_tls_1_1_and_cbc_suites_are_refused() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (app, certificate, _, _) = spawn_https_app(&ca, dir.path(), 10).await;
    let addr = socket_addr(&app);

    let (leaf, version) = ca.handshake(addr, &[&rustls::version::TLS13]).await.unwrap();
    assert_eq!(
        (leaf.as_slice(), version),
        (certificate.leaf_der.as_slice(), ProtocolVersion::TLSv1_3)
    );
    let (leaf, version) = ca.handshake(addr, &[&rustls::version::TLS12]).await.unwrap();
    assert_eq!(
        (leaf.as_slice(), version),
        (certificate.leaf_der.as_slice(), ProtocolVersion::TLSv1_2)
    );

    // HTTP/1.1 is what the server speaks, and says so in ALPN.
    assert_eq!(
        ca.alpn(addr, &[b"h2", b"http/1.1"]).await.as_deref(),
        Some(&b"http/1.1"[..])
    );

    // The same hand-made hello: as TLS 1.2 it gets a ServerHello (record type 22,
    // handshake type 2), so the hello is well formed...
    let answer = answer_to_client_hello(addr, [3, 3], MODERN_AND_CBC_SUITES).await;
    assert_eq!((answer[0], answer[5]), (22, 2), "{answer:?}");
    // ...and as TLS 1.1 a fatal protocol_version alert (record type 21, alert 70).
    let answer = answer_to_client_hello(addr, [3, 2], MODERN_AND_CBC_SUITES).await;
    assert_eq!((answer[0], answer[5], answer[6]), (21, 2, 70), "{answer:?}");
    // TLS 1.2 with CBC suites only: a fatal handshake_failure alert (40).
    let answer = answer_to_client_hello(addr, [3, 3], CBC_SUITES).await;
    assert_eq!((answer[0], answer[5], answer[6]), (21, 2, 40), "{answer:?}");
}

/// Keeps HTTPS requests going on `connections` clients, half of them reusing their
/// connection and half opening a new one (a new handshake) for every request, until
/// `stop`; counts successes and failures.
fn keep_requesting(
    ca: &TestCa,
    url: String,
    connections: usize,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..connections)
        .map(|i| {
            let builder = ca.client_builder();
            let client = if i % 2 == 0 {
                builder.build().unwrap()
            } else {
                builder.pool_max_idle_per_host(0).build().unwrap()
            };
            let (url, stop, ok, failed) = (url.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send().await {
                        Ok(response) if response.status() == StatusCode::OK => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(response) => {
                            eprintln!("request answered {}", response.status());
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => {
                            eprintln!("request failed: {error:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect()
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_failed_request() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (app, old, cert_file, key_file) = spawn_https_app(&ca, dir.path(), 1).await;
    let addr = socket_addr(&app);

    let (stop, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let workers = keep_requesting(&ca, app.url("/healthz"), 6, stop.clone(), ok.clone(), failed.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_swap = ok.load(Ordering::Relaxed);

    let new = ca.issue(&["127.0.0.1", "localhost"]);
    assert_ne!(new.leaf_der, old.leaf_der);
    new.replace(&cert_file, &key_file);
    assert!(
        wait_for_certificate(&ca, addr, &new.leaf_der, Duration::from_secs(15)).await,
        "new handshakes get the new certificate"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    eprintln!(
        "{} requests before the swap, {} in all",
        before_swap,
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed during the swap");
    assert!(
        before_swap > 0 && ok.load(Ordering::Relaxed) > before_swap,
        "traffic ran throughout"
    );
}

#[tokio::test]
async fn a_replacement_that_cannot_be_served_is_refused_and_the_old_certificate_stays() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (app, old, cert_file, key_file) = spawn_https_app(&ca, dir.path(), 1).await;
    let addr = socket_addr(&app);

    // A new certificate with a key of another certificate, then an unparseable one.
    let new = ca.issue(&["127.0.0.1"]);
    let stranger = ca.issue(&["127.0.0.1"]);
    ServerCertificate {
        key_pem: stranger.key_pem.clone(),
        ..new.clone()
    }
    .replace(&cert_file, &key_file);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (leaf, _) = ca.handshake(addr, rustls::DEFAULT_VERSIONS).await.unwrap();
    assert_eq!(leaf, old.leaf_der, "the mismatched pair is not served");
    crate::support::tls::replace_file(
        &cert_file,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    crate::support::tls::replace_file(&key_file, &new.key_pem);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (leaf, _) = ca.handshake(addr, rustls::DEFAULT_VERSIONS).await.unwrap();
    assert_eq!(leaf, old.leaf_der, "the unparseable certificate is not served");
    let health = ca.client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // The watcher is still at work: a good pair is taken.
    new.replace(&cert_file, &key_file);
    assert!(wait_for_certificate(&ca, addr, &new.leaf_der, Duration::from_secs(15)).await);
}

/// A configuration file for the binary serving HTTPS with `cert_file`/`key_file`.
async fn write_tls_config(dir: &Path, cert_file: &Path, key_file: &Path, tls_extra: &str, extra: &str) -> PathBuf {
    let slapd = TestSlapd::shared().await;
    let ldap = slapd.ldap_config();
    let database_url = fresh_test_database_url(dir).await;
    let path = dir.join("gatehouse.toml");
    let text = format!(
        r#"issuer = "https://127.0.0.1:0"
listen = "127.0.0.1:0"
data_dir = "{data}"
{extra}
[database]
url = "{database_url}"

[ldap]
url = "{url}"
bind_dn = "{bind_dn}"
bind_password = "{bind_password}"
base_dn = "{base_dn}"

[tls]
cert_file = "{cert}"
key_file = "{key}"
{tls_extra}
"#,
        data = dir.join("data").display(),
        url = ldap.url,
        bind_dn = ldap.bind_dn,
        bind_password = ldap.bind_password.expose(),
        base_dn = ldap.base_dn,
        cert = cert_file.display(),
        key = key_file.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn check_config(config: &Path) -> (bool, String, String) {
    let output = Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(config)
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `gatehouse serve --config CONFIG` as a process, once it says on which https address it
/// listens (the process ends when the returned guard is dropped).
fn serve_binary(config: &Path) -> (ServeProcess, SocketAddr) {
    let serving = ServeProcess::start(config);
    let addr = serving.addr.parse().expect("serve prints its https address");
    (serving, addr)
}

#[tokio::test]
async fn sighup_makes_the_binary_serve_the_renewed_certificate() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let old = ca.issue(&["127.0.0.1"]);
    let (cert_file, key_file) = old.write_to(dir.path());
    // Files are looked at hourly: only SIGHUP can make the swap in time.
    let config = write_tls_config(dir.path(), &cert_file, &key_file, "reload_interval = 3600", "").await;
    let (mut child, addr) = serve_binary(&config);
    let health = ca.client().get(format!("https://{addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        ca.handshake(addr, rustls::DEFAULT_VERSIONS).await.unwrap().0,
        old.leaf_der
    );

    let new = ca.issue(&["127.0.0.1"]);
    new.replace(&cert_file, &key_file);
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let swapped = wait_for_certificate(&ca, addr, &new.leaf_der, Duration::from_secs(10)).await;
    let alive = child.is_running();
    assert!(alive, "SIGHUP does not end the process");
    assert!(swapped, "after SIGHUP new handshakes get the new certificate");
}

#[tokio::test]
async fn check_config_reports_every_problem_of_the_certificate_pair() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    // Expired, made out to another host, and with the key of another certificate.
    let expired = ca.issue_with(&["sso.example.org"], |params| {
        params.not_before = time::macros::datetime!(2020-01-01 0:00 UTC);
        params.not_after = time::macros::datetime!(2021-01-01 0:00 UTC);
    });
    let stranger = ca.issue(&["127.0.0.1"]);
    std::fs::write(dir.path().join("cert.pem"), &expired.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &stranger.key_pem).unwrap();
    let config = write_tls_config(
        dir.path(),
        &dir.path().join("cert.pem"),
        &dir.path().join("key.pem"),
        "",
        "[lifetimes]\nid_token = -5\n",
    )
    .await;
    let (ok, _, stderr) = check_config(&config);
    assert!(!ok);
    assert!(stderr.contains("lifetimes.id_token"), "{stderr}");
    assert!(stderr.contains("does not belong to the first certificate"), "{stderr}");
    assert!(stderr.contains("expired on 2021-01-01"), "{stderr}");
    assert!(
        stderr.contains("does not cover the issuer's host `127.0.0.1` (it names sso.example.org)"),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "no key material in the report");

    // Unreadable files are named, both at once.
    let config = write_tls_config(
        dir.path(),
        &dir.path().join("none.pem"),
        &dir.path().join("nokey.pem"),
        "",
        "",
    )
    .await;
    let (ok, _, stderr) = check_config(&config);
    assert!(!ok);
    assert!(stderr.contains("none.pem") && stderr.contains("nokey.pem"), "{stderr}");

    // Not valid yet: a problem. Valid for a few more days: OK with a warning.
    let now = SystemClock.now();
    let future = ca.issue_with(&["127.0.0.1"], |params| {
        params.not_before = now + time::Duration::days(2);
        params.not_after = now + time::Duration::days(90);
    });
    let (cert_file, key_file) = future.write_to(dir.path());
    let config = write_tls_config(dir.path(), &cert_file, &key_file, "", "").await;
    let (ok, _, stderr) = check_config(&config);
    assert!(!ok && stderr.contains("not valid before"), "{stderr}");
    let soon = ca.issue_with(&["127.0.0.1"], |params| {
        params.not_before = now - time::Duration::days(80);
        params.not_after = now + time::Duration::days(5);
    });
    soon.write_to(dir.path());
    let (ok, stdout, stderr) = check_config(&config);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        stderr.contains("warning:") && stderr.contains("less than 14 days"),
        "{stderr}"
    );

    // A good pair with a wildcard name for a DNS issuer passes without a word.
    let wildcard = ca.issue(&["*.example.org"]);
    wildcard.write_to(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("https://127.0.0.1:0", "https://sso.example.org");
    std::fs::write(&config, text).unwrap();
    let (ok, _, stderr) = check_config(&config);
    assert!(ok && stderr.is_empty(), "{stderr}");
    // ...but a wildcard covers one label only.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("https://sso.example.org", "https://id.sso.example.org");
    std::fs::write(&config, text).unwrap();
    let (ok, _, stderr) = check_config(&config);
    assert!(
        !ok && stderr.contains("does not cover the issuer's host `id.sso.example.org`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_refuses_to_start_with_a_pair_that_cannot_be_served() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let certificate = ca.issue(&["127.0.0.1"]);
    let stranger = ca.issue(&["127.0.0.1"]);
    std::fs::write(dir.path().join("cert.pem"), &certificate.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &stranger.key_pem).unwrap();
    let config = write_tls_config(
        dir.path(),
        &dir.path().join("cert.pem"),
        &dir.path().join("key.pem"),
        "",
        "",
    )
    .await;
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(BINARY)
            .args(["serve", "--config"])
            .arg(&config)
            .env("GATEHOUSE_LOG", "warn")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("serve stops at once")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot be served"), "{stderr}");
    assert!(stderr.contains("does not belong to the first certificate"), "{stderr}");
}

#[tokio::test]
async fn the_redirect_listener_sends_every_request_to_https_and_serves_nothing_else() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let certificate = ca.issue(&["127.0.0.1"]);
    let (cert_file, key_file) = certificate.write_to(dir.path());
    let app = spawn_app_with(|config| {
        serve_https(config, &cert_file, &key_file, 10);
        config.tls.as_mut().unwrap().redirect_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let redirect = app.redirect_addr.expect("a redirect listener");
    let plain = http_client();

    let response = plain
        .get(format!("http://{redirect}/.well-known/openid-configuration?x=1&y=%2F"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        response.headers()["location"],
        app.url("/.well-known/openid-configuration?x=1&y=%2F").as_str()
    );
    assert!(response.headers().get("strict-transport-security").is_none());
    let head = plain.head(format!("http://{redirect}/")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(head.headers()["location"], app.url("/").as_str());
    let post = plain
        .post(format!("http://{redirect}/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(post.headers()["location"], app.url("/token").as_str());

    // Followed, the redirect lands on the HTTPS server.
    let followed = ca
        .client_builder()
        .build()
        .unwrap()
        .get(format!("http://{redirect}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), StatusCode::OK);
    assert_eq!(followed.url().as_str(), app.url("/healthz"));
}

#[tokio::test]
async fn hsts_is_sent_on_https_issuers_only() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (app, _, _, _) = spawn_https_app(&ca, dir.path(), 10).await;
    let client = ca.client();
    for (path, status) in [
        ("/.well-known/openid-configuration", StatusCode::OK),
        ("/no-such-page", StatusCode::NOT_FOUND),
        ("/authorize?client_id=nobody", StatusCode::BAD_REQUEST),
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }

    // Behind a TLS-terminating proxy (an https issuer, no [tls]) the header is sent too.
    let proxied = spawn_app_with(|config| config.issuer = config.issuer.replacen("http://", "https://", 1)).await;
    let response = http_client()
        .get(format!("{}/healthz", proxied.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");

    let plain = spawn_app().await;
    let response = http_client().get(plain.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn the_healthcheck_speaks_https_to_a_tls_listener_and_trusts_only_the_configured_certificate() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    // Made out to the public name only: the check asks loopback, where no name matches.
    let served = ca.issue(&["sso.example.org"]);
    let (cert_file, key_file) = served.write_to(dir.path());
    let config = write_tls_config(dir.path(), &cert_file, &key_file, "reload_interval = 3600", "").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&config, text).unwrap();
    let (_child, addr) = serve_binary(&config);
    assert_eq!(addr.port(), port);
    let healthcheck = || {
        Command::new(BINARY)
            .args(["healthcheck", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let healthy = healthcheck();
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    assert_eq!(
        String::from_utf8_lossy(&healthy.stdout).trim(),
        format!("healthy: https://127.0.0.1:{port}/healthz answered 200")
    );

    // The files now hold another certificate, which the server does not serve yet (it looks
    // hourly): the check trusts only the configured one, so it fails.
    ca.issue(&["sso.example.org"]).replace(&cert_file, &key_file);
    let refused = healthcheck();
    assert!(!refused.status.success(), "another certificate is not trusted");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
