//! Registered clients: stored in the database, served from memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::client_secret::{is_legacy_verifier, ClientSecretKey, SecretMatch};
use crate::config::{ClientConfig, GrantType, IpAllowlist, SigningAlgorithm, TokenEndpointAuthMethod};
use crate::storage::entities::clients;

/// A registered application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// The secret's verifier (see `client_secret`); `None` for a public client.
    pub(crate) secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub auth_method: TokenEndpointAuthMethod,
    pub first_party: bool,
    /// Every sign-in to this client needs a second factor (step-up for password-only sessions).
    pub require_mfa: bool,
    pub grant_types: Vec<GrantType>,
    /// The scopes a client_credentials token may carry.
    pub allowed_scopes: Vec<String>,
    /// Where token requests may come from.
    pub allowed_ips: IpAllowlist,
    /// Issue refresh tokens even when `offline_access` was not asked for.
    pub issue_refresh_tokens: bool,
    pub id_token_signed_response_alg: SigningAlgorithm,
    /// A resource server: may introspect tokens issued to other clients and personal
    /// access tokens (otherwise only its own).
    pub introspect_any_token: bool,
    /// `config` when seeded from the file, `cli` when added with `gatehouse clients add`.
    pub source: String,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == TokenEndpointAuthMethod::None
    }

    /// The name shown to people: the configured name, else the client id.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.client_id
        } else {
            &self.name
        }
    }

    /// Exact string comparison, as OAuth 2.0 Security BCP (RFC 9700 section 2.1) requires.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|registered| registered == uri)
    }

    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Constant-time check of a presented secret against the stored verifier.
    pub fn check_secret(&self, key: &ClientSecretKey, presented: &str) -> SecretMatch {
        key.check(&self.client_id, self.secret_hash.as_deref(), presented)
    }

    fn from_model(model: clients::Model) -> Client {
        Client {
            auth_method: TokenEndpointAuthMethod::parse(&model.token_endpoint_auth_method)
                .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic),
            redirect_uris: serde_json::from_str(&model.redirect_uris).unwrap_or_default(),
            post_logout_redirect_uris: serde_json::from_str(&model.post_logout_redirect_uris).unwrap_or_default(),
            client_id: model.client_id,
            name: model.name,
            secret_hash: model.secret_hash,
            first_party: model.first_party,
            require_mfa: model.require_mfa,
            grant_types: serde_json::from_str::<Vec<String>>(&model.grant_types)
                .unwrap_or_default()
                .iter()
                .filter_map(|grant| GrantType::parse(grant))
                .collect(),
            allowed_scopes: serde_json::from_str(&model.allowed_scopes).unwrap_or_default(),
            allowed_ips: IpAllowlist::from_stored_json(&model.allowed_ips),
            issue_refresh_tokens: model.issue_refresh_tokens,
            id_token_signed_response_alg: SigningAlgorithm::parse(&model.id_token_signed_response_alg)
                .unwrap_or_default(),
            introspect_any_token: model.introspect_any_token,
            source: model.source,
        }
    }
}

/// Spends the time of a secret check when there is no client to check against.
pub fn verify_secret_of_unknown_client(key: &ClientSecretKey, presented: &str) -> bool {
    key.check("", None, presented).is_match()
}

/// What a new registration needs.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: String,
    pub name: String,
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub auth_method: TokenEndpointAuthMethod,
    pub first_party: bool,
    pub require_mfa: bool,
    pub grant_types: Vec<GrantType>,
    pub allowed_scopes: Vec<String>,
    /// Validated addresses or CIDRs.
    pub allowed_ips: Vec<String>,
    pub issue_refresh_tokens: bool,
    pub id_token_signed_response_alg: SigningAlgorithm,
    pub introspect_any_token: bool,
}

impl From<&ClientConfig> for NewClient {
    fn from(config: &ClientConfig) -> Self {
        NewClient {
            client_id: config.client_id.clone(),
            name: config.name.clone(),
            secret: config.secret.as_ref().map(|s| s.expose().to_string()),
            redirect_uris: config.redirect_uris.clone(),
            post_logout_redirect_uris: config.post_logout_redirect_uris.clone(),
            auth_method: config.token_endpoint_auth_method,
            first_party: config.first_party,
            require_mfa: config.require_mfa,
            grant_types: config.grant_types.clone(),
            allowed_scopes: config.allowed_scopes.clone(),
            allowed_ips: config.allowed_ips.clone(),
            issue_refresh_tokens: config.issue_refresh_tokens,
            id_token_signed_response_alg: config.id_token_signed_response_alg,
            introspect_any_token: config.introspect_any_token,
        }
    }
}

