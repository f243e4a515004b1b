use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};

use super::credential::Credential;
use super::*;
use crate::storage::entities::{audit_events, totp_credentials};

const NOW: i64 = 1_800_000_000;
const USER: &str = "4e1f0c9a-0000-4000-8000-000000000001";

struct Fixture {
    _dir: tempfile::TempDir,
    db_path: std::path::PathBuf,
    db: DatabaseConnection,
    key: MasterKey,
    audit: AuditLog,
    settings: TotpSettings,
    limits: MfaLimits,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("mfa.sqlite");
    let url = format!("sqlite://{}?mode=rwc", db_path.display());
    let db = crate::storage::connect_database(&url, 2).await.unwrap();
    crate::storage::run_pending_migrations(&db).await.unwrap();
    let audit = AuditLog::start(db.clone());
    Fixture {
        _dir: dir,
        db_path,
        db,
        key: MasterKey::generate(),
        audit,
        settings: TotpSettings::default(),
        limits: MfaLimits::default(),
    }
}

/// What the person's authenticator app shows at `time`.
async fn app_code(f: &Fixture, time: i64) -> String {
    let row = totp_credentials::Entity::find_by_id(USER.to_string())
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.secret.or(row.pending_secret).unwrap();
    let credential = Credential::open(&f.key, &sealed).unwrap();
    totp::code_at(&credential, time).unwrap()
}

/// A code that is none of the codes valid around `time`.
async fn wrong_code(f: &Fixture, time: i64) -> String {
    let valid = [
        app_code(f, time - 30).await,
        app_code(f, time).await,
        app_code(f, time + 30).await,
    ];
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|candidate| !valid.contains(candidate))
        .unwrap()
}

/// Enrols and confirms at `NOW - 60` so `NOW`'s steps are all unused; returns the recovery codes.
async fn enrolled(f: &Fixture) -> Vec<String> {
    let at = NOW - 60;
    begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", at)
        .await
        .unwrap();
    let code = app_code(f, at).await;
    confirm_enrolment(
        &f.db,
        &f.key,
        &f.settings,
        USER,
        &code,
        &EnrolmentBasis::Password,
        &f.audit,
        at,
    )
    .await
    .unwrap()
}

async fn verify(f: &Fixture, code: &str, now: i64) -> Result<(), MfaError> {
    verify_totp(&f.db, &f.key, &f.settings, &f.limits, USER, code, &f.audit, now).await
}

#[tokio::test]
async fn enrolment_gives_link_qr_png_and_grouped_secret() {
    let f = fixture().await;
    let enrolment = begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW)
        .await
        .unwrap();
    assert_eq!(enrolment.secret_base32.len(), 32);
    assert!(enrolment
        .otpauth_url
        .starts_with("otpauth://totp/Gatehouse:alice?secret="));
    assert!(enrolment.otpauth_url.contains(&enrolment.secret_base32));
    assert!(enrolment.otpauth_url.contains("issuer=Gatehouse"));
    let png = base64::engine::general_purpose::STANDARD
        .decode(&enrolment.qr_png_base64)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let grouped = enrolment.grouped();
    assert_eq!(grouped.split(' ').count(), 8);
    assert_eq!(grouped.replace(' ', ""), enrolment.secret_base32);
    assert!(!format!("{enrolment:?}").contains(&enrolment.secret_base32));
}

