//! The directory groups whose members administer Gatehouse (setting `admin_groups`), and
//! the one-time setup token that lets an operator name them on first run.
//!
//! `[admin] groups` in the configuration file seeds the setting on first start; after
//! that the stored setting is what counts. While no group is stored, `serve` asks
//! [`ensure_setup_token`] for a setup token and prints the link: only a SHA-256 hash of
//! it is stored (setting `setup_token`), with an expiry, and [`consume_setup_token`]
//! spends it once.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::{read_setting, write_setting, SettingWrite, SettingsError};
use crate::audit::{AuditEvent, AuditLog};
use crate::crypto::{constant_time_eq, random_token, sha256_hex, MasterKey};
use crate::storage::entities::settings;

/// The setting holding the administrator groups.
pub const ADMIN_GROUPS_SETTING: &str = "admin_groups";
/// The setting holding the hash of the pending setup token.
pub const SETUP_TOKEN_SETTING: &str = "setup_token";
/// How long a setup link stays valid. A new one is printed at every start while there is
/// no administrator group.
pub const SETUP_TOKEN_LIFETIME: i64 = 24 * 3600;
/// Who a seeded setting is attributed to.
const SEEDED_BY: &str = "config";

/// The administrator groups and the version of the setting (0: never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminGroups {
    pub groups: Vec<String>,
    pub version: i64,
}

impl AdminGroups {
    /// Whether someone with these directory groups is an administrator. Group names are
    /// compared without regard to ASCII case, as LDAP compares names.
    pub fn admits(&self, person_groups: &[String]) -> bool {
        !self.memberships(person_groups).is_empty()
    }

