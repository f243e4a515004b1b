//! Configuration: a TOML file, then `GATEHOUSE__SECTION__KEY` environment overrides, then
//! `*_file` indirections for secrets. Unknown keys are collected, not silently dropped, and
//! `Config::validate` reports every problem at once.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

mod housekeeping;
mod ldap;
mod logging;
mod metrics;
mod rate_limits;
mod shutdown;
mod tls;
mod tokens;

pub use housekeeping::HousekeepingConfig;
pub use ldap::{
    is_attribute_name, AccountCheck, GroupSource, GroupValue, LdapAttributes, LdapConfig, LdapConfigFile, LdapGroups,
    LdapPreset, DEFAULT_NESTED_DEPTH, MAX_NESTED_DEPTH,
};
pub use logging::{LogConfig, LogFormat};
pub use metrics::MetricsConfig;
pub use rate_limits::RateLimitsConfig;
pub use shutdown::ShutdownConfig;
pub use tls::{TlsConfig, DEFAULT_TLS_RELOAD_INTERVAL};
pub use tokens::{
    canonical_ip, is_scope_token, parse_ip_network, GrantType, IpAllowlist, NetworkConfig, PersonalAccessTokensConfig,
    SigningAlgorithm,
};

/// A secret from the configuration: never printed by `Debug`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// The issuer identifier: scheme, host, optional port and path; no query or fragment.
    pub issuer: String,
    /// Address the HTTP server binds, `host:port`. Port 0 picks a free port.
    pub listen: String,
    /// Where the SQLite file and the generated master key live.
    pub data_dir: PathBuf,
    /// 32 bytes (64 hex digits or base64). Generated into `data_dir/master.key` when absent.
    pub master_key: Option<Secret>,
    /// Demo mode: the quick start's settings (a banner on the pages).
    pub demo: bool,
    pub database: DatabaseConfig,
    pub lifetimes: Lifetimes,
    pub ldap: LdapConfig,
    pub admin: AdminConfig,
    pub mfa: MfaConfig,
    pub keys: KeysConfig,
    pub network: NetworkConfig,
    pub personal_access_tokens: PersonalAccessTokensConfig,
    pub rate_limits: RateLimitsConfig,
    pub housekeeping: HousekeepingConfig,
    /// Native HTTPS (absent: plain http, as behind a TLS-terminating proxy).
    pub tls: Option<TlsConfig>,
    pub log: LogConfig,
    pub shutdown: ShutdownConfig,
    pub metrics: MetricsConfig,
    pub clients: Vec<ClientConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            master_key: None,
            demo: false,
            database: DatabaseConfig::default(),
            lifetimes: Lifetimes::default(),
            ldap: LdapConfig::default(),
            admin: AdminConfig::default(),
            mfa: MfaConfig::default(),
            keys: KeysConfig::default(),
            network: NetworkConfig::default(),
            personal_access_tokens: PersonalAccessTokensConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            housekeeping: HousekeepingConfig::default(),
            tls: None,
            log: LogConfig::default(),
            shutdown: ShutdownConfig::default(),
            metrics: MetricsConfig::default(),
            clients: Vec::new(),
        }
    }
}

/// The `[admin]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct AdminConfig {
    /// Directory groups whose members administer Gatehouse: each a name as it appears in
    /// the `groups` claim (`admins`), or a group's full DN
    /// (`cn=gatehouse-admins,ou=groups,dc=example,dc=org`), which names that one group
    /// whatever other group shares its name. Seeds the stored setting on first start;
    /// afterwards the stored setting counts (named at `/setup`). Empty: `serve` prints a
    /// one-time setup link.
    pub groups: Vec<String>,
}

impl AdminConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        let mut seen = BTreeSet::new();
        for group in &self.groups {
            if group.trim().is_empty() {
                problems.push("`admin.groups` must not contain an empty group name".into());
            } else if group.trim() != group {
                problems.push(format!("`admin.groups`: `{group}` has leading or trailing spaces"));
            } else if !seen.insert(group.as_str()) {
                problems.push(format!("`admin.groups`: `{group}` is listed twice"));
            }
        }
    }
}

