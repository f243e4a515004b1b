//! The LDAP connection settings in the database. The configuration file's `[ldap]` only
//! seeds them on first start; afterwards administrators change them (admin page, JSON API)
//! and every instance picks the change up by polling the setting's version
//! ([`refresh_directory`]).
//!
//! The settings are stored as the JSON of [`LdapConfig`] with every key explicit (so a
//! preset never overrides a stored value when it is read back) and without
//! `bind_password`, which goes into the setting's secret part, encrypted under the master
//! key.
//!
//! The stored bind password goes only where it was stored for: a change (or a connection
//! test) that names other servers, another bind DN or other TLS settings must come with
//! the password typed again ([`apply_bind_password`]); otherwise anyone who can edit the
//! form could name a listener of their own and receive the service account's password.

use std::collections::BTreeSet;
use std::sync::Arc;

use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::{read_setting, setting_version, write_setting, SettingWrite, SettingsError};
use crate::audit::{AuditEvent, AuditLog};
use crate::clock::SharedClock;
use crate::config::{LdapConfig, Secret};
use crate::crypto::MasterKey;
use crate::directory::{test_connection, ConnectionReport, DirectoryHandle, LdapDirectory};

/// The name of the setting.
pub const LDAP_SETTING: &str = "ldap";
/// The key of the bind password, kept out of the stored JSON.
const BIND_PASSWORD_KEY: &str = "bind_password";
/// Who seeds the settings from the configuration file.
pub const CONFIG_ACTOR: &str = "config";
/// Why a change without the bind password is refused (the API's `problems` entry; it names
/// the `bind_password` key).
pub const BIND_PASSWORD_NEEDED: &str = "`bind_password` is required: the servers, bind DN or TLS settings differ from \
     the stored ones, and the stored password is only ever sent to the servers, account and TLS settings it was \
     stored with. Type it again.";

/// The bind password that comes with settings an administrator sends.
#[derive(Clone, PartialEq, Eq)]
pub enum BindPasswordInput {
    /// A password was typed (or, in the API, given; possibly empty).
    Given(Secret),
    /// None was typed: keep the stored one, if the settings allow it.
    KeepStored,
}

impl std::fmt::Debug for BindPasswordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindPasswordInput::Given(_) => f.write_str("Given(<redacted>)"),
            BindPasswordInput::KeepStored => f.write_str("KeepStored"),
        }
    }
}

/// Where the bind password of settings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindPasswordSource {
    /// Typed (or given) with the settings.
    Given,
    /// The stored one, for unchanged servers, bind DN and TLS settings.
    Stored,
    /// None: anonymous search (no bind DN), or none was stored.
    None,
}

impl BindPasswordSource {
    /// Where the password of the stored settings, tested as they are, comes from.
    pub fn of_stored(stored: &LdapConfig) -> Self {
        if stored.bind_password.is_empty() {
            BindPasswordSource::None
        } else {
            BindPasswordSource::Stored
        }
    }
}

/// Whether `proposed` sends the bind password to the same place as `stored`: the same
/// servers (in any order), the same bind DN, and the same TLS settings (StartTLS, CA file,
/// certificate verification). Everything that decides where and to whom the password
/// goes is compared; nothing else is.
pub fn same_bind_password_destination(stored: &LdapConfig, proposed: &LdapConfig) -> bool {
    let servers = |settings: &LdapConfig| -> BTreeSet<String> {
        settings
            .server_urls()
            .into_iter()
            .map(|url| url.trim().to_string())
            .collect()
    };
    servers(stored) == servers(proposed)
        && stored.bind_dn.trim() == proposed.bind_dn.trim()
        && stored.starttls == proposed.starttls
        && stored.ca_file == proposed.ca_file
        && stored.tls_verify == proposed.tls_verify
}