#[tokio::test]
async fn enrolment_is_not_active_until_confirmed_with_a_correct_code() {
    let f = fixture().await;
    begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW)
        .await
        .unwrap();
    assert!(!has_active_totp(&f.db, USER).await.unwrap());
    let code = app_code(&f, NOW).await;
    assert!(matches!(verify(&f, &code, NOW).await, Err(MfaError::NotEnrolled)));
    let wrong = wrong_code(&f, NOW).await;
    assert!(matches!(
        confirm_enrolment(
            &f.db,
            &f.key,
            &f.settings,
            USER,
            &wrong,
            &EnrolmentBasis::Password,
            &f.audit,
            NOW
        )
        .await,
        Err(MfaError::WrongCode)
    ));
    assert!(!has_active_totp(&f.db, USER).await.unwrap());
    let codes = confirm_enrolment(
        &f.db,
        &f.key,
        &f.settings,
        USER,
        &code,
        &EnrolmentBasis::Password,
        &f.audit,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
    assert!(has_active_totp(&f.db, USER).await.unwrap());
    assert_eq!(enrolled_at(&f.db, USER).await.unwrap(), Some(NOW));
    assert_eq!(
        remaining_recovery_codes(&f.db, USER).await.unwrap(),
        RECOVERY_CODE_COUNT
    );
    // The confirming code counts as used.
    assert!(matches!(verify(&f, &code, NOW).await, Err(MfaError::Replayed)));
}

#[tokio::test]
async fn re_enrolment_keeps_the_active_factor_until_confirmed() {
    let f = fixture().await;
    enrolled(&f).await;
    let old = app_code(&f, NOW).await;
    begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW)
        .await
        .unwrap();
    assert!(has_active_totp(&f.db, USER).await.unwrap());
    verify(&f, &old, NOW).await.unwrap();
}

#[tokio::test]
async fn a_code_for_now_verifies_once_even_across_instances() {
    let f = fixture().await;
    enrolled(&f).await;
    let code = app_code(&f, NOW).await;
    verify(&f, &code, NOW).await.unwrap();
    assert!(matches!(verify(&f, &code, NOW).await, Err(MfaError::Replayed)));
    // A second instance: its own connection pool on the same database.
    let url = format!("sqlite://{}?mode=rwc", f.db_path.display());
    let other = crate::storage::connect_database(&url, 2).await.unwrap();
    let result = verify_totp(&other, &f.key, &f.settings, &f.limits, USER, &code, &f.audit, NOW + 5).await;
    assert!(matches!(result, Err(MfaError::Replayed)));
    // A replay is not a guess: it does not count towards the lockout.
    let row = totp_credentials::Entity::find_by_id(USER.to_string())
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.failed_attempts, 0);
    // The next step's code is still good.
    verify(&f, &app_code(&f, NOW + 30).await, NOW + 30).await.unwrap();
}

#[tokio::test]
async fn concurrent_uses_of_one_code_accept_exactly_one() {
    let f = fixture().await;
    enrolled(&f).await;
    let code = app_code(&f, NOW).await;
    let (a, b) = tokio::join!(verify(&f, &code, NOW), verify(&f, &code, NOW));
    assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1, "{a:?} {b:?}");
}

#[tokio::test]
async fn one_step_of_skew_is_accepted_two_are_refused() {
    let f = fixture().await;
    enrolled(&f).await;
    let period = 30;
    verify(&f, &app_code(&f, NOW - period).await, NOW).await.unwrap();
    verify(&f, &app_code(&f, NOW + period).await, NOW).await.unwrap();
    let f = fixture().await;
    enrolled(&f).await;
    let too_old = app_code(&f, NOW - 2 * period).await;
    let too_new = app_code(&f, NOW + 2 * period).await;
    assert!(matches!(verify(&f, &too_new, NOW).await, Err(MfaError::WrongCode)));
    assert!(matches!(verify(&f, &too_old, NOW + 10).await, Err(MfaError::WrongCode)));
}

