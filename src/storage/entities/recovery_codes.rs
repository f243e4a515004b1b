//! `recovery_codes` table: single-use codes standing in for a TOTP code.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recovery_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The person's `sub`.
    pub user_id: String,
    /// SHA-256 (hex) of the person's id and the normalised code; the code itself is shown once.
    pub code_hash: String,
    pub created_at: i64,
    /// When it was used; a used code is refused.
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