/// Sets `proposed.bind_password` from what came with it: a given password is used as
/// given; none keeps the stored one only when [`same_bind_password_destination`] holds
/// (no bind DN needs none; no stored password has nothing to keep). Otherwise
/// [`SettingsError::BindPasswordNeeded`], and `proposed` has no password. This is the one
/// place the stored password is carried over to settings an administrator sends.
pub fn apply_bind_password(
    stored: &LdapConfig,
    proposed: &mut LdapConfig,
    input: BindPasswordInput,
) -> Result<BindPasswordSource, SettingsError> {
    proposed.bind_password = Secret::default();
    match input {
        BindPasswordInput::Given(password) if !password.is_empty() => {
            proposed.bind_password = password;
            Ok(BindPasswordSource::Given)
        }
        _ if proposed.bind_dn.trim().is_empty() || stored.bind_password.is_empty() => Ok(BindPasswordSource::None),
        BindPasswordInput::Given(_) => Ok(BindPasswordSource::None),
        BindPasswordInput::KeepStored if same_bind_password_destination(stored, proposed) => {
            proposed.bind_password = stored.bind_password.clone();
            Ok(BindPasswordSource::Stored)
        }
        BindPasswordInput::KeepStored => Err(SettingsError::BindPasswordNeeded),
    }
}

/// The outcome of a refused connection test, as the audit trail records it.
const TEST_REFUSED: &str = "refused: the bind password must be typed again";

fn connection_test_event(
    settings: &LdapConfig,
    actor: &str,
    sample_username: &str,
    stored_password_reused: bool,
    outcome: &'static str,
    first_failure: Option<String>,
) -> AuditEvent {
    AuditEvent::LdapConnectionTested {
        actor: actor.to_string(),
        servers: settings.server_urls().into_iter().map(str::to_string).collect(),
        bind_dn: settings.bind_dn.clone(),
        sample_username: sample_username.to_string(),
        stored_password_reused,
        outcome,
        first_failure,
    }
}

/// "Test connection" for an administrator (`actor`): runs the test and records
/// [`AuditEvent::LdapConnectionTested`] (servers, bind DN, whether the stored password
/// was used, the outcome; never a password).
pub async fn run_ldap_connection_test(
    settings: &LdapConfig,
    source: BindPasswordSource,
    sample_username: &str,
    actor: &str,
    audit: &AuditLog,
    clock: &SharedClock,
) -> ConnectionReport {
    let report = test_connection(settings, sample_username).await;
    let (outcome, first_failure) = if report.ok() {
        ("passed", None)
    } else {
        ("failed", report.first_failure().map(|step| step.name.to_string()))
    };
    tracing::info!(
        actor,
        servers = ?settings.server_urls(),
        bind_dn = %settings.bind_dn,
        stored_password_reused = source == BindPasswordSource::Stored,
        outcome,
        "an administrator tested LDAP settings"
    );
    audit.record(
        connection_test_event(
            settings,
            actor,
            sample_username,
            source == BindPasswordSource::Stored,
            outcome,
            first_failure,
        ),
        clock.now_unix(),
    );
    report
}

/// Records a connection test refused because the bind password was not typed again
/// (nothing was sent anywhere).
pub fn record_refused_connection_test(
    settings: &LdapConfig,
    sample_username: &str,
    actor: &str,
    audit: &AuditLog,
    now: i64,
) {
    tracing::warn!(
        actor,
        servers = ?settings.server_urls(),
        bind_dn = %settings.bind_dn,
        "an LDAP connection test was refused: other servers, bind DN or TLS settings without the bind password"
    );
    audit.record(
        connection_test_event(settings, actor, sample_username, false, TEST_REFUSED, None),
        now,
    );
}

/// The settings as stored: every key but the bind password.
fn settings_json(settings: &LdapConfig) -> Result<Value, SettingsError> {
    let mut value = serde_json::to_value(settings).map_err(|e| SettingsError::Corrupt(LDAP_SETTING, e.to_string()))?;
    match value.as_object_mut() {
        Some(object) => {
            object.remove(BIND_PASSWORD_KEY);
        }
        None => {
            return Err(SettingsError::Corrupt(
                LDAP_SETTING,
                "the LDAP settings do not serialise to an object".into(),
            ))
        }
    }
    Ok(value)
}