/// Who must prove a second factor after the password (`[mfa] policy`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicyName {
    /// People may enrol a TOTP authenticator; those who did are asked for a code.
    #[default]
    Optional,
    /// Everyone; people without one enrol at their next sign-in.
    Required,
    /// Members of `[mfa] groups`; everyone else as with `optional`.
    Groups,
}

/// The HMAC of the TOTP codes (`[mfa] algorithm`). Authenticator apps all support SHA1;
/// many ignore the others.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum TotpAlgorithm {
    #[default]
    #[serde(rename = "SHA1", alias = "sha1")]
    Sha1,
    #[serde(rename = "SHA256", alias = "sha256")]
    Sha256,
    #[serde(rename = "SHA512", alias = "sha512")]
    Sha512,
}

/// The `[mfa]` section: the TOTP second factor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MfaConfig {
    pub policy: MfaPolicyName,
    /// Directory groups whose members need a second factor (`policy = "groups"` only).
    pub groups: Vec<String>,
    /// Shown by the authenticator app above the code.
    pub issuer_name: String,
    /// The account shown in the app: `{username}` and `{email}` are replaced.
    pub account_label: String,
    pub algorithm: TotpAlgorithm,
    /// 6 to 8.
    pub digits: u32,
    /// Seconds per code.
    pub period: u64,
    /// Wrong codes in a row before the lockout (earlier ones wait 1, 2, 4... seconds).
    pub max_failed_attempts: u32,
    pub lockout_seconds: i64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            policy: MfaPolicyName::Optional,
            groups: Vec::new(),
            issuer_name: "Gatehouse".into(),
            account_label: "{username}".into(),
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
            max_failed_attempts: 5,
            lockout_seconds: 900,
        }
    }
}

impl MfaConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        match self.policy {
            MfaPolicyName::Groups if self.groups.is_empty() => {
                problems.push("`mfa.groups` must name at least one group when `mfa.policy = \"groups\"`".into())
            }
            MfaPolicyName::Optional | MfaPolicyName::Required if !self.groups.is_empty() => problems.push(
                "`mfa.groups` is only used with `mfa.policy = \"groups\"`; remove it or change the policy".into(),
            ),
            _ => {}
        }
        if self.groups.iter().any(|g| g.trim().is_empty()) {
            problems.push("`mfa.groups` must not contain an empty group name".into());
        }
        if self.issuer_name.trim().is_empty() || self.issuer_name.contains(':') {
            problems.push("`mfa.issuer_name` must be a non-empty name without `:`".into());
        }
        let label_without_placeholders = self.account_label.replace("{username}", "").replace("{email}", "");
        if self.account_label.trim().is_empty() || label_without_placeholders.contains(':') {
            problems.push("`mfa.account_label` must be non-empty and contain no `:`".into());
        } else if label_without_placeholders.contains('{') || label_without_placeholders.contains('}') {
            problems.push("`mfa.account_label` may only use the placeholders {username} and {email}".into());
        }
        if !(6..=8).contains(&self.digits) {
            problems.push("`mfa.digits` must be 6, 7 or 8".into());
        }
        if !(10..=300).contains(&self.period) {
            problems.push("`mfa.period` must be between 10 and 300 seconds (authenticator apps expect 30)".into());
        }
        if !(1..=100).contains(&self.max_failed_attempts) {
            problems.push("`mfa.max_failed_attempts` must be between 1 and 100".into());
        }
        if !(1..=86_400).contains(&self.lockout_seconds) {
            problems.push("`mfa.lockout_seconds` must be between 1 and 86400".into());
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://user:pass@host/db`. Default: a SQLite file
    /// `gatehouse.sqlite` in the data directory.
    pub url: Option<Secret>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 10,
        }
    }
}