#[tokio::test]
async fn wrong_codes_slow_down_then_lock_out_then_the_lockout_ends() {
    let f = fixture().await;
    enrolled(&f).await;
    let wrong = wrong_code(&f, NOW).await;
    let mut now = NOW;
    for failure in 1..f.limits.max_failed_attempts {
        assert!(matches!(verify(&f, &wrong, now).await, Err(MfaError::WrongCode)));
        let delay = 1i64 << (failure - 1);
        // Too soon: refused without looking at the code, and not counted.
        assert!(matches!(
            verify(&f, &app_code(&f, now).await, now).await,
            Err(MfaError::LockedOut { until }) if until == now + delay
        ));
        now += delay;
    }
    let until = now + f.limits.lockout_seconds;
    assert!(matches!(verify(&f, &wrong, now).await, Err(MfaError::LockedOut { until: u }) if u == until));
    let right = app_code(&f, until - 1).await;
    assert!(matches!(verify(&f, &right, until - 1).await, Err(MfaError::LockedOut { until: u }) if u == until));
    assert_eq!(MfaError::LockedOut { until }.retry_after(until - 1), Some(1));
    let kinds = audit_kinds(&f).await;
    assert!(kinds.contains(&"totp.locked_out".to_string()));
    verify(&f, &app_code(&f, until).await, until).await.unwrap();
    let row = totp_credentials::Entity::find_by_id(USER.to_string())
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.failed_attempts, row.locked_until), (0, None));
}

#[tokio::test]
async fn a_lockout_that_ended_starts_the_count_afresh() {
    let f = fixture().await;
    enrolled(&f).await;
    let limits = MfaLimits {
        max_failed_attempts: 2,
        lockout_seconds: 100,
    };
    let wrong = wrong_code(&f, NOW).await;
    let attempt = |now| verify_totp(&f.db, &f.key, &f.settings, &limits, USER, &wrong, &f.audit, now);
    assert!(matches!(attempt(NOW).await, Err(MfaError::WrongCode)));
    assert!(matches!(attempt(NOW + 1).await, Err(MfaError::LockedOut { until }) if until == NOW + 101));
    assert!(matches!(attempt(NOW + 101).await, Err(MfaError::WrongCode)));
}

#[tokio::test]
async fn a_recovery_code_works_once_and_shares_the_attempt_limit() {
    let f = fixture().await;
    let codes = enrolled(&f).await;
    use_recovery_code(&f.db, &f.limits, USER, &codes[0], &f.audit, NOW)
        .await
        .unwrap();
    assert_eq!(
        remaining_recovery_codes(&f.db, USER).await.unwrap(),
        RECOVERY_CODE_COUNT - 1
    );
    assert!(matches!(
        use_recovery_code(&f.db, &f.limits, USER, &codes[0], &f.audit, NOW + 10).await,
        Err(MfaError::WrongCode)
    ));
    // Case, spaces and dashes do not matter.
    let typed = codes[1].to_uppercase().replace('-', " ");
    use_recovery_code(&f.db, &f.limits, USER, &typed, &f.audit, NOW + 20)
        .await
        .unwrap();
    let limits = MfaLimits {
        max_failed_attempts: 1,
        lockout_seconds: 60,
    };
    assert!(matches!(
        use_recovery_code(&f.db, &limits, USER, "0000-0000-0000", &f.audit, NOW + 30).await,
        Err(MfaError::LockedOut { until }) if until == NOW + 90
    ));
    assert!(matches!(
        use_recovery_code(&f.db, &limits, USER, &codes[2], &f.audit, NOW + 31).await,
        Err(MfaError::LockedOut { .. })
    ));
    f.audit.flush().await;
    assert!(audit_kinds(&f).await.contains(&"recovery_code.used".to_string()));
}