fn active_model(client: &NewClient, key: &ClientSecretKey, source: &str, now: i64) -> clients::ActiveModel {
    clients::ActiveModel {
        client_id: Set(client.client_id.clone()),
        name: Set(client.name.clone()),
        secret_hash: Set(client
            .secret
            .as_ref()
            .map(|secret| key.verifier(&client.client_id, secret))),
        redirect_uris: Set(serde_json::to_string(&client.redirect_uris).unwrap_or_else(|_| "[]".into())),
        post_logout_redirect_uris: Set(
            serde_json::to_string(&client.post_logout_redirect_uris).unwrap_or_else(|_| "[]".into())
        ),
        token_endpoint_auth_method: Set(client.auth_method.as_str().to_string()),
        first_party: Set(client.first_party),
        require_mfa: Set(client.require_mfa),
        grant_types: Set(json_list(client.grant_types.iter().map(|grant| grant.as_str()))),
        allowed_scopes: Set(json_list(client.allowed_scopes.iter())),
        allowed_ips: Set(json_list(client.allowed_ips.iter())),
        issue_refresh_tokens: Set(client.issue_refresh_tokens),
        id_token_signed_response_alg: Set(client.id_token_signed_response_alg.as_str().to_string()),
        introspect_any_token: Set(client.introspect_any_token),
        source: Set(source.to_string()),
        created_at: Set(now),
    }
}