/// The settings from their stored JSON and decrypted bind password.
fn settings_from_stored(value: Value, secret: Option<String>) -> Result<LdapConfig, SettingsError> {
    if value.get(BIND_PASSWORD_KEY).is_some() {
        return Err(SettingsError::Corrupt(
            LDAP_SETTING,
            "the stored JSON holds a bind password; it belongs in the encrypted secret".into(),
        ));
    }
    let mut settings: LdapConfig =
        serde_json::from_value(value).map_err(|e| SettingsError::Corrupt(LDAP_SETTING, e.to_string()))?;
    settings.bind_password = Secret::new(secret.unwrap_or_default());
    Ok(settings)
}

/// The stored LDAP settings and their version, or `None` when none are stored yet.
pub async fn read_ldap_settings(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
) -> Result<Option<(LdapConfig, i64)>, SettingsError> {
    match read_setting(db, master_key, LDAP_SETTING).await? {
        Some(stored) => Ok(Some((
            settings_from_stored(stored.value, stored.secret)?,
            stored.version,
        ))),
        None => Ok(None),
    }
}

/// The stored LDAP settings; when none are stored yet, stores `file_config` (actor
/// `config`) and returns it. Returns (settings, version). When another instance seeds them
/// at the same moment, its settings are read and used.
pub async fn load_or_seed_ldap_settings(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    file_config: &LdapConfig,
    now: i64,
) -> Result<(LdapConfig, i64), SettingsError> {
    if let Some(stored) = read_ldap_settings(db, master_key).await? {
        return Ok(stored);
    }
    let value = settings_json(file_config)?;
    let password = file_config.bind_password.expose();
    let written = write_setting(
        db,
        master_key,
        SettingWrite {
            name: LDAP_SETTING,
            value: &value,
            secret: (!password.is_empty()).then_some(password),
            expected_version: 0,
            actor: CONFIG_ACTOR,
            now,
        },
    )
    .await;
    match written {
        Ok(version) => {
            tracing::info!(
                version,
                "stored the configuration file's [ldap] settings in the database"
            );
            Ok((file_config.clone(), version))
        }
        Err(SettingsError::Conflict(_)) => read_ldap_settings(db, master_key)
            .await?
            .ok_or_else(|| SettingsError::Corrupt(LDAP_SETTING, "the settings vanished while being seeded".into())),
        Err(error) => Err(error),
    }
}

/// Every problem with `settings`, as [`LdapConfig`]'s validation words it.
pub fn ldap_settings_problems(settings: &LdapConfig) -> Vec<String> {
    let mut problems = Vec::new();
    settings.validate(&mut problems);
    problems
}

/// The problems of settings refused for [`SettingsError::BindPasswordNeeded`] besides
/// that one, so that one answer lists them all: the settings' own, checked here as if
/// the password were there (nothing is sent anywhere).
pub fn problems_besides_bind_password(stored: &LdapConfig, proposed: &LdapConfig) -> Vec<String> {
    let mut check = proposed.clone();
    check.bind_password = stored.bind_password.clone();
    ldap_settings_problems(&check)
}

