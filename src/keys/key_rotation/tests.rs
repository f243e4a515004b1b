use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{json, Value};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::keys::TokenRejection;

const ISSUER: &str = "https://id.example.test";

struct TestDatabase {
    db: DatabaseConnection,
    master_key: MasterKey,
    _dir: tempfile::TempDir,
}

async fn test_database() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("keys.db").display());
    let db = crate::storage::connect_database(&url, 4).await.unwrap();
    crate::storage::run_pending_migrations(&db).await.unwrap();
    TestDatabase {
        db,
        master_key: MasterKey::generate(),
        _dir: dir,
    }
}

fn policy() -> RotationPolicy {
    RotationPolicy {
        rotation_period: 1000,
        jwks_cache_seconds: 100,
        reload_interval: 10,
        longest_token_lifetime: 300,
        rsa_bits: 2048,
        algorithms: vec![SigningAlgorithm::Rs256],
    }
}

const RS256: SigningAlgorithm = SigningAlgorithm::Rs256;

/// A ring on `test`'s database and the time its first key was activated.
async fn ring_at_start(test: &TestDatabase) -> (KeyRing, i64) {
    let clock = ManualClock::new();
    let ring = KeyRing::load_or_create_with(&test.db, &test.master_key, &clock, &[RS256], 2048)
        .await
        .unwrap();
    (ring, clock.now_unix())
}

fn jwks_kids(ring: &KeyRing) -> Vec<String> {
    let document: Value = serde_json::from_str(&ring.jwks_json()).unwrap();
    document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_string())
        .collect()
}

fn token(ring: &KeyRing, now: i64) -> String {
    ring.signer()
        .sign("JWT", &json!({"iss": ISSUER, "sub": "alice", "exp": now + 300}))
        .unwrap()
}

fn verify(ring: &KeyRing, token: &str, now: i64) -> Result<Value, KeyError> {
    ring.verify(token, None, ISSUER, None, now)
}

async fn statuses(db: &DatabaseConnection) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = signing_keys::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.kid, row.status))
        .collect();
    rows.sort();
    rows
}

fn count(rows: &[(String, String)], status: &str) -> usize {
    rows.iter().filter(|(_, s)| s == status).count()
}

#[test]
fn policy_derives_lead_and_retention_from_the_configuration() {
    let mut config = Config::default();
    config.lifetimes.id_token = 600;
    config.lifetimes.access_token = 900;
    config.keys.jwks_cache_seconds = 120;
    config.keys.reload_interval = 15;
    let policy = RotationPolicy::from_config(&config);
    assert_eq!(policy.publication_lead(), 135);
    assert_eq!(policy.retention(), 900 + 120 + 15);
    assert_eq!(policy.rotation_period, 30 * 24 * 3600);
    assert_eq!(policy.rsa_bits, 2048);
    assert_eq!(policy.enabled_algorithms(), SigningAlgorithm::ALL);
    config.keys.algorithms = vec![SigningAlgorithm::Es256, SigningAlgorithm::Es256];
    assert_eq!(
        RotationPolicy::from_config(&config).enabled_algorithms(),
        [SigningAlgorithm::Rs256, SigningAlgorithm::Es256]
    );
}

#[tokio::test]
async fn keys_go_from_next_to_current_to_retired_to_removed_on_schedule() {
    let test = test_database().await;
    let (ring, t0) = ring_at_start(&test).await;
    let first = ring.signer().kid().to_string();
    let policy = policy();

    // At start: a next key is generated and published, not signing.
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0, &policy)
        .await
        .unwrap();
    let next = outcome.of(RS256).generated_next.clone().expect("a next key");
    assert_eq!(outcome.of(RS256).promoted, None);
    assert_eq!(ring.signer().kid(), first);
    assert_eq!(jwks_kids(&ring), [first.clone(), next.clone()]);

    // Nothing is due half-way through the period.
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0 + 500, &policy)
        .await
        .unwrap();
    assert!(!outcome.changed(), "{outcome:?}");

    // A token signed just before the rotation...
    let old_token = token(&ring, t0 + 999);
    assert!(verify(&ring, &old_token, t0 + 999).is_ok());

    // ...the period is over: the next key signs, the first is retired.
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0 + 1000, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.of(RS256).promoted.as_deref(), Some(next.as_str()));
    assert_eq!(outcome.of(RS256).retired, [first.as_str()]);
    let newer = outcome.of(RS256).generated_next.clone().expect("a new next key");
    assert_eq!(ring.signer().kid(), next);
    let kids = jwks_kids(&ring);
    assert_eq!(kids, [next.clone(), newer.clone(), first.clone()]);
    // ...and the token signed before still verifies.
    assert!(verify(&ring, &old_token, t0 + 1001).is_ok());

    // The retired key stays published for its retention, then goes.
    let retention = policy.retention();
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0 + 1000 + retention - 1, &policy)
        .await
        .unwrap();
    assert!(!outcome.changed(), "{outcome:?}");
    assert!(jwks_kids(&ring).contains(&first));
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0 + 1000 + retention, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.removed, [first.as_str()]);
    assert_eq!(jwks_kids(&ring), [next.clone(), newer]);
    assert!(!statuses(&test.db).await.iter().any(|(kid, _)| *kid == first));
}