/// The `[keys]` section: the signing key schedule (README, "Signing keys").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Seconds a key signs before the next one takes over (default 30 days).
    pub rotation_period: i64,
    /// The JWKS `Cache-Control: max-age`: how long relying parties may cache the key set.
    /// A new key is published at least this long before it signs.
    pub jwks_cache_seconds: i64,
    /// Size of generated RSA keys: 2048, 3072 or 4096.
    pub rsa_bits: usize,
    /// The algorithms with a key of their own in the ring (each rotates on the same
    /// schedule). `RS256` is always there; clients choose theirs with
    /// `id_token_signed_response_alg`.
    pub algorithms: Vec<SigningAlgorithm>,
    /// How often every instance re-reads the key ring and checks the schedule: the longest
    /// a change made elsewhere (a rotation, a revocation) takes to reach this instance.
    pub reload_interval: i64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            rotation_period: 30 * 24 * 3600,
            jwks_cache_seconds: 3600,
            rsa_bits: 2048,
            algorithms: SigningAlgorithm::ALL.to_vec(),
            reload_interval: 30,
        }
    }
}

impl KeysConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if !self.algorithms.contains(&SigningAlgorithm::Rs256) {
            problems.push("`keys.algorithms` must include RS256 (access tokens are always RS256)".into());
        }
        if ![2048, 3072, 4096].contains(&self.rsa_bits) {
            problems.push("`keys.rsa_bits` must be 2048, 3072 or 4096".into());
        }
        if !(1..=86_400).contains(&self.jwks_cache_seconds) {
            problems.push("`keys.jwks_cache_seconds` must be between 1 and 86400 seconds".into());
        }
        if !(1..=3600).contains(&self.reload_interval) {
            problems.push("`keys.reload_interval` must be between 1 and 3600 seconds".into());
        }
        // A key must be published for a cache lifetime (plus the reload delay) before it
        // signs; a shorter period would leave every rotation waiting on that.
        if self.rotation_period < 2 * (self.jwks_cache_seconds + self.reload_interval) {
            problems.push(
                "`keys.rotation_period` must be at least twice `keys.jwks_cache_seconds` plus `keys.reload_interval`"
                    .into(),
            );
        }
    }
}

/// Lifetimes in seconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Lifetimes {
    pub authorization_code: i64,
    pub id_token: i64,
    pub access_token: i64,
    /// How long a browser stays signed in (single sign-on) without signing in again.
    pub session: i64,
    /// How long a person has to finish signing in once an application sent them.
    pub login: i64,
    /// A refresh token unused for this long expires (each use issues a new one).
    pub refresh_token_idle: i64,
    /// A refresh token family ends this long after the sign-in, however often it is used.
    pub refresh_token_absolute: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            authorization_code: 60,
            id_token: 3600,
            access_token: 3600,
            session: 8 * 3600,
            login: 900,
            refresh_token_idle: 14 * 24 * 3600,
            refresh_token_absolute: 30 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl TokenEndpointAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "client_secret_basic" => Some(TokenEndpointAuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(TokenEndpointAuthMethod::ClientSecretPost),
            "none" => Some(TokenEndpointAuthMethod::None),
            _ => None,
        }
    }
}

/// A client registered in the file; seeded into the database at start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    /// Required unless `token_endpoint_auth_method = "none"` (a public client).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Required for the authorization code grant; a client_credentials-only client has none.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// First-party clients skip the consent page.
    #[serde(default)]
    pub first_party: bool,
    /// Every sign-in to this client needs a second factor.
    #[serde(default)]
    pub require_mfa: bool,
    /// The grant types this client may use (default: authorization_code, refresh_token).
    #[serde(default = "GrantType::defaults")]
    pub grant_types: Vec<GrantType>,
    /// The scopes a client_credentials token may carry.
    #[serde(default)]
    pub allowed_scopes: Vec<String>,
    /// Addresses or CIDRs token requests must come from; empty = anywhere.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Issue refresh tokens even when `offline_access` was not asked for.
    #[serde(default)]
    pub issue_refresh_tokens: bool,
    /// The ID token signature algorithm: RS256 (default), PS256 or ES256.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlgorithm,
    /// A resource server: may introspect access tokens issued to other clients and
    /// personal access tokens. Without it a client introspects only its own tokens.
    #[serde(default)]
    pub introspect_any_token: bool,
}

