//! Everything a request handler needs, built once at start.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::HttpRequest;
use sea_orm::DatabaseConnection;

use super::served_discovery::ServedDiscovery;
use crate::audit::AuditLog;
use crate::authorization::browser_session::{find_session, BrowserSession};
use crate::authorization::client_registry::ClientRegistry;
use crate::authorization::complete_authorization::FlowContext;
use crate::authorization::people::{recheck_person, PersonChecks, PersonStanding};
use crate::authorization::token_exchange::TokenContext;
use crate::clock::SharedClock;
use crate::config::{Config, IpAllowlist};
use crate::crypto::MasterKey;
use crate::directory::DirectoryHandle;
use crate::http::client_ip::client_ip;
use crate::http::csrf::CsrfKey;
use crate::http::session_cookie::read_session_cookie;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::ratelimit::{AttemptKeys, RateLimiter};
use crate::readiness::ReadinessCheck;
use crate::settings::admin_groups::{load_admin_groups, AdminGroups};
use crate::settings::SettingsError;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    /// The directory in use; replaced when administrators change the LDAP settings.
    pub directory: Arc<DirectoryHandle>,
    pub keys: Arc<KeyRing>,
    pub clients: Arc<ClientRegistry>,
    pub clock: SharedClock,
    pub master_key: MasterKey,
    pub csrf: CsrfKey,
    pub audit: AuditLog,
    /// The discovery document, rendered at start and when the directory settings change.
    pub discovery: Arc<ServedDiscovery>,
    /// `[network] trusted_proxies`, parsed once.
    pub trusted_proxies: Arc<IpAllowlist>,
    /// The request counters of `[rate_limits]` (per instance, in memory).
    pub rate_limits: Arc<RateLimiter>,
    /// The key sign-in attempts are counted under (derived from the master key).
    pub attempt_keys: AttemptKeys,
    /// `/readyz`'s kept answer (per instance, in memory).
    pub readiness: Arc<ReadinessCheck>,
    /// This instance's Prometheus metrics (`/metrics`).
    pub metrics: Metrics,
}

impl AppState {
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn secure_cookies(&self) -> bool {
        self.config.secure_cookies()
    }

    /// The address a request comes from (socket peer, or `X-Forwarded-For` behind a
    /// trusted proxy).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        client_ip(req, &self.trusted_proxies)
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// The directory groups whose members administer Gatehouse, as stored (seeded from
    /// `[admin] groups` on first use).
    pub async fn admin_groups(&self) -> Result<AdminGroups, SettingsError> {
        load_admin_groups(&self.db, &self.master_key, &self.config.admin.groups, self.now()).await
    }

    /// The browser's live single sign-on session, if it has one.
    pub async fn current_session(&self, req: &HttpRequest) -> Result<Option<BrowserSession>, sea_orm::DbErr> {
        let Some(value) = read_session_cookie(req, self.secure_cookies()) else {
            return Ok(None);
        };
        let now = self.now();
        let Some(session) = find_session(&self.db, &value, now).await? else {
            return Ok(None);
        };
        match recheck_person(&self.person_checks(), &session.user_id).await? {
            PersonStanding::Active => Ok(Some(session)),
            // Refused: every session of theirs (this one included) has just ended.
            PersonStanding::Refused => Ok(None),
        }
    }

    /// What the directory re-checks of a person need, with the directory settings in use
    /// now (an interval changed at `/admin/ldap` applies at once).
    pub fn person_checks(&self) -> PersonChecks<'_> {
        PersonChecks {
            db: &self.db,
            directory: self.directory.as_ref(),
            audit: &self.audit,
            interval: self.directory.settings().recheck_interval,
            now: self.now(),
        }
    }

    /// What the authorization flow needs for the browser request `req`.
    pub fn flow_context(&self, req: &HttpRequest) -> FlowContext<'_> {
        let limits = &self.config.rate_limits;
        FlowContext {
            db: &self.db,
            keys: &self.keys,
            issuer: &self.config.issuer,
            lifetimes: &self.config.lifetimes,
            audit: &self.audit,
            mfa: &self.config.mfa,
            client_ip: self.client_ip(req).map(|ip| ip.to_canonical().to_string()),
            pending_per_address: if limits.enabled {
                limits.pending_authorizations_per_ip
            } else {
                0
            },
            now: self.now(),
        }
    }

    pub fn token_context(&self) -> TokenContext<'_> {
        TokenContext {
            db: &self.db,
            keys: &self.keys,
            issuer: &self.config.issuer,
            lifetimes: &self.config.lifetimes,
            email_verified: self.directory.settings().email_verified,
            audit: &self.audit,
            now: self.now(),
        }
    }
}
