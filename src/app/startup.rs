//! Building the application: state first (database, keys, clients, directory), then the
//! HTTP server on a listener bound from the configuration (port 0 picks a free port).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer, ResponseError};
use anyhow::Context;

use super::https::{prepare_https, run_https_upkeep, Https};
use super::metrics_server::{bind_metrics_listener, instance_metrics, serve_metrics};
use super::routes::configure_all_routes;
use super::served_discovery::ServedDiscovery;
use super::shutdown::{serve_until_signalled, tick_unless_stopped, BackgroundTasks};
use super::state::AppState;
use crate::audit::AuditLog;
use crate::authorization::client_registry::{seed_clients_from_config, ClientRegistry};
use crate::authorization::client_secret::ClientSecretKey;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, LdapConfig};
use crate::crypto::MasterKey;
use crate::directory::{DirectoryHandle, LdapDirectory};
use crate::http::csrf::CsrfKey;
use crate::http::page_response::PageError;
use crate::http::request_id::request_span;
use crate::http::request_metrics::RequestMetrics;
use crate::http::security_headers::security_headers;
use crate::keys::{rotate_signing_keys_if_due, KeyRing, RotationPolicy};
use crate::oidc::discovery_endpoint::discovery_document;
use crate::private_files::ensure_private_directory;
use crate::ratelimit::{AttemptKeys, RateLimiter};
use crate::readiness::ReadinessCheck;
use crate::settings::ldap_settings::{load_or_seed_ldap_settings, refresh_directory, LDAP_SETTING};
use crate::settings::{setting_version, SettingsError};
use crate::storage::{connect_database, run_pending_migrations};

/// Largest form or body accepted (sign-in forms and token requests are tiny).
const BODY_LIMIT: usize = 64 * 1024;
/// How often the client registry is refreshed from the database.
const CLIENT_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// How often each instance checks whether the LDAP settings changed (through another
/// instance, say): the longest a change takes to reach every instance.
pub const LDAP_SETTINGS_POLL_INTERVAL: Duration = Duration::from_secs(5);

pub struct Application {
    addr: SocketAddr,
    server: Server,
    state: AppState,
    /// `[tls]`: the certificate to keep fresh and the redirect listener.
    https: Option<Https>,
    /// `[metrics] listen`: its address and server.
    metrics_server: Option<(SocketAddr, Server)>,
}

/// The master key: from the configuration, or `data_dir/master.key` (created, 0600).
pub fn load_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(key) = &config.master_key {
        return MasterKey::parse(key.expose()).context("while reading master_key");
    }
    prepare_data_dir(config)?;
    let path = config.data_dir.join("master.key");
    let (key, created) = MasterKey::load_or_create_file(&path).context("while loading the master key")?;
    if created {
        tracing::warn!(path = %path.display(), "generated a new master key; back it up: without it the signing keys cannot be read");
    }
    Ok(key)
}

/// The data directory, created (or tightened, with a warning) so that only the account
/// running Gatehouse may enter it: mode 0700.
fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    ensure_private_directory(&config.data_dir)
        .with_context(|| format!("while preparing the data directory {}", config.data_dir.display()))
}

/// Opens the database and applies every pending migration.
pub async fn open_database(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    if config.database.url.is_none() {
        prepare_data_dir(config)?;
    }
    let db = connect_database(&config.database_url(), config.database.max_connections)
        .await
        .context("while connecting to the database")?;
    run_pending_migrations(&db)
        .await
        .context("while applying database migrations")?;
    Ok(db)
}

impl AppState {
    /// Switches to the stored LDAP settings when they changed since this instance last
    /// looked (through another instance, or just now through the admin pages). Returns
    /// whether the directory changed. Called every [`LDAP_SETTINGS_POLL_INTERVAL`], and by
    /// the admin code right after saving so the change applies at once here.
    pub async fn refresh_directory(&self) -> Result<bool, SettingsError> {
        let changed = refresh_directory(&self.db, &self.master_key, &self.directory, self.clock.clone()).await?;
        if changed {
            self.discovery
                .replace(&self.discovery_document(&self.directory.settings()));
        }
        Ok(changed)
    }

