//! Everything a request handler needs, built once at start.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::HttpRequest;
use sea_orm::DatabaseConnection;

use crate::audit::AuditEvent;
use crate::audit::AuditLog;
use crate::authorization::browser_session::{end_session, find_session, BrowserSession};
use crate::authorization::client_registry::ClientRegistry;
use crate::authorization::complete_authorization::FlowContext;
use crate::authorization::people::{recheck_person, PersonStanding};
use crate::authorization::token_exchange::TokenContext;
use crate::clock::SharedClock;
use crate::config::{Config, IpAllowlist};
use crate::crypto::MasterKey;
use crate::directory::DirectoryHandle;
use crate::http::client_ip::client_ip;
use crate::http::csrf::CsrfKey;
use crate::http::session_cookie::read_session_cookie;
use crate::keys::KeyRing;
use crate::ratelimit::RateLimiter;
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
    /// The discovery document, rendered once.
    pub discovery_json: Arc<str>,
    /// `[network] trusted_proxies`, parsed once.
    pub trusted_proxies: Arc<IpAllowlist>,
    /// The request counters of `[rate_limits]` (per instance, in memory).
    pub rate_limits: Arc<RateLimiter>,
    /// `/readyz`'s kept answer (per instance, in memory).
    pub readiness: Arc<ReadinessCheck>,
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
        let interval = self.config.ldap.recheck_interval;
        match recheck_person(&self.db, self.directory.as_ref(), &session.user_id, now, interval).await? {
            PersonStanding::Active => Ok(Some(session)),
            PersonStanding::Refused => {
                end_session(&self.db, &session.sid, now).await?;
                self.audit.record(
                    AuditEvent::SessionEndedByDirectory {
                        sub: session.user_id.clone(),
                    },
                    now,
                );
                Ok(None)
            }
        }
    }

    pub fn flow_context(&self) -> FlowContext<'_> {
        FlowContext {
            db: &self.db,
            keys: &self.keys,
            issuer: &self.config.issuer,
            lifetimes: &self.config.lifetimes,
            audit: &self.audit,
            mfa: &self.config.mfa,
            now: self.now(),
        }
    }

    pub fn token_context(&self) -> TokenContext<'_> {
        TokenContext {
            db: &self.db,
            keys: &self.keys,
            issuer: &self.config.issuer,
            lifetimes: &self.config.lifetimes,
            email_verified: self.config.ldap.email_verified,
            audit: &self.audit,
            now: self.now(),
        }
    }
}
