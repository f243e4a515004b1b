use super::*;

#[test]
fn generated_tokens_are_well_formed_and_distinct() {
    let a = generate_pat_secret();
    let b = generate_pat_secret();
    assert_ne!(a, b);
    assert!(a.starts_with(PAT_PREFIX));
    assert_eq!(a.len(), PAT_PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS);
    assert!(is_well_formed_pat(&a));
    assert!(is_well_formed_pat(&b));
}

#[test]
fn a_changed_character_or_a_truncation_breaks_the_checksum() {
    let token = generate_pat_secret();
    let mut bytes = token.clone().into_bytes();
    let i = PAT_PREFIX.len() + 3;
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    assert!(!is_well_formed_pat(&String::from_utf8(bytes).unwrap()));
    assert!(!is_well_formed_pat(&token[..token.len() - 1]));
    assert!(!is_well_formed_pat(&token.replace(PAT_PREFIX, "ghp_")));
    assert!(!is_well_formed_pat(""));
}

#[test]
fn base62_checksum_has_a_fixed_width() {
    assert_eq!(base62_fixed(0, 6), "000000");
    assert_eq!(base62_fixed(61, 6), "00000z");
    assert_eq!(base62_fixed(62, 6), "000010");
    assert_eq!(base62_fixed(u32::MAX, 6).len(), 6);
}

const NOW: i64 = 1_800_000_000;

