//! Settings administrators change while Gatehouse runs, kept in the database (table
//! `settings`): the directory connection and the administrator groups. The configuration
//! file only seeds them on first start. Each setting has a version; instances compare
//! versions to pick up a change made through another instance.

pub mod admin_groups;
pub mod ldap_settings;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::crypto::{CryptoError, MasterKey};
use crate::storage::entities::settings;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error("the stored setting `{0}` cannot be read: {1}")]
    Corrupt(&'static str, String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the setting `{0}` was changed by someone else meanwhile; reload and try again")]
    Conflict(&'static str),
    /// The settings were refused; every problem is listed, in plain words.
    #[error("the settings are not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// LDAP settings that would send the stored bind password somewhere else (other
    /// servers, another bind DN, other TLS settings) came without the password typed again.
    #[error("{}", ldap_settings::BIND_PASSWORD_NEEDED)]
    BindPasswordNeeded,
}

/// A stored setting: its JSON value, its decrypted secret part, its version.
#[derive(Debug, Clone)]
pub struct StoredSetting {
    pub value: serde_json::Value,
    pub secret: Option<String>,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// Reads a setting, decrypting its secret part.
pub async fn read_setting(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    name: &'static str,
) -> Result<Option<StoredSetting>, SettingsError> {
    let Some(row) = settings::Entity::find_by_id(name.to_string()).one(db).await? else {
        return Ok(None);
    };
    let value = serde_json::from_str(&row.value).map_err(|e| SettingsError::Corrupt(name, e.to_string()))?;
    let secret = match &row.secret {
        Some(sealed) => {
            let plain = master_key.decrypt(sealed, name.as_bytes())?;
            Some(String::from_utf8(plain).map_err(|e| SettingsError::Corrupt(name, e.to_string()))?)
        }
        None => None,
    };
    Ok(Some(StoredSetting {
        value,
        secret,
        version: row.version,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
    }))
}

/// The version of a setting (0 when it was never stored): a cheap query for polling.
pub async fn setting_version(db: &impl ConnectionTrait, name: &'static str) -> Result<i64, SettingsError> {
    Ok(settings::Entity::find_by_id(name.to_string())
        .one(db)
        .await?
        .map(|row| row.version)
        .unwrap_or(0))
}

/// One write of a setting.
pub struct SettingWrite<'a> {
    pub name: &'static str,
    pub value: &'a serde_json::Value,
    /// The secret part, stored encrypted; `None` stores none.
    pub secret: Option<&'a str>,
    pub expected_version: i64,
    /// Who makes the change (`config`, or an administrator's sub), kept with the setting.
    pub actor: &'a str,
    pub now: i64,
}

/// Writes a setting. `expected_version` is the version the writer read (0: none yet): if
/// someone changed it meanwhile the write is refused with `Conflict`, so two
/// administrators cannot silently overwrite each other. Returns the new version.
pub async fn write_setting(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    write: SettingWrite<'_>,
) -> Result<i64, SettingsError> {
    let SettingWrite {
        name,
        value,
        secret,
        expected_version,
        actor,
        now,
    } = write;
    let json = value.to_string();
    let sealed = secret.map(|s| master_key.encrypt(s.as_bytes(), name.as_bytes()));
    let version = expected_version + 1;
    if expected_version == 0 {
        let inserted = settings::Entity::insert(settings::ActiveModel {
            name: Set(name.to_string()),
            value: Set(json),
            secret: Set(sealed),
            version: Set(version),
            updated_at: Set(now),
            updated_by: Set(actor.to_string()),
        })
        .exec(db)
        .await;
        return match inserted {
            Ok(_) => Ok(version),
            Err(_) if setting_version(db, name).await? != 0 => Err(SettingsError::Conflict(name)),
            Err(error) => Err(error.into()),
        };
    }
    let result = settings::Entity::update_many()
        .col_expr(settings::Column::Value, json.into())
        .col_expr(settings::Column::Secret, sealed.into())
        .col_expr(settings::Column::Version, version.into())
        .col_expr(settings::Column::UpdatedAt, now.into())
        .col_expr(settings::Column::UpdatedBy, actor.to_string().into())
        .filter(settings::Column::Name.eq(name))
        .filter(settings::Column::Version.eq(expected_version))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        Ok(version)
    } else {
        Err(SettingsError::Conflict(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write<'a>(value: &'a serde_json::Value, secret: Option<&'a str>, expected: i64, now: i64) -> SettingWrite<'a> {
        SettingWrite {
            name: "ldap",
            value,
            secret,
            expected_version: expected,
            actor: "test",
            now,
        }
    }

    #[tokio::test]
    async fn settings_round_trip_with_encrypted_secrets_and_optimistic_versions() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.sqlite").display());
        let db = crate::storage::connect_database(&url, 2).await.unwrap();
        crate::storage::run_pending_migrations(&db).await.unwrap();
        let key = MasterKey::generate();
        assert!(read_setting(&db, &key, "ldap").await.unwrap().is_none());
        let value = serde_json::json!({ "url": "ldap://x" });
        assert_eq!(
            write_setting(&db, &key, write(&value, Some("pw"), 0, 1)).await.unwrap(),
            1
        );
        let stored = read_setting(&db, &key, "ldap").await.unwrap().unwrap();
        assert_eq!(stored.value, value);
        assert_eq!(stored.secret.as_deref(), Some("pw"));
        assert_eq!(stored.updated_by, "test");
        let raw = settings::Entity::find_by_id("ldap".to_string())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !raw.secret.unwrap().windows(2).any(|w| w == b"pw"),
            "the secret is encrypted"
        );
        assert!(matches!(
            write_setting(&db, &key, write(&value, None, 0, 2)).await,
            Err(SettingsError::Conflict(_))
        ));
        assert_eq!(write_setting(&db, &key, write(&value, None, 1, 3)).await.unwrap(), 2);
        assert!(matches!(
            write_setting(&db, &key, write(&value, None, 1, 4)).await,
            Err(SettingsError::Conflict(_))
        ));
        assert_eq!(setting_version(&db, "ldap").await.unwrap(), 2);
    }
}