impl Default for ClientConfig {
    /// A confidential client with nothing registered yet: fill in at least `client_id`,
    /// `secret` and `redirect_uris`.
    fn default() -> Self {
        ClientConfig {
            client_id: String::new(),
            name: String::new(),
            secret: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            token_endpoint_auth_method: default_auth_method(),
            first_party: false,
            require_mfa: false,
            grant_types: GrantType::defaults(),
            allowed_scopes: Vec::new(),
            allowed_ips: Vec::new(),
            issue_refresh_tokens: false,
            id_token_signed_response_alg: SigningAlgorithm::Rs256,
            introspect_any_token: false,
        }
    }
}

fn default_auth_method() -> TokenEndpointAuthMethod {
    TokenEndpointAuthMethod::ClientSecretBasic
}

/// Everything wrong with a configuration, reported together.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigErrors {
    pub problems: Vec<String>,
}

impl ConfigErrors {
    fn one(problem: impl Into<String>) -> Self {
        ConfigErrors {
            problems: vec![problem.into()],
        }
    }
}

pub const DEFAULT_CONFIG_PATH: &str = "gatehouse.toml";
const ENV_PREFIX: &str = "GATEHOUSE__";

impl Config {
    /// Loads `path` (a missing file is an error only when `required`), applies the
    /// environment overrides and `*_file` secrets, and validates the result.
    pub fn load(
        path: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        Self::load_checked(path, required, env, |_| Vec::new())
    }

    /// [`Config::load`], with `more_checks` (of things outside the file, such as the TLS
    /// certificate it names) run on a configuration that parsed, their problems reported
    /// with the rest.
    pub fn load_checked(
        path: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
        more_checks: impl FnOnce(&Config) -> Vec<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut table = match std::fs::read_to_string(path) {
            Ok(text) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigErrors::one(format!("{}: not valid TOML: {}", path.display(), e.message())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => toml::Table::new(),
            Err(e) => return Err(ConfigErrors::one(format!("cannot read {}: {e}", path.display()))),
        };
        let mut problems = Vec::new();
        apply_env_overrides(&mut table, env, &mut problems);
        resolve_secret_files(&mut table, "", &mut problems);
        let config = Self::from_table(table, &mut problems);
        if let Some(config) = &config {
            problems.extend(config.validate());
            problems.extend(more_checks(config));
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigErrors { problems }),
        }
    }

    /// Parses an already merged table; unknown keys become problems.
    pub fn from_table(table: toml::Table, problems: &mut Vec<String>) -> Option<Config> {
        let mut unknown = Vec::new();
        let result = serde_ignored::deserialize(toml::Value::Table(table), |path| unknown.push(path.to_string()));
        for key in unknown {
            problems.push(format!("unknown key `{key}`"));
        }
        match result {
            Ok(config) => Some(config),
            Err(e) => {
                problems.push(format!("invalid configuration: {e}"));
                None
            }
        }
    }

