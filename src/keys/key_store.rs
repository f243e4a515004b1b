//! The `signing_keys` queries the key ring needs. Rotation adds its transitions here.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{GeneratedKey, KeyError, KeyStatus};
use crate::crypto::MasterKey;
use crate::storage::entities::signing_keys;

/// Associated data bound to every encrypted private key, so a ciphertext copied into
/// another encrypted column does not decrypt as a signing key.
pub(crate) const PRIVATE_KEY_CONTEXT: &[u8] = b"signing_keys.private_key";

/// Stores `key` (under its algorithm) with `status`, its private key encrypted under `master_key`. A `current`
/// key is stored as activated at `now`.
pub async fn store_signing_key(
    conn: &impl ConnectionTrait,
    key: &GeneratedKey,
    status: KeyStatus,
    master_key: &MasterKey,
    now: i64,
) -> Result<(), KeyError> {
    let row = signing_keys::ActiveModel {
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.as_str().to_string()),
        status: Set(status.as_str().to_string()),
        private_key: Set(master_key.encrypt(&key.pkcs8_der, PRIVATE_KEY_CONTEXT)),
        public_jwk: Set(key.public_jwk().to_json()),
        created_at: Set(now),
        activated_at: Set((status == KeyStatus::Current).then_some(now)),
        retired_at: Set((status == KeyStatus::Retired).then_some(now)),
        revoked_at: Set((status == KeyStatus::Revoked).then_some(now)),
    };
    signing_keys::Entity::insert(row).exec_without_returning(conn).await?;
    Ok(())
}

/// Every key that is published (`next`, `current`, `retired`), private parts still encrypted.
pub async fn load_published_signing_keys(conn: &impl ConnectionTrait) -> Result<Vec<signing_keys::Model>, KeyError> {
    let published = KeyStatus::ALL
        .into_iter()
        .filter(|status| status.is_published())
        .map(KeyStatus::as_str);
    Ok(signing_keys::Entity::find()
        .filter(signing_keys::Column::Status.is_in(published))
        .all(conn)
        .await?)
}
