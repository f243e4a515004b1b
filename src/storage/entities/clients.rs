//! `clients` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub name: String,
    /// SHA-256 hex of the secret; None for public clients.
    pub secret_hash: Option<String>,
    /// JSON array of exact redirect URIs.
    pub redirect_uris: String,
    /// JSON array of exact post-logout redirect URIs.
    pub post_logout_redirect_uris: String,
    pub token_endpoint_auth_method: String,
    pub first_party: bool,
    /// Every sign-in to this client needs a second factor.
    pub require_mfa: bool,
    /// JSON array of allowed grant types.
    pub grant_types: String,
    /// JSON array of the scopes a client_credentials token may carry.
    pub allowed_scopes: String,
    /// JSON array of CIDRs token requests must come from; empty = anywhere.
    pub allowed_ips: String,
    /// Issue refresh tokens even when `offline_access` was not asked for.
    pub issue_refresh_tokens: bool,
    /// `RS256`, `PS256` or `ES256`.
    pub id_token_signed_response_alg: String,
    /// May introspect tokens issued to other clients and personal access tokens.
    pub introspect_any_token: bool,
    /// `config` (seeded from the file) or `cli`.
    pub source: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