    /// The administrator groups the person is a member of.
    pub fn memberships(&self, person_groups: &[String]) -> Vec<String> {
        self.groups
            .iter()
            .filter(|admin| person_groups.iter().any(|group| group.eq_ignore_ascii_case(admin)))
            .cloned()
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredGroups {
    groups: Vec<String>,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct StoredSetupToken {
    hash: String,
    expires_at: i64,
}

/// The most administrator groups that can be named.
pub const MAX_ADMIN_GROUPS: usize = 100;

/// Every problem with a list of administrator groups (empty: the list is fine).
pub fn admin_group_problems(groups: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if groups.is_empty() {
        problems.push("name at least one administrator group".to_string());
    }
    if groups.len() > MAX_ADMIN_GROUPS {
        problems.push(format!("name at most {MAX_ADMIN_GROUPS} administrator groups"));
        return problems;
    }
    let mut seen: Vec<String> = Vec::new();
    for group in groups {
        if group.trim().is_empty() {
            problems.push("an administrator group name is empty".to_string());
        } else if group.trim() != group {
            problems.push(format!("the group name `{group}` has leading or trailing spaces"));
        } else if group.len() > 512 {
            problems.push("an administrator group name is longer than 512 characters".to_string());
        } else if seen.iter().any(|s| s.eq_ignore_ascii_case(group)) {
            problems.push(format!("the group `{group}` is listed twice"));
        } else {
            seen.push(group.clone());
        }
    }
    problems
}

/// Splits what a person typed (commas or new lines between names) into group names.
pub fn parse_group_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_groups(value: serde_json::Value) -> Result<Vec<String>, SettingsError> {
    serde_json::from_value::<StoredGroups>(value)
        .map(|stored| stored.groups)
        .map_err(|e| SettingsError::Corrupt(ADMIN_GROUPS_SETTING, e.to_string()))
}

/// The stored administrator groups. When none were ever stored and the configuration file
/// names some, they are stored first (attributed to `config`).
pub async fn load_admin_groups(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    file_groups: &[String],
    now: i64,
) -> Result<AdminGroups, SettingsError> {
    if let Some(stored) = read_setting(db, master_key, ADMIN_GROUPS_SETTING).await? {
        return Ok(AdminGroups {
            groups: parse_groups(stored.value)?,
            version: stored.version,
        });
    }
    if file_groups.is_empty() {
        return Ok(AdminGroups {
            groups: Vec::new(),
            version: 0,
        });
    }
    let problems = admin_group_problems(file_groups);
    if !problems.is_empty() {
        return Err(SettingsError::Invalid(problems));
    }
    let value = serde_json::to_value(StoredGroups {
        groups: file_groups.to_vec(),
    })
    .map_err(|e| SettingsError::Corrupt(ADMIN_GROUPS_SETTING, e.to_string()))?;
    let write = SettingWrite {
        name: ADMIN_GROUPS_SETTING,
        value: &value,
        secret: None,
        expected_version: 0,
        actor: SEEDED_BY,
        now,
    };
    match write_setting(db, master_key, write).await {
        Ok(version) => {
            tracing::info!(groups = ?file_groups, "administrator groups seeded from the configuration file");
            Ok(AdminGroups {
                groups: file_groups.to_vec(),
                version,
            })
        }
        // Another instance seeded it meanwhile: theirs is the stored one.
        Err(SettingsError::Conflict(_)) => match read_setting(db, master_key, ADMIN_GROUPS_SETTING).await? {
            Some(stored) => Ok(AdminGroups {
                groups: parse_groups(stored.value)?,
                version: stored.version,
            }),
            None => Err(SettingsError::Conflict(ADMIN_GROUPS_SETTING)),
        },
        Err(error) => Err(error),
    }
}

/// Stores a new list of administrator groups. `expected_version` is the version the
/// caller read; `Conflict` when someone changed it meanwhile, `Invalid` with every problem
/// when the list is not usable. Returns the new version.
pub async fn save_admin_groups(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    groups: &[String],
    expected_version: i64,
    actor: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<i64, SettingsError> {
    let problems = admin_group_problems(groups);
    if !problems.is_empty() {
        return Err(SettingsError::Invalid(problems));
    }
    let value = serde_json::to_value(StoredGroups {
        groups: groups.to_vec(),
    })
    .map_err(|e| SettingsError::Corrupt(ADMIN_GROUPS_SETTING, e.to_string()))?;
    let version = write_setting(
        db,
        master_key,
        SettingWrite {
            name: ADMIN_GROUPS_SETTING,
            value: &value,
            secret: None,
            expected_version,
            actor,
            now,
        },
    )
    .await?;
    audit.record(
        AuditEvent::AdminGroupsChanged {
            actor: actor.to_string(),
            groups: groups.to_vec(),
        },
        now,
    );
    Ok(version)
}

/// Whether administrator groups are stored (read without the master key: the setting has
/// no secret part).
async fn admin_groups_stored(db: &impl ConnectionTrait) -> Result<bool, SettingsError> {
    let Some(row) = settings::Entity::find_by_id(ADMIN_GROUPS_SETTING.to_string())
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let value =
        serde_json::from_str(&row.value).map_err(|e| SettingsError::Corrupt(ADMIN_GROUPS_SETTING, e.to_string()))?;
    Ok(!parse_groups(value)?.is_empty())
}

/// While no administrator group is stored: a fresh setup token (replacing any earlier
/// one), valid for [`SETUP_TOKEN_LIFETIME`]; only its hash is stored. `None` once
/// administrator groups exist (any leftover token is removed then).
pub async fn ensure_setup_token(db: &impl ConnectionTrait, now: i64) -> Result<Option<String>, SettingsError> {
    if admin_groups_stored(db).await? {
        settings::Entity::delete_by_id(SETUP_TOKEN_SETTING.to_string())
            .exec(db)
            .await?;
        return Ok(None);
    }
    let token = random_token(32);
    let stored = StoredSetupToken {
        hash: sha256_hex(token.as_bytes()),
        expires_at: now + SETUP_TOKEN_LIFETIME,
    };
    let value =
        serde_json::to_string(&stored).map_err(|e| SettingsError::Corrupt(SETUP_TOKEN_SETTING, e.to_string()))?;
    settings::Entity::delete_by_id(SETUP_TOKEN_SETTING.to_string())
        .exec(db)
        .await?;
    settings::Entity::insert(settings::ActiveModel {
        name: Set(SETUP_TOKEN_SETTING.to_string()),
        value: Set(value),
        secret: Set(None),
        version: Set(1),
        updated_at: Set(now),
        updated_by: Set("serve".to_string()),
    })
    .exec(db)
    .await?;
    Ok(Some(token))
}

/// What a presented setup token is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupTokenStatus {
    /// It is the pending token and has not expired.
    Valid,
    /// There is a pending token, but this is not it, or it expired.
    Invalid,
    /// No setup is pending (done already, or never asked for).
    NonePending,
}

async fn pending_setup_token(db: &impl ConnectionTrait) -> Result<Option<(String, StoredSetupToken)>, SettingsError> {
    let Some(row) = settings::Entity::find_by_id(SETUP_TOKEN_SETTING.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let stored =
        serde_json::from_str(&row.value).map_err(|e| SettingsError::Corrupt(SETUP_TOKEN_SETTING, e.to_string()))?;
    Ok(Some((row.value, stored)))
}

fn token_matches(stored: &StoredSetupToken, token: &str, now: i64) -> bool {
    let presented = sha256_hex(token.as_bytes());
    constant_time_eq(presented.as_bytes(), stored.hash.as_bytes()) && now < stored.expires_at
}

/// Checks a presented setup token without spending it.
pub async fn check_setup_token(
    db: &impl ConnectionTrait,
    token: &str,
    now: i64,
) -> Result<SetupTokenStatus, SettingsError> {
    if admin_groups_stored(db).await? {
        return Ok(SetupTokenStatus::NonePending);
    }
    Ok(match pending_setup_token(db).await? {
        None => SetupTokenStatus::NonePending,
        Some((_, stored)) if token_matches(&stored, token, now) => SetupTokenStatus::Valid,
        Some(_) => SetupTokenStatus::Invalid,
    })
}

/// Spends the setup token: true for exactly one caller presenting the valid token, even
/// when several try at once (the row is deleted only if it is still the one read).
pub async fn consume_setup_token(db: &impl ConnectionTrait, token: &str, now: i64) -> Result<bool, SettingsError> {
    let Some((raw, stored)) = pending_setup_token(db).await? else {
        return Ok(false);
    };
    if !token_matches(&stored, token, now) {
        return Ok(false);
    }
    let deleted = settings::Entity::delete_many()
        .filter(settings::Column::Name.eq(SETUP_TOKEN_SETTING))
        .filter(settings::Column::Value.eq(raw))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// At start: stores the configuration file's groups if none are stored yet, then returns a
/// setup token when there is still no administrator group.
pub async fn prepare_first_run(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    file_groups: &[String],
    now: i64,
) -> Result<Option<String>, SettingsError> {
    load_admin_groups(db, master_key, file_groups, now).await?;
    ensure_setup_token(db, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.sqlite").display());
        let db = crate::storage::connect_database(&url, 2).await.unwrap();
        crate::storage::run_pending_migrations(&db).await.unwrap();
        (dir, db)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn group_lists_are_parsed_and_checked() {
        assert_eq!(
            parse_group_list(" admins, ops\n\nsecurity ,"),
            names(&["admins", "ops", "security"])
        );
        assert!(admin_group_problems(&names(&["admins"])).is_empty());
        assert_eq!(admin_group_problems(&[]).len(), 1);
        let many: Vec<String> = (0..=MAX_ADMIN_GROUPS).map(|i| format!("group-{i}")).collect();
        assert_eq!(
            admin_group_problems(&many),
            vec!["name at most 100 administrator groups".to_string()]
        );
        assert_eq!(admin_group_problems(&names(&["admins", "Admins", " x", ""])).len(), 3);
        let groups = AdminGroups {
            groups: names(&["Admins"]),
            version: 1,
        };
        assert!(groups.admits(&names(&["staff", "admins"])));
        assert!(!groups.admits(&names(&["staff"])));
    }

    #[tokio::test]
    async fn file_groups_seed_once_and_the_stored_list_wins() {
        let (_dir, db) = database().await;
        let key = MasterKey::generate();
        let empty = load_admin_groups(&db, &key, &[], 1).await.unwrap();
        assert_eq!(empty.version, 0);
        assert!(empty.groups.is_empty());
        let seeded = load_admin_groups(&db, &key, &names(&["admins"]), 2).await.unwrap();
        assert_eq!(
            seeded,
            AdminGroups {
                groups: names(&["admins"]),
                version: 1
            }
        );
        let again = load_admin_groups(&db, &key, &names(&["other"]), 3).await.unwrap();
        assert_eq!(again.groups, names(&["admins"]), "the file only seeds");
    }

    #[tokio::test]
    async fn the_setup_token_is_hashed_single_use_and_expires() {
        let (_dir, db) = database().await;
        let key = MasterKey::generate();
        let token = ensure_setup_token(&db, 100).await.unwrap().unwrap();
        let row = settings::Entity::find_by_id(SETUP_TOKEN_SETTING.to_string())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert!(!row.value.contains(&token), "only the hash is stored");
        assert_eq!(
            check_setup_token(&db, &token, 101).await.unwrap(),
            SetupTokenStatus::Valid
        );
        assert_eq!(
            check_setup_token(&db, "wrong", 101).await.unwrap(),
            SetupTokenStatus::Invalid
        );
        assert_eq!(
            check_setup_token(&db, &token, 100 + SETUP_TOKEN_LIFETIME)
                .await
                .unwrap(),
            SetupTokenStatus::Invalid
        );
        assert!(!consume_setup_token(&db, "wrong", 102).await.unwrap());
        assert!(consume_setup_token(&db, &token, 102).await.unwrap());
        assert!(!consume_setup_token(&db, &token, 103).await.unwrap());
        assert_eq!(
            check_setup_token(&db, &token, 103).await.unwrap(),
            SetupTokenStatus::NonePending
        );

        // A new start issues a new token until groups are stored; then none.
        let second = ensure_setup_token(&db, 200).await.unwrap().unwrap();
        assert_ne!(second, token);
        let (_audit_dir, audit_db) = database().await;
        let audit = AuditLog::start(audit_db);
        save_admin_groups(&db, &key, &names(&["admins"]), 0, "setup", &audit, 201)
            .await
            .unwrap();
        assert_eq!(ensure_setup_token(&db, 202).await.unwrap(), None);
        assert_eq!(
            check_setup_token(&db, &second, 203).await.unwrap(),
            SetupTokenStatus::NonePending
        );
    }
}
