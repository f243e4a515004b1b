//! `second_factor_setup_links` table: one-time links an administrator made for a person to
//! set up their first authenticator (at most one per person).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "second_factor_setup_links")]
pub struct Model {
    /// The person the link is for (their `sub`): one link per person.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// SHA-256 hex of the link's token; the token itself is never stored.
    pub token_hash: String,
    /// The `sub` of the administrator who made it (or `cli`).
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
