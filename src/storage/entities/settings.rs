//! `settings` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "settings")]
pub struct Model {
    /// e.g. `ldap`, `admin_groups`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The setting as JSON, without its secret part.
    #[sea_orm(column_type = "Text")]
    pub value: String,
    /// The secret part (e.g. the LDAP bind password), AES-256-GCM-encrypted under the
    /// master key with the setting's name as associated data.
    pub secret: Option<Vec<u8>>,
    /// Incremented on every change; instances compare it to know when to reload.
    pub version: i64,
    pub updated_at: i64,
    /// Who changed it last (`config` when seeded from the file, else an administrator's sub).
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