/// Validates `settings` (every problem: [`SettingsError::Invalid`]), stores them (the bind
/// password only in the encrypted secret part), records [`AuditEvent::LdapSettingsChanged`]
/// with the names of the changed keys, and returns the new version. `expected_version` is
/// the version the administrator edited ([`SettingsError::Conflict`] when someone saved
/// meanwhile). Saving settings identical to the stored ones changes nothing and returns
/// the current version.
pub async fn save_ldap_settings(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    settings: &LdapConfig,
    expected_version: i64,
    actor: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<i64, SettingsError> {
    let problems = ldap_settings_problems(settings);
    if !problems.is_empty() {
        return Err(SettingsError::Invalid(problems));
    }
    let value = settings_json(settings)?;
    let password = settings.bind_password.expose();
    let previous = read_setting(db, master_key, LDAP_SETTING).await?;
    let current_version = previous.as_ref().map_or(0, |stored| stored.version);
    if current_version != expected_version {
        return Err(SettingsError::Conflict(LDAP_SETTING));
    }
    let mut changed = match &previous {
        Some(stored) => changed_keys(&stored.value, &value),
        None => changed_keys(&Value::Object(Default::default()), &value),
    };
    let password_changed = match &previous {
        Some(stored) => stored.secret.as_deref().unwrap_or("") != password,
        None => !password.is_empty(),
    };
    if password_changed {
        changed.push(BIND_PASSWORD_KEY.to_string());
    }
    if previous.is_some() && changed.is_empty() {
        return Ok(current_version);
    }
    let version = write_setting(
        db,
        master_key,
        SettingWrite {
            name: LDAP_SETTING,
            value: &value,
            secret: (!password.is_empty()).then_some(password),
            expected_version,
            actor,
            now,
        },
    )
    .await?;
    changed.sort();
    tracing::info!(version, actor, changed = ?changed, "the LDAP settings were changed");
    audit.record(
        AuditEvent::LdapSettingsChanged {
            actor: actor.to_string(),
            changed,
        },
        now,
    );
    Ok(version)
}

/// The keys whose values differ, nested objects as `parent.key` (`attributes.email`).
fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    collect_changes("", before, after, &mut changed);
    changed
}

fn collect_changes(prefix: &str, before: &Value, after: &Value, changed: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match (old.get(key), new.get(key)) {
                    // extra_claims is a map of claims, but one setting to people.
                    (Some(a @ Value::Object(_)), Some(b @ Value::Object(_))) if path != "extra_claims" => {
                        collect_changes(&path, a, b, changed)
                    }
                    (a, b) if a != b => changed.push(path),
                    _ => {}
                }
            }
        }
        _ if before != after => changed.push(prefix.to_string()),
        _ => {}
    }
}

