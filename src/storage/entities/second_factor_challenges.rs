//! `second_factor_challenges` table: half-signed-in browsers that owe a second factor.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "second_factor_challenges")]
pub struct Model {
    /// SHA-256 hex of the cookie value; the value itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub user_id: String,
    /// The pending authorization request this sign-in continues.
    pub request_id: Option<String>,
    /// A local path to land on when there is no request.
    pub next_path: Option<String>,
    /// The password-only session being stepped up.
    pub session_sid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
