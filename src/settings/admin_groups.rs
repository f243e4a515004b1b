//! The directory groups whose members administer Gatehouse (setting `admin_groups`), and
//! the one-time setup token that lets an operator name them on first run.
//!
//! `[admin] groups` in the configuration file seeds the setting on first start; after
//! that the stored setting is what counts. While no group is stored, `serve` asks
//! [`ensure_setup_token`] for a setup token and prints the link: only a SHA-256 hash of
//! it is stored (setting `setup_token`), with an expiry, and [`consume_setup_token`]
//! spends it once.
//!
//! An entry is a group name (`admins`), compared with the `groups` claim without regard to
//! ASCII case, or a group's full DN (`cn=gatehouse-admins,ou=groups,dc=example,dc=org`),
//! compared with the DNs of the person's groups after normalising both (case, spaces
//! around separators). A DN names one group only: another group with the same name
//! elsewhere in the directory does not match it. An entry with `=` in it is a DN.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::{read_setting, write_setting, SettingWrite, SettingsError};
use crate::audit::{AuditEvent, AuditLog};
use crate::crypto::{constant_time_eq, random_token, sha256_hex, MasterKey};
use crate::directory::{dn_key, is_distinguished_name};
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

/// Whether an administrator group entry names a group by its DN (else by its name).
pub fn names_a_dn(entry: &str) -> bool {
    entry.contains('=')
}

impl AdminGroups {
    /// Whether someone in these directory groups (`names` as the `groups` claim holds
    /// them, `dns` their DNs) is an administrator.
    pub fn admits(&self, names: &[String], dns: &[String]) -> bool {
        !self.memberships(names, dns).is_empty()
    }

    /// The administrator groups the person is a member of. A name entry is compared with
    /// `names` without regard to ASCII case, as LDAP compares names; a DN entry only with
    /// `dns`, normalised ([`dn_key`]), never with names (a group could be *named* like a
    /// DN).
    pub fn memberships(&self, names: &[String], dns: &[String]) -> Vec<String> {
        let dn_keys: Vec<String> = dns.iter().map(|dn| dn_key(dn)).collect();
        self.groups
            .iter()
            .filter(|admin| {
                if names_a_dn(admin) {
                    let wanted = dn_key(admin);
                    dn_keys.contains(&wanted)
                } else {
                    names.iter().any(|group| group.eq_ignore_ascii_case(admin))
                }
            })
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
        // Names compare without regard to case; DNs also without regard to spacing.
        let key = if names_a_dn(group) {
            dn_key(group)
        } else {
            group.to_ascii_lowercase()
        };
        if group.trim().is_empty() {
            problems.push("an administrator group name is empty".to_string());
        } else if group.trim() != group {
            problems.push(format!("the group name `{group}` has leading or trailing spaces"));
        } else if group.len() > 512 {
            problems.push("an administrator group name is longer than 512 characters".to_string());
        } else if names_a_dn(group) && !is_distinguished_name(group) {
            problems.push(format!(
                "`{group}` is not a valid DN: write a group's name (`admins`) or its full DN \
                 (`cn=admins,ou=groups,dc=example,dc=org`)"
            ));
        } else if seen.contains(&key) {
            problems.push(format!("the group `{group}` is listed twice"));
        } else {
            seen.push(key);
        }
    }
    problems
}

/// Splits what a person typed into group entries: one per line (or between `;`); a
/// line without `=` may also list names separated by commas, while a line with `=` is
/// one DN, commas and all.
pub fn parse_group_list(text: &str) -> Vec<String> {
    text.split(['\n', ';'])
        .flat_map(|line| {
            if names_a_dn(line) {
                vec![line]
            } else {
                line.split(',').collect()
            }
        })
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
        assert!(groups.admits(&names(&["staff", "admins"]), &[]));
        assert!(!groups.admits(&names(&["staff"]), &[]));
    }

    #[test]
    fn groups_named_by_dn_match_only_that_group() {
        let real = "cn=admins,ou=groups,dc=example,dc=org";
        let elsewhere = "cn=admins,ou=contractors,dc=example,dc=org";
        let groups = AdminGroups {
            groups: names(&["CN=Admins, OU=Groups, DC=example, DC=org"]),
            version: 1,
        };
        assert!(groups.admits(&names(&["admins"]), &names(&[real])));
        assert_eq!(groups.memberships(&names(&["admins"]), &names(&[real])), groups.groups);
        // The same name in another OU, or a group *named* like the DN: not admitted.
        assert!(!groups.admits(&names(&["admins"]), &names(&[elsewhere])));
        assert!(!groups.admits(&names(&[real]), &[]));
        assert!(!groups.admits(&[], &names(&["cn=admins,ou=groups,dc=example,dc=org,dc=evil"])));
        // A name entry still matches names only.
        let by_name = AdminGroups {
            groups: names(&["admins"]),
            version: 1,
        };
        assert!(by_name.admits(&names(&["admins"]), &names(&[elsewhere])));
        assert!(!by_name.admits(&[], &names(&[real])));
    }

    #[test]
    fn dn_entries_are_parsed_whole_and_checked() {
        assert_eq!(
            parse_group_list("admins, ops\ncn=gatehouse-admins,ou=groups,dc=example,dc=org; security"),
            names(&[
                "admins",
                "ops",
                "cn=gatehouse-admins,ou=groups,dc=example,dc=org",
                "security"
            ])
        );
        assert!(admin_group_problems(&names(&["cn=admins,ou=groups,dc=example,dc=org", "admins"])).is_empty());
        let problems = admin_group_problems(&names(&["cn=admins,ou groups"]));
        assert!(problems[0].contains("not a valid DN"), "{problems:?}");
        assert_eq!(
            admin_group_problems(&names(&[
                "cn=admins,ou=groups,dc=example,dc=org",
                "CN=Admins, OU=Groups,DC=example,DC=org"
            ]))
            .len(),
            1,
            "the same DN spelt twice"
        );
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
