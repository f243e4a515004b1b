//! `audit_events` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: i64,
    /// What happened, e.g. `sign_in.failed`.
    pub kind: String,
    /// Who did it: a `sub`, a username, or an administrator.
    pub actor: Option<String>,
    pub client_id: Option<String>,
    /// Details as a JSON object (never a secret).
    #[sea_orm(column_type = "Text")]
    pub detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
