//! `totp_credentials` table: one row per person who has (or is setting up) a second factor.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_credentials")]
pub struct Model {
    /// The person's `sub`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// The active credential (secret and code parameters), AES-256-GCM-encrypted under the
    /// master key with `totp_credentials.secret` as associated data. `None`: no second factor.
    pub secret: Option<Vec<u8>>,
    pub enrolled_at: Option<i64>,
    /// A credential being enrolled, sealed the same way; active only once a code confirms it.
    pub pending_secret: Option<Vec<u8>>,
    pub pending_since: Option<i64>,
    /// The last time step (Unix time / period) whose code was accepted: the replay guard.
    pub last_used_step: Option<i64>,
    /// Wrong codes since the last accepted one (or since the last lockout ended).
    pub failed_attempts: i32,
    /// No attempt is checked before this time (the growing delay, or the lockout).
    pub locked_until: Option<i64>,
    pub last_failed_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
