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
    /// `config` (seeded from the file) or `cli`.
    pub source: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
