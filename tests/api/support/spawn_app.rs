//! The real server in-process on a free port, against the shared slapd and a fresh
//! database, with a clock the test can move.

use std::net::TcpListener;
use std::sync::Arc;

use gatehouse::clock::ManualClock;
use gatehouse::config::{ClientConfig, Config, Secret, TokenEndpointAuthMethod};
use gatehouse::Application;

use super::database::fresh_test_database_url;
use super::slapd::TestSlapd;

pub const CONFIDENTIAL_ID: &str = "confidential-app";
pub const CONFIDENTIAL_SECRET: &str = "confidential-secret-0123456789";
pub const CONFIDENTIAL_REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const CONFIDENTIAL_POST_LOGOUT: &str = "http://127.0.0.1:9/signed-out";
pub const POST_CLIENT_ID: &str = "post-app";
pub const POST_CLIENT_SECRET: &str = "post-secret-0123456789abcdef";
pub const PUBLIC_ID: &str = "public-app";
pub const PUBLIC_REDIRECT: &str = "http://127.0.0.1:9/spa";
pub const FIRST_PARTY_ID: &str = "first-party-app";
pub const FIRST_PARTY_SECRET: &str = "first-party-secret-0123456789";
pub const FIRST_PARTY_REDIRECT: &str = "http://127.0.0.1:9/first";
/// A resource server: it signs nobody in, and may introspect every token.
pub const RESOURCE_SERVER_ID: &str = "resource-server";
pub const RESOURCE_SERVER_SECRET: &str = "resource-server-secret-0123456789";
pub const RESOURCE_SERVER: Option<(&str, &str)> = Some((RESOURCE_SERVER_ID, RESOURCE_SERVER_SECRET));

pub struct TestApp {
    /// `http://127.0.0.1:PORT` (`https://` with `[tls]`), which is also the issuer.
    pub address: String,
    pub clock: Arc<ManualClock>,
    /// The database this server uses, for tests that look inside it.
    pub database_url: String,
    /// The server's state, for tests that change what an administrator would change.
    pub state: gatehouse::app::state::AppState,
    /// The plain-http redirect listener of `[tls] redirect_listen`, when configured.
    pub redirect_addr: Option<std::net::SocketAddr>,
    /// `http://ADDRESS` of `[metrics] listen`, when the test set it.
    pub metrics_address: Option<String>,
    _data_dir: tempfile::TempDir,
}

fn client(
    id: &str,
    secret: Option<&str>,
    redirect: &str,
    method: TokenEndpointAuthMethod,
    first_party: bool,
) -> ClientConfig {
    ClientConfig {
        client_id: id.into(),
        name: format!("{id} name"),
        secret: secret.map(Secret::new),
        redirect_uris: vec![redirect.into()],
        post_logout_redirect_uris: vec![CONFIDENTIAL_POST_LOGOUT.into()],
        token_endpoint_auth_method: method,
        first_party,
        require_mfa: false,
        ..ClientConfig::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust the configuration.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let slapd = TestSlapd::shared().await;
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let mut address = format!("http://127.0.0.1:{port}");
    let database_url = fresh_test_database_url(data_dir.path()).await;

    let mut config = Config {
        issuer: address.clone(),
        listen: format!("127.0.0.1:{port}"),
        data_dir: data_dir.path().to_path_buf(),
        master_key: Some(Secret::new(gatehouse::crypto::hex_encode(
            &gatehouse::crypto::random_bytes(32),
        ))),
        ldap: slapd.ldap_config(),
        ..Config::default()
    };
    config.database.url = Some(Secret::new(database_url.clone()));
    config.database.max_connections = 5;
    config.clients = vec![
        client(
            CONFIDENTIAL_ID,
            Some(CONFIDENTIAL_SECRET),
            CONFIDENTIAL_REDIRECT,
            TokenEndpointAuthMethod::ClientSecretBasic,
            false,
        ),
        client(
            POST_CLIENT_ID,
            Some(POST_CLIENT_SECRET),
            CONFIDENTIAL_REDIRECT,
            TokenEndpointAuthMethod::ClientSecretPost,
            false,
        ),
        client(PUBLIC_ID, None, PUBLIC_REDIRECT, TokenEndpointAuthMethod::None, false),
        client(
            FIRST_PARTY_ID,
            Some(FIRST_PARTY_SECRET),
            FIRST_PARTY_REDIRECT,
            TokenEndpointAuthMethod::ClientSecretBasic,
            true,
        ),
        ClientConfig {
            client_id: RESOURCE_SERVER_ID.into(),
            name: "Resource server".into(),
            secret: Some(Secret::new(RESOURCE_SERVER_SECRET)),
            grant_types: vec![gatehouse::config::GrantType::ClientCredentials],
            introspect_any_token: true,
            ..ClientConfig::default()
        },
    ];
    customize(&mut config);
    if config.tls.is_some() {
        // The same listener serves HTTPS (the test's customisation made the issuer https).
        address = format!("https://127.0.0.1:{port}");
    }
    let problems = config.validate();
    assert!(problems.is_empty(), "test configuration is invalid: {problems:?}");

    let clock = Arc::new(ManualClock::new());
    let app = Application::build_on_listener(config, clock.clone(), listener)
        .await
        .expect("build the application");
    let state = app.state().clone();
    let redirect_addr = app.redirect_addr();
    let metrics_address = app.metrics_addr().map(|address| format!("http://{address}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        clock,
        database_url,
        state,
        redirect_addr,
        metrics_address,
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}