#[tokio::test]
async fn a_next_key_signs_only_after_its_publication_lead() {
    let test = test_database().await;
    let (ring, t0) = ring_at_start(&test).await;
    let policy = policy();
    // The period is long over, but the next key is created only now.
    let late = t0 + 5000;
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, late, &policy)
        .await
        .unwrap();
    let next = outcome.of(RS256).generated_next.expect("a next key");
    assert_eq!(outcome.of(RS256).promoted, None);
    let outcome = rotate_signing_keys_if_due(
        &test.db,
        &test.master_key,
        &ring,
        late + policy.publication_lead() - 1,
        &policy,
    )
    .await
    .unwrap();
    assert!(!outcome.changed(), "{outcome:?}");
    let outcome = rotate_signing_keys_if_due(
        &test.db,
        &test.master_key,
        &ring,
        late + policy.publication_lead(),
        &policy,
    )
    .await
    .unwrap();
    assert_eq!(outcome.of(RS256).promoted, Some(next.clone()));
    assert_eq!(ring.signer().kid(), next);
}

#[tokio::test]
async fn racing_instances_perform_each_step_once_and_agree() {
    let test = test_database().await;
    let (first_ring, t0) = ring_at_start(&test).await;
    let second_ring = KeyRing::load_or_create_with(&test.db, &test.master_key, &ManualClock::new(), &[RS256], 2048)
        .await
        .unwrap();
    let policy = policy();
    rotate_signing_keys_if_due(&test.db, &test.master_key, &first_ring, t0, &policy)
        .await
        .unwrap();
    second_ring.reload(&test.db, &test.master_key).await.unwrap();

    let due = t0 + 1000;
    let (a, b) = tokio::join!(
        rotate_signing_keys_if_due(&test.db, &test.master_key, &first_ring, due, &policy),
        rotate_signing_keys_if_due(&test.db, &test.master_key, &second_ring, due, &policy),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let promotions = [&a, &b]
        .iter()
        .filter(|outcome| outcome.of(RS256).promoted.is_some())
        .count();
    assert_eq!(promotions, 1, "{a:?} {b:?}");

    // A step by either instance settles any surplus next key; then both reload.
    rotate_signing_keys_if_due(&test.db, &test.master_key, &first_ring, due + 1, &policy)
        .await
        .unwrap();
    first_ring.reload(&test.db, &test.master_key).await.unwrap();
    second_ring.reload(&test.db, &test.master_key).await.unwrap();
    let rows = statuses(&test.db).await;
    assert_eq!(count(&rows, "current"), 1, "{rows:?}");
    assert_eq!(count(&rows, "next"), 1, "{rows:?}");
    assert_eq!(count(&rows, "retired"), 1, "{rows:?}");
    assert_eq!(first_ring.signer().kid(), second_ring.signer().kid());
    assert_eq!(first_ring.jwks_json(), second_ring.jwks_json());
}

#[tokio::test]
async fn revoking_the_signing_key_promotes_the_next_and_refuses_its_tokens() {
    let test = test_database().await;
    let (ring, t0) = ring_at_start(&test).await;
    let policy = policy();
    let first = ring.signer().kid().to_string();
    let signed_before = token(&ring, t0);

    // No next key yet: one is generated first, then takes over.
    let outcome = revoke_signing_key(&test.db, &test.master_key, &ring, &first, t0 + 1, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.previous_status, KeyStatus::Current);
    let promoted = outcome.promoted.clone().expect("a new signing key");
    assert_eq!(ring.signer().kid(), promoted);
    assert!(outcome.generated_next.is_some());
    assert!(!jwks_kids(&ring).contains(&first));
    assert!(matches!(
        verify(&ring, &signed_before, t0 + 2),
        Err(KeyError::InvalidToken(TokenRejection::UnknownKey))
    ));
    assert!(verify(&ring, &token(&ring, t0 + 2), t0 + 2).is_ok());

    // Again: nothing changes. An unknown kid is refused.
    let again = revoke_signing_key(&test.db, &test.master_key, &ring, &first, t0 + 3, &policy)
        .await
        .unwrap();
    assert_eq!(again.previous_status, KeyStatus::Revoked);
    assert!(matches!(
        revoke_signing_key(&test.db, &test.master_key, &ring, "no-such-kid", t0 + 3, &policy).await,
        Err(KeyError::UnknownKid(_))
    ));

    // Revoking the next key replaces it.
    let next = outcome.generated_next.unwrap();
    let outcome = revoke_signing_key(&test.db, &test.master_key, &ring, &next, t0 + 4, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.previous_status, KeyStatus::Next);
    assert_eq!(outcome.promoted, None);
    let replacement = outcome.generated_next.expect("a new next key");
    let kids = jwks_kids(&ring);
    assert!(!kids.contains(&next) && kids.contains(&replacement), "{kids:?}");

    let listed = list_signing_keys(&test.db).await.unwrap();
    let revoked: Vec<&SigningKeySummary> = listed.iter().filter(|key| key.status == "revoked").collect();
    assert_eq!(revoked.len(), 2);
    assert!(revoked.iter().all(|key| key.revoked_at.is_some()));
}

#[tokio::test]
async fn manual_rotation_promotes_at_once_and_prepares_a_new_next_key() {
    let test = test_database().await;
    let (ring, t0) = ring_at_start(&test).await;
    let first = ring.signer().kid().to_string();
    let outcome = rotate_signing_keys_now(&test.db, &test.master_key, &ring, t0, &policy())
        .await
        .unwrap();
    let promoted = outcome.of(RS256).promoted.expect("promoted");
    assert_ne!(promoted, first);
    assert_eq!(outcome.of(RS256).retired, [first.as_str()]);
    assert_eq!(ring.signer().kid(), promoted);
    let next = outcome.of(RS256).generated_next.expect("a new next key");
    assert_eq!(jwks_kids(&ring), [promoted, next, first]);
}

/// Signers run flat out while rotations are driven through several periods: every token
/// carries a kid that the JWKS read after signing still lists, and every key that comes to
/// sign was in the JWKS from the step before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_signing_during_rotations_never_uses_an_unpublished_kid() {
    let test = test_database().await;
    let (ring, t0) = ring_at_start(&test).await;
    let ring = Arc::new(ring);
    let policy = policy();
    let stop = Arc::new(AtomicBool::new(false));

    let mut signers = Vec::new();
    for _ in 0..4 {
        let ring = ring.clone();
        let stop = stop.clone();
        signers.push(tokio::spawn(async move {
            let mut signed = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let token = token(&ring, t0);
                let header = jsonwebtoken::decode_header(&token).unwrap();
                let kid = header.kid.unwrap();
                assert!(jwks_kids(&ring).contains(&kid), "token kid {kid} is not in the JWKS");
                signed += 1;
                tokio::task::yield_now().await;
            }
            signed
        }));
    }

    let mut now = t0;
    let mut published_before: Vec<String> = jwks_kids(&ring);
    for _ in 0..4 {
        let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, now, &policy)
            .await
            .unwrap();
        if let Some(promoted) = &outcome.of(RS256).promoted {
            assert!(
                published_before.contains(promoted),
                "{promoted} signed before it was published"
            );
        }
        published_before = jwks_kids(&ring);
        now += policy.rotation_period;
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for signer in signers {
        total += signer.await.unwrap();
    }
    assert!(total > 0);
    let rows = statuses(&test.db).await;
    assert_eq!(count(&rows, "current"), 1, "{rows:?}");
}