/// When the stored version differs from `handle.version()`, builds a new [`LdapDirectory`]
/// from the stored settings and swaps it in; requests already running finish on the old
/// one. Returns whether the directory changed. Every instance calls this periodically, and
/// the admin code right after saving.
pub async fn refresh_directory(
    db: &impl ConnectionTrait,
    master_key: &MasterKey,
    handle: &DirectoryHandle,
    clock: SharedClock,
) -> Result<bool, SettingsError> {
    let stored_version = setting_version(db, LDAP_SETTING).await?;
    if stored_version == 0 || stored_version == handle.version() {
        return Ok(false);
    }
    let Some((settings, version)) = read_ldap_settings(db, master_key).await? else {
        return Ok(false);
    };
    if version == handle.version() {
        return Ok(false);
    }
    let previous = handle.version();
    let directory = LdapDirectory::with_clock(settings.clone(), clock).with_metrics(handle.metrics());
    handle.replace(Arc::new(directory), Arc::new(settings), version);
    tracing::info!(
        from_version = previous,
        to_version = version,
        "the LDAP settings changed; the directory now uses the new ones"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccountCheck, LdapPreset};
    use crate::storage::entities::settings;
    use sea_orm::EntityTrait;

    async fn database() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.sqlite").display());
        let db = crate::storage::connect_database(&url, 2).await.unwrap();
        crate::storage::run_pending_migrations(&db).await.unwrap();
        (dir, db)
    }

    fn sample() -> LdapConfig {
        LdapConfig {
            url: "ldap://127.0.0.1:1389".into(),
            bind_dn: "cn=svc,dc=example,dc=org".into(),
            bind_password: Secret::new("very-secret-bind-password"),
            base_dn: "ou=people,dc=example,dc=org".into(),
            ..LdapConfig::default()
        }
    }

    #[test]
    fn stored_json_round_trips_without_the_password_and_presets_do_not_override_it() {
        let mut settings = LdapConfig::for_preset(LdapPreset::ActiveDirectory);
        settings.url = "ldaps://dc.example.org".into();
        settings.base_dn = "dc=example,dc=org".into();
        settings.bind_dn = "cn=svc".into();
        settings.bind_password = Secret::new("very-secret-bind-password");
        // Differs from the preset's: must survive the round trip.
        settings.attributes.member_of = String::new();
        settings.account_checks = vec![AccountCheck::Ppolicy];
        settings.ca_file = Some("/etc/ssl/ca.pem".into());
        settings
            .extra_claims
            .insert("department".into(), "departmentNumber".into());
        let json = settings_json(&settings).unwrap();
        assert!(json.get("bind_password").is_none());
        assert!(!json.to_string().contains("very-secret-bind-password"));
        let back = settings_from_stored(json, Some("very-secret-bind-password".into())).unwrap();
        assert_eq!(back, settings);
        let no_password = settings_from_stored(settings_json(&sample()).unwrap(), None).unwrap();
        assert!(no_password.bind_password.is_empty());
    }

    #[test]
    fn the_stored_password_is_kept_only_for_the_stored_servers_account_and_tls() {
        let stored = LdapConfig {
            urls: vec!["ldap://127.0.0.2:1389".into()],
            ..sample()
        };
        let keep = |proposed: &LdapConfig| {
            let mut proposed = proposed.clone();
            proposed.bind_password = Secret::new("whatever the caller left here");
            let source = apply_bind_password(&stored, &mut proposed, BindPasswordInput::KeepStored);
            (source.ok(), proposed.bind_password.expose().to_string())
        };
        // Unchanged destination (servers in another order, other search settings): kept.
        let mut same = stored.clone();
        same.url = "ldap://127.0.0.2:1389".into();
        same.urls = vec!["ldap://127.0.0.1:1389".into()];
        same.base_dn = "ou=staff,dc=example,dc=org".into();
        same.login_attributes = vec!["mail".into()];
        same.connect_timeout = 1;
        assert_eq!(
            keep(&same),
            (
                Some(BindPasswordSource::Stored),
                "very-secret-bind-password".to_string()
            )
        );
        // Every field that decides where or to whom the password goes: refused.
        type Change = fn(&mut LdapConfig);
        let changes: [(&str, Change); 7] = [
            ("url", |s| s.url = "ldap://listener.example:389".into()),
            ("added server", |s| s.urls.push("ldap://listener.example:389".into())),
            ("removed server", |s| s.urls.clear()),
            ("bind_dn", |s| s.bind_dn = "cn=someone-else,dc=example,dc=org".into()),
            ("starttls", |s| s.starttls = true),
            ("ca_file", |s| s.ca_file = Some("/tmp/attacker-ca.pem".into())),
            ("tls_verify", |s| s.tls_verify = false),
        ];
        for (what, change) in changes {
            let mut proposed = stored.clone();
            change(&mut proposed);
            assert!(!same_bind_password_destination(&stored, &proposed), "{what}");
            assert_eq!(
                keep(&proposed),
                (None, String::new()),
                "{what}: refused, no password left"
            );
            let mut typed = proposed.clone();
            let source = apply_bind_password(
                &stored,
                &mut typed,
                BindPasswordInput::Given(Secret::new("typed-again")),
            );
            assert_eq!(source.ok(), Some(BindPasswordSource::Given), "{what}");
            assert_eq!(typed.bind_password.expose(), "typed-again");
        }
        // No bind DN (anonymous), or nothing stored: there is nothing to carry over.
        let mut anonymous = stored.clone();
        anonymous.url = "ldap://listener.example:389".into();
        anonymous.bind_dn = String::new();
        assert_eq!(keep(&anonymous), (Some(BindPasswordSource::None), String::new()));
        let nothing_stored = LdapConfig {
            bind_password: Secret::default(),
            ..stored.clone()
        };
        let mut moved = stored.clone();
        moved.url = "ldap://listener.example:389".into();
        assert_eq!(
            apply_bind_password(&nothing_stored, &mut moved, BindPasswordInput::KeepStored).ok(),
            Some(BindPasswordSource::None)
        );
        assert!(moved.bind_password.is_empty());
    }

    #[test]
    fn changed_keys_name_nested_keys() {
        let before = settings_json(&sample()).unwrap();
        let mut changed = sample();
        changed.url = "ldap://other".into();
        changed.attributes.email = "otherMail".into();
        changed.extra_claims.insert("x".into(), "y".into());
        let after = settings_json(&changed).unwrap();
        assert_eq!(
            changed_keys(&before, &after),
            ["attributes.email", "extra_claims", "url"]
        );
        assert!(changed_keys(&before, &before).is_empty());
    }

    #[tokio::test]
    async fn seeding_saving_and_conflicts() {
        let (_dir, db) = database().await;
        let key = MasterKey::generate();
        let audit = AuditLog::start(db.clone());
        let (seeded, version) = load_or_seed_ldap_settings(&db, &key, &sample(), 10).await.unwrap();
        assert_eq!((seeded, version), (sample(), 1));
        let other_file = LdapConfig {
            url: "ldap://ignored".into(),
            ..sample()
        };
        let (again, version) = load_or_seed_ldap_settings(&db, &key, &other_file, 11).await.unwrap();
        assert_eq!((again, version), (sample(), 1), "the file only seeds");

        let raw = settings::Entity::find_by_id(LDAP_SETTING.to_string())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert!(!raw.value.contains("very-secret"));
        assert_eq!(raw.updated_by, CONFIG_ACTOR);

        let mut edited = sample();
        edited.base_dn = "ou=staff,dc=example,dc=org".into();
        edited.bind_password = Secret::new("another-password");
        assert_eq!(
            save_ldap_settings(&db, &key, &edited, 1, "admin-sub", &audit, 12)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            save_ldap_settings(&db, &key, &edited, 2, "admin-sub", &audit, 13)
                .await
                .unwrap(),
            2,
            "nothing changed, nothing written"
        );
        assert!(matches!(
            save_ldap_settings(&db, &key, &sample(), 1, "admin-sub", &audit, 14).await,
            Err(SettingsError::Conflict(_))
        ));
        let invalid = LdapConfig {
            url: "http://nope".into(),
            base_dn: String::new(),
            ..sample()
        };
        match save_ldap_settings(&db, &key, &invalid, 2, "admin-sub", &audit, 15).await {
            Err(SettingsError::Invalid(problems)) => assert_eq!(problems.len(), 2, "{problems:?}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(read_ldap_settings(&db, &key).await.unwrap(), Some((edited, 2)));

        audit.flush().await;
        let events = crate::storage::entities::audit_events::Entity::find()
            .all(&db)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "settings.ldap_changed");
        assert_eq!(events[0].actor.as_deref(), Some("admin-sub"));
        assert_eq!(events[0].detail, r#"{"changed":["base_dn","bind_password"]}"#);
    }

    #[tokio::test]
    async fn refresh_swaps_the_directory_only_when_the_version_moved() {
        let (_dir, db) = database().await;
        let key = MasterKey::generate();
        let audit = AuditLog::start(db.clone());
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let (settings, version) = load_or_seed_ldap_settings(&db, &key, &sample(), 1).await.unwrap();
        let handle = DirectoryHandle::new(
            Arc::new(LdapDirectory::new(settings.clone())),
            Arc::new(settings.clone()),
            version,
        );
        assert!(!refresh_directory(&db, &key, &handle, clock.clone()).await.unwrap());
        let edited = LdapConfig {
            url: "ldap://127.0.0.1:2389".into(),
            ..settings
        };
        let new_version = save_ldap_settings(&db, &key, &edited, version, "a", &audit, 2)
            .await
            .unwrap();
        assert!(refresh_directory(&db, &key, &handle, clock.clone()).await.unwrap());
        assert_eq!(handle.version(), new_version);
        assert_eq!(
            handle.settings().url,
            "ldap://127.0.0.1:2389",
            "the live settings move too"
        );
        assert!(!refresh_directory(&db, &key, &handle, clock).await.unwrap());
    }
}