#[tokio::test]
async fn regenerating_recovery_codes_invalidates_the_old_ones() {
    let f = fixture().await;
    let old = enrolled(&f).await;
    let new = regenerate_recovery_codes(&f.db, USER, &f.audit, NOW).await.unwrap();
    assert_eq!(new.len(), RECOVERY_CODE_COUNT);
    assert!(old.iter().all(|code| !new.contains(code)));
    assert!(matches!(
        use_recovery_code(&f.db, &f.limits, USER, &old[0], &f.audit, NOW).await,
        Err(MfaError::WrongCode)
    ));
    use_recovery_code(&f.db, &f.limits, USER, &new[0], &f.audit, NOW + 2)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_database_holds_neither_the_secret_nor_the_recovery_codes() {
    let f = fixture().await;
    let enrolment = begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW)
        .await
        .unwrap();
    let code = app_code(&f, NOW).await;
    let codes = confirm_enrolment(
        &f.db,
        &f.key,
        &f.settings,
        USER,
        &code,
        &EnrolmentBasis::Password,
        &f.audit,
        NOW,
    )
    .await
    .unwrap();
    f.audit.flush().await;
    let raw = totp::decode_base32(&enrolment.secret_base32);
    let row = totp_credentials::Entity::find_by_id(USER.to_string())
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.secret.unwrap();
    assert!(!contains(&sealed, enrolment.secret_base32.as_bytes()));
    assert!(!contains(&sealed, &raw));
    f.db.execute(Statement::from_string(
        f.db.get_database_backend(),
        "PRAGMA wal_checkpoint(FULL)",
    ))
    .await
    .unwrap();
    let file = std::fs::read(&f.db_path).unwrap();
    let base64_secret = base64::engine::general_purpose::STANDARD.encode(&raw);
    for needle in [
        enrolment.secret_base32.as_bytes(),
        &raw,
        base64_secret.as_bytes(),
        codes[0].as_bytes(),
    ] {
        assert!(!contains(&file, needle));
    }
    // Moved to another column, the ciphertext does not decrypt.
    assert!(f.key.decrypt(&sealed, b"settings").is_err());
}

#[tokio::test]
async fn reset_removes_the_factor_and_its_recovery_codes() {
    let f = fixture().await;
    let codes = enrolled(&f).await;
    reset_totp(&f.db, USER, "admin-sub", &f.audit, NOW).await.unwrap();
    assert!(!has_active_totp(&f.db, USER).await.unwrap());
    assert_eq!(remaining_recovery_codes(&f.db, USER).await.unwrap(), 0);
    assert!(matches!(
        use_recovery_code(&f.db, &f.limits, USER, &codes[0], &f.audit, NOW).await,
        Err(MfaError::NotEnrolled)
    ));
    assert!(matches!(
        reset_totp(&f.db, USER, "admin-sub", &f.audit, NOW).await,
        Err(MfaError::NotEnrolled)
    ));
    f.audit.flush().await;
    let reset = audit_events::Entity::find()
        .all(&f.db)
        .await
        .unwrap()
        .into_iter()
        .find(|row| row.kind == "totp.reset")
        .unwrap();
    assert_eq!(reset.actor.as_deref(), Some("admin-sub"));
}

#[tokio::test]
async fn other_algorithms_and_lengths_work_and_are_kept_per_credential() {
    let mut f = fixture().await;
    f.settings = TotpSettings {
        issuer_name: "Acme".into(),
        digits: 8,
        period: 60,
        algorithm: TotpAlgorithm::Sha256,
    };
    let enrolment = begin_enrolment(&f.db, &f.key, &f.settings, USER, "bob", NOW)
        .await
        .unwrap();
    assert!(enrolment.otpauth_url.contains("digits=8"));
    assert!(enrolment.otpauth_url.contains("algorithm=SHA256"));
    assert!(enrolment.otpauth_url.contains("period=60"));
    let code = app_code(&f, NOW).await;
    assert_eq!(code.len(), 8);
    confirm_enrolment(
        &f.db,
        &f.key,
        &f.settings,
        USER,
        &code,
        &EnrolmentBasis::Password,
        &f.audit,
        NOW,
    )
    .await
    .unwrap();
    // The settings change later; the enrolled authenticator keeps working.
    f.settings = TotpSettings::default();
    verify(&f, &app_code(&f, NOW + 60).await, NOW + 60).await.unwrap();
}

#[test]
fn policy_by_groups() {
    let groups = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let policy = MfaPolicy::RequiredForGroups(groups(&["admins", "finance"]));
    assert!(policy.requires_second_factor(&groups(&["staff", "finance"])));
    assert!(!policy.requires_second_factor(&groups(&["staff"])));
    assert!(!policy.requires_second_factor(&[]));
    assert!(MfaPolicy::Required.requires_second_factor(&[]));
    assert!(!MfaPolicy::Optional.requires_second_factor(&groups(&["admins"])));
    let config = MfaConfig {
        policy: MfaPolicyName::Groups,
        groups: groups(&["admins"]),
        ..MfaConfig::default()
    };
    assert_eq!(
        MfaPolicy::from(&config),
        MfaPolicy::RequiredForGroups(groups(&["admins"]))
    );
}