// ---- several algorithms ----

fn policy_for_all() -> RotationPolicy {
    RotationPolicy {
        algorithms: SigningAlgorithm::ALL.to_vec(),
        ..policy()
    }
}

async fn ring_of_all_algorithms(test: &TestDatabase) -> (KeyRing, i64) {
    let clock = ManualClock::new();
    let ring = KeyRing::load_or_create(&test.db, &test.master_key, &clock)
        .await
        .unwrap();
    (ring, clock.now_unix())
}

fn signing_kid(ring: &KeyRing, algorithm: SigningAlgorithm) -> String {
    ring.signer_for(algorithm).unwrap().kid().to_string()
}

fn token_in(ring: &KeyRing, algorithm: SigningAlgorithm, now: i64) -> String {
    ring.signer_for(algorithm)
        .unwrap()
        .sign("JWT", &json!({"iss": ISSUER, "sub": "alice", "exp": now + 300}))
        .unwrap()
}

/// (algorithm, status) of every stored key, sorted.
async fn algorithms_and_statuses(db: &DatabaseConnection) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = signing_keys::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.algorithm, row.status))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn every_algorithm_has_its_own_next_current_retired_removed_cycle() {
    let test = test_database().await;
    let (ring, t0) = ring_of_all_algorithms(&test).await;
    let policy = policy_for_all();
    let first: Vec<String> = SigningAlgorithm::ALL
        .iter()
        .map(|alg| signing_kid(&ring, *alg))
        .collect();

    // At start: a next key per algorithm, of that algorithm, published, not signing.
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.generated_next().len(), 3);
    assert!(outcome.promoted().is_empty());
    let next: Vec<String> = SigningAlgorithm::ALL
        .iter()
        .map(|alg| outcome.of(*alg).generated_next.unwrap())
        .collect();
    let published = jwks_kids(&ring);
    assert!(next.iter().all(|kid| published.contains(kid)), "{published:?}");
    let listed = ring.list();
    for (algorithm, kid) in SigningAlgorithm::ALL.iter().zip(&next) {
        let info = listed.iter().find(|key| key.kid == *kid).unwrap();
        assert_eq!(
            (info.algorithm, info.status, info.signing),
            (*algorithm, KeyStatus::Next, false)
        );
    }
    assert_eq!(
        algorithms_and_statuses(&test.db).await,
        [
            ("ES256".to_string(), "current".to_string()),
            ("ES256".to_string(), "next".to_string()),
            ("PS256".to_string(), "current".to_string()),
            ("PS256".to_string(), "next".to_string()),
            ("RS256".to_string(), "current".to_string()),
            ("RS256".to_string(), "next".to_string()),
        ]
    );

    // Tokens of every algorithm signed before the rotation...
    let before: Vec<String> = SigningAlgorithm::ALL
        .iter()
        .map(|alg| token_in(&ring, *alg, t0 + 999))
        .collect();

    // ...the period is over: every algorithm's next key signs, its first key is retired.
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0 + 1000, &policy)
        .await
        .unwrap();
    for (index, algorithm) in SigningAlgorithm::ALL.into_iter().enumerate() {
        let step = outcome.of(algorithm);
        assert_eq!(step.promoted.as_deref(), Some(next[index].as_str()), "{algorithm}");
        assert_eq!(step.retired, [first[index].clone()], "{algorithm}");
        assert!(step.generated_next.is_some(), "{algorithm}");
        assert_eq!(signing_kid(&ring, algorithm), next[index]);
        // ...and still verify.
        assert!(verify(&ring, &before[index], t0 + 1001).is_ok(), "{algorithm}");
    }
    let rows = statuses(&test.db).await;
    assert_eq!(
        (count(&rows, "current"), count(&rows, "next"), count(&rows, "retired")),
        (3, 3, 3)
    );

    // After their retention the retired keys of every algorithm go.
    let outcome = rotate_signing_keys_if_due(
        &test.db,
        &test.master_key,
        &ring,
        t0 + 1000 + policy.retention(),
        &policy,
    )
    .await
    .unwrap();
    let mut removed = outcome.removed.clone();
    removed.sort();
    let mut expected = first.clone();
    expected.sort();
    assert_eq!(removed, expected);
    assert!(first.iter().all(|kid| !jwks_kids(&ring).contains(kid)));
}

