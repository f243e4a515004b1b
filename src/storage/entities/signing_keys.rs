//! `signing_keys` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// JOSE algorithm, e.g. `RS256`.
    pub algorithm: String,
    /// `next`, `current`, `retired` or `revoked`.
    pub status: String,
    /// PKCS#8 DER private key, AES-256-GCM-encrypted under the master key.
    pub private_key: Vec<u8>,
    /// The public JWK (JSON) as published in the JWKS.
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
