//! `pending_authorizations` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    /// The validated authorization request, as JSON.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The step the request is at: `login`, `second_factor` or `consent`.
    pub step: String,
    /// The person the request is for, once known.
    pub user_id: Option<String>,
    /// The person approved the request on the consent page.
    pub consent_approved: bool,
    /// The session the sign-in for this request started (it alone counts as fresh).
    pub sign_in_sid: Option<String>,
    /// The address the request came from (live requests are capped per address).
    pub client_ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
