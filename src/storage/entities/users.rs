//! `users` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// The directory's stable id (entryUUID, objectGUID...): the `sub` claim.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub username: String,
    /// The directory's answer at the last sign-in (name, email, groups...), as JSON.
    #[sea_orm(column_type = "Text")]
    pub claims: String,
    pub created_at: i64,
    pub last_login_at: i64,
    /// When the directory last confirmed the person exists and may sign in.
    pub checked_at: i64,
    /// When the directory refused the person and everything of theirs was revoked;
    /// cleared by their next sign-in.
    pub refused_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