#[tokio::test]
async fn manual_rotation_rotates_every_algorithm() {
    let test = test_database().await;
    let (ring, t0) = ring_of_all_algorithms(&test).await;
    let first: Vec<String> = SigningAlgorithm::ALL
        .iter()
        .map(|alg| signing_kid(&ring, *alg))
        .collect();
    let outcome = rotate_signing_keys_now(&test.db, &test.master_key, &ring, t0, &policy_for_all())
        .await
        .unwrap();
    assert_eq!(outcome.promoted().len(), 3);
    assert_eq!(outcome.generated_next().len(), 3);
    let mut retired = outcome.retired();
    retired.sort();
    let mut expected = first.clone();
    expected.sort();
    assert_eq!(retired, expected);
    for algorithm in SigningAlgorithm::ALL {
        let step = outcome.of(algorithm);
        assert_eq!(signing_kid(&ring, algorithm), step.promoted.unwrap());
        let stored = signing_keys::Entity::find_by_id(signing_kid(&ring, algorithm))
            .one(&test.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.algorithm, algorithm.as_str());
    }
}

#[tokio::test]
async fn revoking_a_ps256_or_es256_signing_key_promotes_that_algorithms_next_key_only() {
    let test = test_database().await;
    let (ring, t0) = ring_of_all_algorithms(&test).await;
    let policy = policy_for_all();
    rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0, &policy)
        .await
        .unwrap();
    let rs256 = signing_kid(&ring, SigningAlgorithm::Rs256);

    for algorithm in [SigningAlgorithm::Ps256, SigningAlgorithm::Es256] {
        let signing = signing_kid(&ring, algorithm);
        let next = ring
            .list()
            .into_iter()
            .find(|key| key.algorithm == algorithm && key.status == KeyStatus::Next)
            .unwrap()
            .kid;
        let signed_before = token_in(&ring, algorithm, t0);
        let outcome = revoke_signing_key(&test.db, &test.master_key, &ring, &signing, t0 + 1, &policy)
            .await
            .unwrap();
        assert_eq!(outcome.algorithm, algorithm);
        assert_eq!(outcome.previous_status, KeyStatus::Current);
        assert_eq!(outcome.promoted.as_deref(), Some(next.as_str()));
        assert!(outcome.generated_next.is_some());
        assert_eq!(signing_kid(&ring, algorithm), next);
        assert!(!jwks_kids(&ring).contains(&signing));
        assert!(matches!(
            verify(&ring, &signed_before, t0 + 2),
            Err(KeyError::InvalidToken(TokenRejection::UnknownKey))
        ));
        assert!(verify(&ring, &token_in(&ring, algorithm, t0 + 2), t0 + 2).is_ok());
        // The other algorithms are untouched.
        assert_eq!(signing_kid(&ring, SigningAlgorithm::Rs256), rs256);
        let new_next = outcome.generated_next.unwrap();
        let stored = signing_keys::Entity::find_by_id(new_next)
            .one(&test.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.algorithm.as_str(), stored.status.as_str()),
            (algorithm.as_str(), "next")
        );
    }
    let rows = algorithms_and_statuses(&test.db).await;
    for algorithm in ["RS256", "PS256", "ES256"] {
        let current = rows
            .iter()
            .filter(|(alg, status)| alg == algorithm && status == "current")
            .count();
        let next = rows
            .iter()
            .filter(|(alg, status)| alg == algorithm && status == "next")
            .count();
        assert_eq!((current, next), (1, 1), "{algorithm}: {rows:?}");
    }
}