#[test]
fn growing_delays_are_capped_by_the_lockout() {
    let limits = MfaLimits {
        max_failed_attempts: 50,
        lockout_seconds: 10,
    };
    let delays: Vec<i64> = (1..=6).map(|n| attempts::delay_after(n, &limits)).collect();
    assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
}

#[test]
fn mfa_config_defaults_parse_and_bad_values_are_reported() {
    let mut problems = Vec::new();
    let table: toml::Table = "[mfa]\npolicy = \"groups\"\ngroups = [\"admins\"]\nalgorithm = \"SHA256\"\n"
        .parse()
        .unwrap();
    let config = crate::Config::from_table(table, &mut problems).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(config.mfa.algorithm, TotpAlgorithm::Sha256);
    assert_eq!(
        (config.mfa.digits, config.mfa.period, config.mfa.max_failed_attempts),
        (6, 30, 5)
    );
    assert!(config.validate().iter().all(|p| !p.contains("mfa")));

    let config = crate::Config {
        mfa: MfaConfig {
            policy: MfaPolicyName::Groups,
            groups: Vec::new(),
            issuer_name: "Gate:house".into(),
            account_label: "{user}".into(),
            algorithm: TotpAlgorithm::Sha1,
            digits: 5,
            period: 0,
            max_failed_attempts: 0,
            lockout_seconds: 0,
        },
        ..crate::Config::default()
    };
    let problems: Vec<String> = config.validate().into_iter().filter(|p| p.contains("mfa.")).collect();
    for key in [
        "mfa.groups",
        "mfa.issuer_name",
        "mfa.account_label",
        "mfa.digits",
        "mfa.period",
        "mfa.max_failed_attempts",
        "mfa.lockout_seconds",
    ] {
        assert!(problems.iter().any(|p| p.contains(key)), "{key}: {problems:?}");
    }
    let mut problems = Vec::new();
    let table: toml::Table = "[mfa]\nalgorithm = \"MD5\"\n".parse().unwrap();
    assert!(crate::Config::from_table(table, &mut problems).is_none());
}

#[test]
fn account_labels_fill_placeholders_and_drop_colons() {
    assert_eq!(render_account_label("{username}", "alice", None), "alice");
    assert_eq!(
        render_account_label("{email} ({username})", "a:b", Some("a@example.org")),
        "a@example.org (a.b)"
    );
}

#[tokio::test]
async fn setup_links_are_hashed_replaced_bound_and_expire() {
    let f = fixture().await;
    let first = create_setup_link(&f.db, USER, "admin-1", &f.audit, NOW).await.unwrap();
    assert!(!first.replaced);
    assert!(plausible_setup_token(&first.token));
    assert!(!format!("{first:?}").contains(&first.token));
    let stored = crate::storage::entities::second_factor_setup_links::Entity::find_by_id(USER.to_string())
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.token_hash, crate::crypto::sha256_hex(first.token.as_bytes()));
    let found = find_setup_link(&f.db, &first.token, NOW).await.unwrap().unwrap();
    assert_eq!((found.user_id.as_str(), found.created_by.as_str()), (USER, "admin-1"));
    assert_eq!(found.expires_at, NOW + SETUP_LINK_LIFETIME);
    assert!(find_setup_link(&f.db, &first.token, NOW + SETUP_LINK_LIFETIME)
        .await
        .unwrap()
        .is_none());
    for wrong in ["", "x", "a b", &"a".repeat(65)] {
        assert!(find_setup_link(&f.db, wrong, NOW).await.unwrap().is_none(), "{wrong}");
    }

    let second = create_setup_link(&f.db, USER, "admin-2", &f.audit, NOW + 1)
        .await
        .unwrap();
    assert!(second.replaced);
    assert!(find_setup_link(&f.db, &first.token, NOW + 1).await.unwrap().is_none());
    assert_eq!(
        outstanding_setup_link(&f.db, USER, NOW + 1)
            .await
            .unwrap()
            .map(|l| l.created_by),
        Some("admin-2".to_string())
    );
    let kinds = audit_kinds(&f).await;
    assert_eq!(kinds.iter().filter(|k| *k == "totp.setup_link_created").count(), 2);
}