    /// The discovery document for these directory settings (their extra claims).
    fn discovery_document(&self, ldap: &LdapConfig) -> serde_json::Value {
        discovery_document(
            &self.config.issuer,
            ldap.extra_claims.keys().map(String::as_str),
            &self.config.keys.algorithms,
        )
    }

    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<AppState> {
        let master_key = load_master_key(&config)?;
        let db = open_database(&config).await?;
        let client_secret_key = ClientSecretKey::derive(&master_key);
        seed_clients_from_config(&db, &client_secret_key, &config.clients, clock.now_unix())
            .await
            .context("while registering the clients from the configuration file")?;
        let keys = KeyRing::load_or_create_with(
            &db,
            &master_key,
            clock.as_ref(),
            &config.keys.algorithms,
            config.keys.rsa_bits,
        )
        .await
        .context("while loading the signing keys")?;
        // The next key exists from the start (generated here, on the blocking pool, never
        // while handling a request), and a rotation that fell due while stopped happens now.
        rotate_signing_keys_if_due(
            &db,
            &master_key,
            &keys,
            clock.now_unix(),
            &RotationPolicy::from_config(&config),
        )
        .await
        .context("while preparing the next signing key")?;
        let clients = ClientRegistry::load(&db, client_secret_key)
            .await
            .context("while loading the clients")?;
        let already_stored = setting_version(&db, LDAP_SETTING)
            .await
            .context("while reading the LDAP settings version")?
            != 0;
        let (ldap, ldap_version) = load_or_seed_ldap_settings(&db, &master_key, &config.ldap, clock.now_unix())
            .await
            .context("while loading the LDAP settings from the database")?;
        let audit = AuditLog::start(db.clone());
        if already_stored {
            tracing::info!(
                version = ldap_version,
                "using the LDAP settings stored in the database; the configuration file's [ldap] only seeds them on \
                 first start (change them at /admin/ldap or through the admin API)"
            );
        }
        // From here on the directory settings live in the directory handle only (changed at
        // /admin/ldap while running); the file's [ldap] seeded them and is not read again.
        let metrics = instance_metrics();
        let directory = LdapDirectory::with_clock(ldap.clone(), clock.clone()).with_metrics(&metrics.ldap());
        let discovery = ServedDiscovery::new(&discovery_document(
            &config.issuer,
            ldap.extra_claims.keys().map(String::as_str),
            &config.keys.algorithms,
        ));
        let trusted_proxies = Arc::new(config.network.trusted_proxies());
        let rate_limits = Arc::new(RateLimiter::new(&config.rate_limits));
        Ok(AppState {
            trusted_proxies,
            rate_limits,
            readiness: Arc::new(ReadinessCheck::new()),
            csrf: CsrfKey::derive(&master_key),
            attempt_keys: AttemptKeys::derive(&master_key),
            audit,
            config: Arc::new(config),
            db,
            directory: Arc::new(
                DirectoryHandle::new(Arc::new(directory), Arc::new(ldap), ldap_version).with_metrics(metrics.ldap()),
            ),
            metrics,
            keys: Arc::new(keys),
            clients: Arc::new(clients),
            clock,
            master_key,
            discovery: Arc::new(discovery),
        })
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&config.listen).with_context(|| format!("while binding {}", config.listen))?;
        Self::build_on_listener(config, clock, listener).await
    }

    /// Builds on a listener bound by the caller (tests bind port 0 first, so the issuer
    /// URL can name the port).
    pub async fn build_on_listener(
        config: Config,
        clock: SharedClock,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        // A certificate that cannot be served stops the start before anything else.
        let https = prepare_https(&config).await?;
        let metrics_listener = bind_metrics_listener(&config)?;
        let state = AppState::build(config, clock).await?;
        let addr = listener.local_addr()?;
        let server = Self::serve(state.clone(), listener, https.as_ref())?;
        let metrics_server = match metrics_listener {
            Some(listener) => Some((listener.local_addr()?, serve_metrics(state.clone(), listener)?)),
            None => None,
        };
        Ok(Application {
            addr,
            server,
            state,
            https,
            metrics_server,
        })
    }

    fn serve(state: AppState, listener: TcpListener, https: Option<&Https>) -> anyhow::Result<Server> {
        let hsts = state.secure_cookies();
        let demo = state.config.demo;
        let grace_period = state.config.shutdown.grace_period.unsigned_abs();
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(
                    web::FormConfig::default()
                        .limit(BODY_LIMIT)
                        .error_handler(move |error, _| {
                            PageError::bad_request("The form could not be read", error.to_string())
                                .in_demo(demo)
                                .into()
                        }),
                )
                .app_data(web::QueryConfig::default().error_handler(move |error, _| {
                    PageError::bad_request("The address is not valid", error.to_string())
                        .in_demo(demo)
                        .into()
                }))
                .wrap(security_headers(hsts))
                .wrap(RequestMetrics)
                // Outermost: every line of the request, the others' included, carries its id.
                .wrap({
                    let trusted_proxies = data.trusted_proxies.clone();
                    from_fn(move |req, next| request_span(trusted_proxies.clone(), req, next))
                })
                .configure(configure_all_routes)
                .default_service(web::to(move || async move {
                    PageError::new(
                        StatusCode::NOT_FOUND,
                        "Page not found",
                        "There is nothing at this address.",
                    )
                    .in_demo(demo)
                    .error_response()
                }))
        })
        // SIGTERM and SIGINT are handled by `run_until_stopped` (drain first).
        .disable_signals()
        .shutdown_timeout(grace_period);
        let server = match https {
            Some(https) => server.listen_rustls_0_23(listener, https.server_config()?)?,
            None => server.listen(listener)?,
        }
        .run();
        Ok(server)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address of `[metrics] listen`, when it is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|(addr, _)| *addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// `https` with `[tls]`, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.https.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The plain-http redirect listener's address (`[tls] redirect_listen`).
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(Https::redirect_addr)
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM, see `shutdown`), with
    /// background upkeep that stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut background = BackgroundTasks::new();
        let state = self.state.clone();
        let stop = background.stop_token();
        background.spawn("key upkeep", async move {
            // Every `keys.reload_interval`: one step of the key schedule (the database lets
            // one instance perform each transition), then a reload, so a change made by
            // another instance, the CLI or the admin API is served within one interval.
            let period = Duration::from_secs(state.config.keys.reload_interval.unsigned_abs().max(1));
            let policy = RotationPolicy::from_config(&state.config);
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while tick_unless_stopped(&mut interval, &stop).await {
                if let Err(error) =
                    rotate_signing_keys_if_due(&state.db, &state.master_key, &state.keys, state.now(), &policy).await
                {
                    tracing::warn!(error = %error, "could not run the signing key schedule");
                }
                if let Err(error) = state.keys.reload(&state.db, &state.master_key).await {
                    tracing::warn!(error = %error, "could not reload the signing keys");
                }
            }
        });
        let state = self.state.clone();
        let stop = background.stop_token();
        background.spawn("client reload", async move {
            let mut interval = tokio::time::interval(CLIENT_RELOAD_INTERVAL);
            while tick_unless_stopped(&mut interval, &stop).await {
                if let Err(error) = state.clients.reload(&state.db).await {
                    tracing::warn!(error = %error, "could not refresh the clients");
                }
            }
        });
        let state = self.state.clone();
        let stop = background.stop_token();
        background.spawn("LDAP settings poll", async move {
            let mut interval = tokio::time::interval(LDAP_SETTINGS_POLL_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while tick_unless_stopped(&mut interval, &stop).await {
                if let Err(error) = state.refresh_directory().await {
                    tracing::warn!(error = %error, "could not check the LDAP settings for changes");
                }
            }
        });
        background.spawn(
            "housekeeping",
            crate::storage::purge::run_housekeeping(
                self.state.db.clone(),
                self.state.clock.clone(),
                self.state.config.lifetimes.clone(),
                Duration::from_secs(self.state.config.housekeeping.interval.unsigned_abs()),
                background.stop_token(),
            ),
        );
        background.spawn(
            "certificate reload",
            run_https_upkeep(self.https, background.stop_token()),
        );
        // `[metrics] listen`: served until the public listener has stopped.
        let metrics_server = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let shutdown = &self.state.config.shutdown;
        let result = serve_until_signalled(self.server, &self.state.readiness, shutdown).await;
        if let Some(metrics_server) = metrics_server {
            metrics_server.stop(true).await;
        }
        let grace_period = Duration::from_secs(shutdown.grace_period.unsigned_abs());
        background.stop_within(grace_period).await;
        if tokio::time::timeout(grace_period, self.state.audit.flush())
            .await
            .is_err()
        {
            tracing::warn!("the audit events still queued could not all be stored in time");
        }
        tracing::info!("stopped");
        result
    }
}