    /// Every semantic problem in the configuration.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match Url::parse(&self.issuer) {
            Ok(url) => {
                if url.scheme() != "https" && url.scheme() != "http" {
                    problems.push("`issuer` must be an http or https URL".into());
                }
                if url.query().is_some() || url.fragment().is_some() {
                    problems.push("`issuer` must not have a query or fragment".into());
                }
                if self.issuer.ends_with('/') {
                    problems.push("`issuer` must not end with `/`".into());
                }
            }
            Err(e) => problems.push(format!("`issuer` is not a URL: {e}")),
        }
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "`listen` must be an address like 127.0.0.1:8080, got `{}`",
                self.listen
            ));
        }
        if let Some(key) = &self.master_key {
            if crate::crypto::MasterKey::parse(key.expose()).is_err() {
                problems.push("`master_key` must be 32 bytes as 64 hex digits or base64".into());
            }
        }
        if let Some(url) = &self.database.url {
            let url = url.expose();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.push("`database.url` must start with sqlite:, postgres:// or postgresql://".into());
            }
        }
        if self.database.max_connections == 0 {
            problems.push("`database.max_connections` must be at least 1".into());
        }
        let lifetimes = [
            ("authorization_code", self.lifetimes.authorization_code),
            ("id_token", self.lifetimes.id_token),
            ("access_token", self.lifetimes.access_token),
            ("session", self.lifetimes.session),
            ("login", self.lifetimes.login),
            ("refresh_token_idle", self.lifetimes.refresh_token_idle),
            ("refresh_token_absolute", self.lifetimes.refresh_token_absolute),
        ];
        for (name, seconds) in lifetimes {
            if seconds <= 0 {
                problems.push(format!("`lifetimes.{name}` must be a positive number of seconds"));
            }
        }
        self.ldap.validate(&mut problems);
        self.admin.validate(&mut problems);
        self.mfa.validate(&mut problems);
        self.keys.validate(&mut problems);
        self.network.validate(&mut problems);
        self.personal_access_tokens.validate(&mut problems);
        self.rate_limits.validate(&mut problems);
        self.housekeeping.validate(&mut problems);
        if let Some(tls) = &self.tls {
            tls.validate(&self.issuer, &self.listen, &mut problems);
        }
        self.log.validate(&mut problems);
        self.shutdown.validate(&mut problems);
        self.metrics.validate(&self.listen, &mut problems);
        self.validate_clients(&mut problems);
        problems
    }

    fn validate_clients(&self, problems: &mut Vec<String>) {
        let mut seen = BTreeSet::new();
        for client in &self.clients {
            let id = &client.client_id;
            if let Err(problem) = validate_client_id(id) {
                problems.push(format!("client `{id}`: {problem}"));
            }
            if !seen.insert(id.clone()) {
                problems.push(format!("client `{id}` is defined twice"));
            }
            let public = client.token_endpoint_auth_method == TokenEndpointAuthMethod::None;
            match (&client.secret, public) {
                (None, false) => problems.push(format!(
                    "client `{id}`: `secret` is required for a confidential client (or set token_endpoint_auth_method = \"none\")"
                )),
                (Some(_), true) => problems.push(format!("client `{id}`: a public client must not have a secret")),
                (Some(secret), false) if secret.expose().len() < 16 => {
                    problems.push(format!("client `{id}`: `secret` must be at least 16 characters"))
                }
                (Some(secret), false) if secret.expose().len() > MAX_CLIENT_SECRET_BYTES => problems.push(format!(
                    "client `{id}`: `secret` must be at most {MAX_CLIENT_SECRET_BYTES} bytes"
                )),
                _ => {}
            }
            let browser = client.grant_types.contains(&GrantType::AuthorizationCode);
            if client.redirect_uris.is_empty() && browser {
                problems.push(format!("client `{id}`: at least one redirect URI is required"));
            }
            for uri in client.redirect_uris.iter().chain(&client.post_logout_redirect_uris) {
                if let Err(problem) = validate_redirect_uri(uri) {
                    problems.push(format!("client `{id}`: redirect URI `{uri}` {problem}"));
                }
            }
            problems.extend(
                client_capability_problems(
                    public,
                    &client.grant_types,
                    &client.allowed_scopes,
                    &client.allowed_ips,
                    client.id_token_signed_response_alg,
                    &self.keys.algorithms,
                )
                .into_iter()
                .map(|problem| format!("client `{id}`: {problem}")),
            );
        }
    }

    /// The database URL to connect to: the configured one, or the SQLite default.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("gatehouse.sqlite").display()),
        }
    }

    /// Cookies get `Secure`, and responses HSTS, when the issuer is https (the scheme in
    /// any case, as URLs allow).
    pub fn secure_cookies(&self) -> bool {
        self.issuer
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }
}

