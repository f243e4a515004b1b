//! `refresh_tokens` table: one row per refresh token; its family is its grant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// SHA-256 hex of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The family: revoking this grant ends every token of the family.
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub sid: Option<String>,
    pub auth_time: i64,
    /// Space-separated `amr` values of the original sign-in.
    pub amr: String,
    pub created_at: i64,
    /// Idle expiry of this token; the family's absolute end is the grant's `expires_at`.
    pub expires_at: i64,
    /// When the token was exchanged for a new one; presenting it again is reuse.
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