fn json_list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let items: Vec<String> = items.map(|item| item.as_ref().to_string()).collect();
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientStoreError {
    #[error("a client with id `{0}` already exists")]
    AlreadyExists(String),
    #[error("client `{0}` is defined in the configuration file; change it there")]
    FromConfig(String),
    #[error("no client with id `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// Makes the database's file-seeded clients exactly those of the configuration file.
/// Every row is rewritten, its secret verifier included, so a verifier of an earlier
/// version is replaced at start.
pub async fn seed_clients_from_config(
    db: &impl ConnectionTrait,
    key: &ClientSecretKey,
    configured: &[ClientConfig],
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    let existing = clients::Entity::find()
        .filter(clients::Column::Source.eq("config"))
        .all(db)
        .await?;
    for stale in existing
        .iter()
        .filter(|model| !configured.iter().any(|c| c.client_id == model.client_id))
    {
        clients::Entity::delete_by_id(stale.client_id.clone()).exec(db).await?;
    }
    for config in configured {
        let new = NewClient::from(config);
        let previous = clients::Entity::find_by_id(new.client_id.clone()).one(db).await?;
        let created_at = previous.as_ref().map(|p| p.created_at).unwrap_or(now);
        let model = active_model(&new, key, "config", created_at);
        if previous.is_some() {
            clients::Entity::update(model).exec(db).await?;
        } else {
            clients::Entity::insert(model).exec(db).await?;
        }
    }
    Ok(())
}

pub async fn add_client(
    db: &impl ConnectionTrait,
    key: &ClientSecretKey,
    client: &NewClient,
    now: i64,
) -> Result<(), ClientStoreError> {
    if clients::Entity::find_by_id(client.client_id.clone())
        .one(db)
        .await?
        .is_some()
    {
        return Err(ClientStoreError::AlreadyExists(client.client_id.clone()));
    }
    clients::Entity::insert(active_model(client, key, "cli", now))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn remove_client(db: &impl ConnectionTrait, client_id: &str) -> Result<(), ClientStoreError> {
    match clients::Entity::find_by_id(client_id.to_string()).one(db).await? {
        None => Err(ClientStoreError::NotFound(client_id.to_string())),
        Some(model) if model.source == "config" => Err(ClientStoreError::FromConfig(client_id.to_string())),
        Some(_) => {
            clients::Entity::delete_by_id(client_id.to_string()).exec(db).await?;
            Ok(())
        }
    }
}

pub async fn list_clients(db: &impl ConnectionTrait) -> Result<Vec<Client>, sea_orm::DbErr> {
    Ok(clients::Entity::find()
        .order_by_asc(clients::Column::ClientId)
        .all(db)
        .await?
        .into_iter()
        .map(Client::from_model)
        .collect())
}

type ClientMap = HashMap<String, Arc<Client>>;

/// Every client in memory. Lookups never touch the database unless the id is unknown,
/// and then at most once per `MISS_RELOAD_INTERVAL`, so a client added from the CLI is
/// usable within a moment without letting unknown ids hammer the database.
pub struct ClientRegistry {
    clients: RwLock<Arc<ClientMap>>,
    last_reload: Mutex<Instant>,
    secret_key: ClientSecretKey,
}

const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

impl ClientRegistry {
    pub async fn load(
        db: &impl ConnectionTrait,
        secret_key: ClientSecretKey,
    ) -> Result<ClientRegistry, sea_orm::DbErr> {
        let registry = ClientRegistry {
            clients: RwLock::new(Arc::new(HashMap::new())),
            last_reload: Mutex::new(Instant::now()),
            secret_key,
        };
        registry.reload(db).await?;
        Ok(registry)
    }

    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
        let map: ClientMap = list_clients(db)
            .await?
            .into_iter()
            .map(|client| (client.client_id.clone(), Arc::new(client)))
            .collect();
        if let Ok(mut guard) = self.clients.write() {
            *guard = Arc::new(map);
        }
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Instant::now();
        }
        Ok(())
    }

    /// Checks a secret presented by `client` (constant time, the same work whatever the
    /// outcome).
    pub fn check_secret(&self, client: &Client, presented: &str) -> SecretMatch {
        client.check_secret(&self.secret_key, presented)
    }

    /// Spends the work of a secret check for a client id nobody has.
    pub fn check_secret_of_unknown_client(&self, presented: &str) -> bool {
        verify_secret_of_unknown_client(&self.secret_key, presented)
    }

    /// Rewrites the verifier of `client`, which was of an earlier version (plain
    /// SHA-256) and has just matched `presented`, as the current keyed one: in the
    /// database (only if nobody changed it meanwhile) and in memory. Call only once the
    /// client has authenticated.
    pub async fn upgrade_secret_verifier(
        &self,
        db: &impl ConnectionTrait,
        client: &Client,
        presented: &str,
    ) -> Result<(), sea_orm::DbErr> {
        let Some(old) = client.secret_hash.as_deref().filter(|old| is_legacy_verifier(old)) else {
            return Ok(());
        };
        let new = self.secret_key.verifier(&client.client_id, presented);
        let updated = clients::Entity::update_many()
            .col_expr(clients::Column::SecretHash, Expr::value(new.clone()))
            .filter(clients::Column::ClientId.eq(client.client_id.as_str()))
            .filter(clients::Column::SecretHash.eq(old))
            .exec(db)
            .await?;
        if updated.rows_affected != 1 {
            // Another instance upgraded it, or the client changed: take what is stored.
            return self.reload(db).await;
        }
        tracing::info!(client_id = %client.client_id, "client secret verifier upgraded to a keyed hash");
        if let Ok(mut guard) = self.clients.write() {
            let current = guard.get(&client.client_id).cloned();
            if let Some(current) = current.filter(|c| c.secret_hash.as_deref() == Some(old)) {
                let mut map = ClientMap::clone(&guard);
                map.insert(
                    client.client_id.clone(),
                    Arc::new(Client {
                        secret_hash: Some(new),
                        ..Client::clone(&current)
                    }),
                );
                *guard = Arc::new(map);
            }
        }
        Ok(())
    }

    fn get_cached(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.read().ok().and_then(|map| map.get(client_id).cloned())
    }

    /// The client, from memory; an unknown id triggers a throttled reload.
    pub async fn find(
        &self,
        db: &impl ConnectionTrait,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, sea_orm::DbErr> {
        if let Some(client) = self.get_cached(client_id) {
            return Ok(Some(client));
        }
        let due = self
            .last_reload
            .lock()
            .map(|last| last.elapsed() >= MISS_RELOAD_INTERVAL)
            .unwrap_or(true);
        if due {
            self.reload(db).await?;
        }
        Ok(self.get_cached(client_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ClientSecretKey {
        ClientSecretKey::derive(&crate::crypto::MasterKey::from_bytes([7; 32]))
    }

    fn client(secret: Option<&str>) -> Client {
        Client {
            client_id: "app".into(),
            name: String::new(),
            secret_hash: secret.map(|s| key().verifier("app", s)),
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            first_party: false,
            require_mfa: false,
            grant_types: crate::config::GrantType::defaults(),
            allowed_scopes: vec![],
            allowed_ips: crate::config::IpAllowlist::default(),
            issue_refresh_tokens: false,
            id_token_signed_response_alg: crate::config::SigningAlgorithm::Rs256,
            introspect_any_token: false,
            source: "cli".into(),
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let app = client(None);
        assert!(app.has_redirect_uri("https://app.example/cb"));
        assert!(!app.has_redirect_uri("https://app.example/cb/"));
        assert!(!app.has_redirect_uri("https://app.example/cb?x=1"));
        assert!(!app.has_redirect_uri("https://APP.example/cb"));
        assert!(!app.has_redirect_uri("https://app.example/c"));
    }

    #[test]
    fn secrets_are_checked() {
        let app = client(Some("correct horse battery"));
        assert_eq!(app.check_secret(&key(), "correct horse battery"), SecretMatch::Current);
        assert_eq!(app.check_secret(&key(), "correct horse"), SecretMatch::No);
        assert_eq!(client(None).check_secret(&key(), ""), SecretMatch::No);
        assert!(!verify_secret_of_unknown_client(&key(), "anything"));
        assert_eq!(app.display_name(), "app");
    }
}