/// Client ids are printable ASCII without spaces (they travel in URLs and Basic auth).
/// What is wrong with what a client may do; shared by the file and `clients add`.
pub fn client_capability_problems(
    public: bool,
    grant_types: &[GrantType],
    allowed_scopes: &[String],
    allowed_ips: &[String],
    id_token_alg: SigningAlgorithm,
    enabled_algorithms: &[SigningAlgorithm],
) -> Vec<String> {
    let mut problems = Vec::new();
    if grant_types.is_empty() {
        problems.push("`grant_types` must name at least one grant type".to_string());
    }
    if public && grant_types.contains(&GrantType::ClientCredentials) {
        problems.push("a public client cannot use client_credentials (it has no secret)".to_string());
    }
    for scope in allowed_scopes {
        if !is_scope_token(scope) {
            problems.push(format!("`allowed_scopes`: `{scope}` is not a valid scope"));
        }
    }
    if let Err(found) = IpAllowlist::parse(allowed_ips) {
        problems.extend(found.into_iter().map(|p| format!("`allowed_ips`: {p}")));
    }
    if !enabled_algorithms.contains(&id_token_alg) {
        problems.push(format!(
            "`id_token_signed_response_alg` {id_token_alg} is not in `keys.algorithms`"
        ));
    }
    problems
}

/// The longest client id: it travels in URLs and Basic credentials.
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// The longest redirect URI (registered, and so accepted as `redirect_uri`).
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;
/// The longest client secret (of the configuration file; generated ones are 43).
pub const MAX_CLIENT_SECRET_BYTES: usize = 512;

pub fn validate_client_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_BYTES {
        return Err("client_id must be 1 to 128 characters");
    }
    if !id.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err("client_id may only contain visible ASCII characters other than `:`");
    }
    Ok(())
}

/// A redirect URI must be absolute and carry no fragment (OAuth 2.0 section 3.1.2), and
/// fit `MAX_REDIRECT_URI_BYTES`.
pub fn validate_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Err("is longer than 2048 bytes");
    }
    match Url::parse(uri) {
        Ok(url) if url.fragment().is_some() => Err("must not contain a fragment"),
        Ok(url) if url.cannot_be_a_base() && url.scheme() != "urn" => Err("must be an absolute URI"),
        Ok(_) => Ok(()),
        Err(_) => Err("is not an absolute URI"),
    }
}

/// `GATEHOUSE__LDAP__BIND_PASSWORD=x` sets `[ldap] bind_password = "x"`. Values that parse
/// as TOML (numbers, booleans, arrays) keep their type; anything else is a string.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    for (name, value) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(|k| k.is_empty()) {
            problems.push(format!("environment variable {name} has an empty section name"));
            continue;
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_table())
            .unwrap_or(toml::Value::String(value));
        let Some((last, sections)) = keys.split_last() else {
            continue;
        };
        match section_for(table, sections) {
            Ok(section) => {
                section.insert(last.clone(), parsed);
            }
            Err(section) => problems.push(format!("environment variable {name}: `{section}` is not a section")),
        }
    }
}

/// The nested table at `path`, created when missing; `Err(name)` when a step is not a table.
fn section_for<'t>(table: &'t mut toml::Table, path: &[String]) -> Result<&'t mut toml::Table, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(table);
    };
    match table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(inner) => section_for(inner, rest),
        _ => Err(first.clone()),
    }
}

/// Keys that end in `_file` but are settings of their own (a path), not secret indirections.
const PATH_KEYS: &[&str] = &["ca_file", "cert_file", "key_file"];

/// Replaces every `name_file = "/path"` by `name = <file contents without the final newline>`.
fn resolve_secret_files(table: &mut toml::Table, prefix: &str, problems: &mut Vec<String>) {
    let file_keys: Vec<String> = table
        .keys()
        .filter(|k| k.ends_with("_file") && k.len() > 5 && !PATH_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in file_keys {
        let target = key.trim_end_matches("_file").to_string();
        let Some(toml::Value::String(path)) = table.remove(&key) else {
            problems.push(format!("`{prefix}{key}` must be a file path"));
            continue;
        };
        if table.contains_key(&target) {
            problems.push(format!("`{prefix}{target}` and `{prefix}{key}` are both set; keep one"));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(contents) => {
                let value = contents.trim_end_matches(['\n', '\r']).to_string();
                table.insert(target, toml::Value::String(value));
            }
            Err(e) => problems.push(format!("`{prefix}{key}`: cannot read {path}: {e}")),
        }
    }
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::Table(inner) => resolve_secret_files(inner, &format!("{prefix}{key}."), problems),
            toml::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let toml::Value::Table(inner) = item {
                        resolve_secret_files(inner, &format!("{prefix}{key}[{i}]."), problems);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