#[tokio::test]
async fn an_enrolment_with_a_setup_link_spends_it_once() {
    let f = fixture().await;
    let created = create_setup_link(&f.db, USER, "admin-1", &f.audit, NOW).await.unwrap();
    let link = find_setup_link(&f.db, &created.token, NOW).await.unwrap().unwrap();
    let basis = EnrolmentBasis::SetupLink(link);

    // A link made for someone else does not count for this person.
    let other = "4e1f0c9a-0000-4000-8000-000000000002";
    begin_enrolment(&f.db, &f.key, &f.settings, other, "bob", NOW)
        .await
        .unwrap();
    let row = totp_credentials::Entity::find_by_id(other.to_string())
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    let credential = Credential::open(&f.key, &row.pending_secret.unwrap()).unwrap();
    let code = totp::code_at(&credential, NOW).unwrap();
    assert!(matches!(
        confirm_enrolment(&f.db, &f.key, &f.settings, other, &code, &basis, &f.audit, NOW).await,
        Err(MfaError::SetupLinkNeeded)
    ));
    assert!(!has_active_totp(&f.db, other).await.unwrap());

    begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW)
        .await
        .unwrap();
    let code = app_code(&f, NOW).await;
    confirm_enrolment(&f.db, &f.key, &f.settings, USER, &code, &basis, &f.audit, NOW)
        .await
        .unwrap();
    assert!(has_active_totp(&f.db, USER).await.unwrap());
    assert!(find_setup_link(&f.db, &created.token, NOW).await.unwrap().is_none());

    // Spent: a second enrolment (after a reset) cannot use it again, and activates nothing.
    reset_totp(&f.db, USER, "admin-1", &f.audit, NOW).await.unwrap();
    begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW + 60)
        .await
        .unwrap();
    let code = app_code(&f, NOW + 60).await;
    assert!(matches!(
        confirm_enrolment(&f.db, &f.key, &f.settings, USER, &code, &basis, &f.audit, NOW + 60).await,
        Err(MfaError::SetupLinkNeeded)
    ));
    assert!(!has_active_totp(&f.db, USER).await.unwrap());

    f.audit.flush().await;
    let enrolled: Vec<String> = audit_events::Entity::find()
        .all(&f.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.kind == "totp.enrolled")
        .map(|row| row.detail)
        .collect();
    assert_eq!(
        enrolled,
        vec![r#"{"setup_link":true,"setup_link_by":"admin-1"}"#.to_string()]
    );
}

#[tokio::test]
async fn the_first_administrators_enrolment_is_audited_apart() {
    let f = fixture().await;
    begin_enrolment(&f.db, &f.key, &f.settings, USER, "alice", NOW)
        .await
        .unwrap();
    let code = app_code(&f, NOW).await;
    confirm_enrolment(
        &f.db,
        &f.key,
        &f.settings,
        USER,
        &code,
        &EnrolmentBasis::FirstAdministrator,
        &f.audit,
        NOW,
    )
    .await
    .unwrap();
    let kinds = audit_kinds(&f).await;
    assert!(
        kinds.contains(&"totp.first_administrator_enrolled".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"totp.enrolled".to_string()), "{kinds:?}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

async fn audit_kinds(f: &Fixture) -> Vec<String> {
    f.audit.flush().await;
    audit_events::Entity::find()
        .all(&f.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.kind)
        .collect()
}

use base64::Engine;
