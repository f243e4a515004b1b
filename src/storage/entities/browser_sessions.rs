//! `browser_sessions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_sessions")]
pub struct Model {
    /// SHA-256 hex of the cookie value; the value itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    /// Public session id, the `sid` claim.
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    /// Space-separated authentication methods (`pwd`, `otp`).
    pub amr: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// The client IP the session was started from.
    pub ip: Option<String>,
    /// The browser's User-Agent at sign-in (shortened), to tell sessions apart.
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