#[tokio::test]
async fn keys_of_a_disabled_algorithm_verify_but_neither_sign_nor_rotate() {
    let test = test_database().await;
    let (full, t0) = ring_of_all_algorithms(&test).await;
    let es256 = signing_kid(&full, SigningAlgorithm::Es256);
    let signed_earlier = token_in(&full, SigningAlgorithm::Es256, t0);

    // ES256 is dropped from `keys.algorithms`.
    let policy = RotationPolicy {
        algorithms: vec![SigningAlgorithm::Rs256, SigningAlgorithm::Ps256],
        ..policy()
    };
    let ring = KeyRing::load_or_create_with(
        &test.db,
        &test.master_key,
        &ManualClock::new(),
        &policy.algorithms,
        2048,
    )
    .await
    .unwrap();
    assert!(matches!(
        ring.signer_for(SigningAlgorithm::Es256),
        Err(KeyError::AlgorithmUnavailable(SigningAlgorithm::Es256))
    ));
    assert!(verify(&ring, &signed_earlier, t0 + 1).is_ok());
    let outcome = rotate_signing_keys_if_due(&test.db, &test.master_key, &ring, t0 + 5000, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.of(SigningAlgorithm::Es256), untouched(SigningAlgorithm::Es256));
    let outcome = rotate_signing_keys_now(&test.db, &test.master_key, &ring, t0 + 5001, &policy)
        .await
        .unwrap();
    assert_eq!(outcome.promoted().len(), 2);
    let rows = algorithms_and_statuses(&test.db).await;
    assert_eq!(
        rows.iter().filter(|(alg, _)| alg == "ES256").collect::<Vec<_>>(),
        [&("ES256".to_string(), "current".to_string())]
    );
    assert!(jwks_kids(&ring).contains(&es256));

    // Revoking it only revokes it: no replacement is made for a disabled algorithm.
    let revoked = revoke_signing_key(&test.db, &test.master_key, &ring, &es256, t0 + 5002, &policy)
        .await
        .unwrap();
    assert_eq!((revoked.promoted, revoked.generated_next), (None, None));
    assert!(!jwks_kids(&ring).contains(&es256));
    assert!(!algorithms_and_statuses(&test.db)
        .await
        .iter()
        .any(|(alg, status)| alg == "ES256" && status != "revoked"));
}

/// What a step reports for an algorithm it did not touch.
fn untouched(algorithm: SigningAlgorithm) -> AlgorithmRotation {
    RotationOutcome::default().of(algorithm)
}
