//! Everything a request handler needs, built once at start.

use std::sync::Arc;

use actix_web::HttpRequest;
use sea_orm::DatabaseConnection;

use crate::authorization::browser_session::{find_session, BrowserSession};
use crate::authorization::client_registry::ClientRegistry;
use crate::authorization::complete_authorization::FlowContext;
use crate::authorization::token_exchange::TokenContext;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::directory::Directory;
use crate::http::csrf::CsrfKey;
use crate::http::session_cookie::read_session_cookie;
use crate::keys::KeyRing;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub directory: Arc<dyn Directory>,
    pub keys: Arc<KeyRing>,
    pub clients: Arc<ClientRegistry>,
    pub clock: SharedClock,
    pub master_key: MasterKey,
    pub csrf: CsrfKey,
    /// The discovery document, rendered once.
    pub discovery_json: Arc<str>,
}

impl AppState {
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn secure_cookies(&self) -> bool {
        self.config.secure_cookies()
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// The browser's live single sign-on session, if it has one.
    pub async fn current_session(&self, req: &HttpRequest) -> Result<Option<BrowserSession>, sea_orm::DbErr> {
        match read_session_cookie(req, self.secure_cookies()) {
            Some(value) => find_session(&self.db, &value, self.now()).await,
            None => Ok(None),
        }
    }

    pub fn flow_context(&self) -> FlowContext<'_> {
        FlowContext {
            db: &self.db,
            keys: &self.keys,
            issuer: &self.config.issuer,
            lifetimes: &self.config.lifetimes,
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
            now: self.now(),
        }
    }
}
