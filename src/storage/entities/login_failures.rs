//! `login_failures` table: failed sign-ins per username in a fixed window.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_failures")]
pub struct Model {
    /// SHA-256 hex of the lower-cased username (what people type is not kept).
    #[sea_orm(primary_key, auto_increment = false)]
    pub username_hash: String,
    pub window_start: i64,
    pub failures: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