fn config() -> PersonalAccessTokensConfig {
    PersonalAccessTokensConfig {
        max_per_person: 2,
        ..PersonalAccessTokensConfig::default()
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn stored(name: &str, expires_at: i64, revoked_at: Option<i64>) -> PersonalAccessToken {
    PersonalAccessToken {
        id: format!("id-{name}"),
        user_id: "u1".into(),
        name: name.into(),
        scopes: strings(&["openid"]),
        allowed_ips: IpAllowlist::default(),
        created_at: NOW - 10,
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        revoked_at,
    }
}

fn check(
    request: PatRequest<'_>,
    administrator: bool,
    second_factor: bool,
    existing: &[PersonalAccessToken],
) -> Result<PlannedToken, Vec<PatProblem>> {
    let config = config();
    let creator = PatCreator {
        config: &config,
        administrator,
        second_factor,
    };
    check_personal_access_token_request(&request, &creator, existing, NOW)
}

#[test]
fn a_good_request_is_planned_in_the_configured_scope_order() {
    let scopes = strings(&["email", "openid", "email"]);
    let planned = check(
        PatRequest {
            name: "  backup script ",
            scopes: &scopes,
            lifetime_days: "7",
            allowed_ips: "10.0.0.0/8,\n192.0.2.7  2001:db8::/32",
        },
        false,
        false,
        &[],
    )
    .unwrap();
    assert_eq!(planned.name, "backup script");
    assert_eq!(planned.scopes, strings(&["openid", "email"]));
    assert_eq!(planned.expires_at, NOW + 7 * 86_400);
    assert_eq!(
        planned.allowed_ips.to_strings(),
        strings(&["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"])
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = check(
        PatRequest {
            name: "",
            scopes: &[],
            lifetime_days: "366",
            allowed_ips: "10.1.2.3/8 nonsense",
        },
        false,
        false,
        &[],
    )
    .unwrap_err();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems.contains(&PatProblem::NameMissing));
    assert!(problems.contains(&PatProblem::NoScope));
    assert!(problems.contains(&PatProblem::BadLifetime { max: 365 }));
    assert!(problems
        .iter()
        .any(|p| matches!(p, PatProblem::BadAddress(text) if text.contains("did you mean `10.0.0.0/8`"))));
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    let scopes = strings(&["openid", "offline_access"]);
    let problems = check(
        PatRequest {
            name: &long,
            scopes: &scopes,
            lifetime_days: "0",
            allowed_ips: "",
        },
        false,
        false,
        &[],
    )
    .unwrap_err();
    assert_eq!(
        problems,
        vec![
            PatProblem::NameTooLong,
            PatProblem::UnknownScope("offline_access".into()),
            PatProblem::BadLifetime { max: 365 }
        ]
    );
}

#[test]
fn the_admin_scope_is_for_administrators_signed_in_with_the_second_factor() {
    let config = config();
    let person = PatCreator {
        config: &config,
        administrator: false,
        second_factor: true,
    };
    assert!(!person.offered_scopes().contains(&ADMIN_SCOPE));
    let admin = PatCreator {
        administrator: true,
        ..person
    };
    assert!(admin.offered_scopes().contains(&ADMIN_SCOPE));

    let scopes = strings(&["openid", "admin"]);
    let request = PatRequest {
        name: "ops",
        scopes: &scopes,
        lifetime_days: "30",
        allowed_ips: "",
    };
    assert_eq!(
        check(request.clone(), false, true, &[]).unwrap_err(),
        vec![PatProblem::AdminScopeRefused]
    );
    assert_eq!(
        check(request.clone(), true, false, &[]).unwrap_err(),
        vec![PatProblem::AdminScopeNeedsSecondFactor]
    );
    assert_eq!(check(request, true, true, &[]).unwrap().scopes, scopes);
}

#[test]
fn names_and_the_limit_count_live_tokens_only() {
    let scopes = strings(&["openid"]);
    let request = PatRequest {
        name: "CI",
        scopes: &scopes,
        lifetime_days: "1",
        allowed_ips: "",
    };
    let dead = [stored("ci", NOW, None), stored("other", NOW + 100, Some(NOW - 1))];
    assert!(check(request.clone(), false, false, &dead).is_ok());
    let live = [stored("ci", NOW + 100, None)];
    assert_eq!(
        check(request.clone(), false, false, &live).unwrap_err(),
        vec![PatProblem::NameTaken("CI".into())]
    );
    let full = [stored("a", NOW + 100, None), stored("b", NOW + 100, None)];
    assert_eq!(
        check(request, false, false, &full).unwrap_err(),
        vec![PatProblem::TooManyTokens(2)]
    );
}

#[test]
fn statuses_follow_revocation_and_expiry() {
    assert_eq!(stored("a", NOW + 1, None).status(NOW), PatStatus::Active);
    assert_eq!(stored("a", NOW, None).status(NOW), PatStatus::Expired);
    assert_eq!(stored("a", NOW + 1, Some(NOW - 1)).status(NOW), PatStatus::Revoked);
}

async fn database() -> (tempfile::TempDir, sea_orm::DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pat.sqlite").display());
    let db = crate::storage::connect_database(&url, 2).await.unwrap();
    crate::storage::run_pending_migrations(&db).await.unwrap();
    (dir, db)
}

#[tokio::test]
async fn tokens_are_stored_hashed_verified_and_revoked_by_their_owner() {
    let (_dir, db) = database().await;
    let scopes = strings(&["openid", "profile"]);
    let allowed = IpAllowlist::parse(&["10.0.0.0/8"]).unwrap();
    let new = NewPersonalAccessToken {
        user_id: "u1",
        name: "script",
        scopes: &scopes,
        allowed_ips: &allowed,
        expires_at: NOW + 100,
    };
    let (secret, token) = create_personal_access_token(&db, new, NOW).await.unwrap();
    let row = personal_access_tokens::Entity::find_by_id(token.id.clone())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.token_hash, sha256_hex(secret.as_bytes()));
    assert!(!format!("{row:?}").contains(&secret));

    let inside = Some("10.1.2.3".parse().unwrap());
    let outside = Some("192.0.2.1".parse().unwrap());
    let used = verify_personal_access_token(&db, &secret, inside, NOW + 1)
        .await
        .unwrap();
    assert_eq!(used.last_used_ip.as_deref(), Some("10.1.2.3"));
    assert!(matches!(
        verify_personal_access_token(&db, &secret, outside, NOW + 2).await,
        Err(PatError::AddressNotAllowed { .. })
    ));
    assert!(matches!(
        verify_personal_access_token(&db, &secret, None, NOW + 2).await,
        Err(PatError::AddressNotAllowed { .. })
    ));
    assert!(matches!(
        verify_personal_access_token(&db, &secret, inside, NOW + 100).await,
        Err(PatError::Invalid)
    ));

    assert_eq!(list_personal_access_tokens(&db, Some("u2")).await.unwrap(), vec![]);
    assert_eq!(list_personal_access_tokens(&db, None).await.unwrap().len(), 1);
    assert_eq!(
        revoke_personal_access_token(&db, &token.id, Some("u2"), NOW + 3)
            .await
            .unwrap(),
        PatRevocation::NotFound
    );
    assert!(matches!(
        revoke_personal_access_token(&db, &token.id, Some("u1"), NOW + 3).await.unwrap(),
        PatRevocation::Revoked(t) if t.revoked_at == Some(NOW + 3)
    ));
    assert!(matches!(
        revoke_personal_access_token(&db, &token.id, None, NOW + 4).await.unwrap(),
        PatRevocation::AlreadyRevoked(t) if t.revoked_at == Some(NOW + 3)
    ));
    assert!(matches!(
        verify_personal_access_token(&db, &secret, inside, NOW + 5).await,
        Err(PatError::Invalid)
    ));
}

#[tokio::test]
async fn simultaneous_creations_cannot_pass_the_limit_together() {
    let (_dir, db) = database().await;
    let scopes = strings(&["openid"]);
    let anywhere = IpAllowlist::default();
    let new = |name: &'static str| NewPersonalAccessToken {
        user_id: "u1",
        name,
        scopes: &scopes,
        allowed_ips: &anywhere,
        expires_at: NOW + 100,
    };
    // One live token, a limit of two: of several creations at once, at most one may stay.
    create_personal_access_token(&db, new("first"), NOW).await.unwrap();
    let attempts = ["a", "b", "c", "d"].map(|name| create_personal_access_token_within_limit(&db, new(name), 2, NOW));
    let created = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(Option::is_some)
        .count();
    assert!(created <= 1, "{created} created");
    let live = list_personal_access_tokens(&db, Some("u1"))
        .await
        .unwrap()
        .into_iter()
        .filter(|token| token.is_active(NOW))
        .count();
    assert!(live <= 2, "{live} live tokens");
    assert_eq!(live, 1 + created);

    // Alone, a creation under the limit passes; at the limit it is taken back.
    let mut limit_reached = false;
    for name in ["e", "f"] {
        if create_personal_access_token_within_limit(&db, new(name), 2, NOW)
            .await
            .unwrap()
            .is_none()
        {
            limit_reached = true;
        }
    }
    assert!(limit_reached);
    let live = list_personal_access_tokens(&db, Some("u1"))
        .await
        .unwrap()
        .into_iter()
        .filter(|token| token.is_active(NOW))
        .count();
    assert_eq!(live, 2);
}
