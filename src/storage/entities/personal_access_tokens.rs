//! `personal_access_tokens` table: tokens people create for their scripts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "personal_access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The owner's `sub`.
    pub user_id: String,
    pub name: String,
    /// SHA-256 hex of the token; the token itself is shown once.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Space-separated scopes.
    pub scope: String,
    /// JSON array of CIDRs the token may be used from; empty = anywhere.
    pub allowed_ips: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
