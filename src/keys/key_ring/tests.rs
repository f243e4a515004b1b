use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyId};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use super::*;
use crate::clock::ManualClock;
use crate::keys::test_keys;

const ISSUER: &str = "https://id.example.test";
const NOW: i64 = 1_800_000_000;

fn ring() -> KeyRing {
    KeyRing::from_signing_key(test_keys::first(), NOW).unwrap()
}

fn claims(exp: i64) -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": "app", "iat": NOW, "exp": exp})
}

fn verify(ring: &KeyRing, token: &str, typ: Option<&str>, aud: Option<&str>, now: i64) -> Result<Value, KeyError> {
    ring.verify::<Value>(token, typ, ISSUER, aud, now)
}

fn rejection_of(result: Result<Value, KeyError>) -> TokenRejection {
    match result {
        Err(KeyError::InvalidToken(rejection)) => rejection,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

/// Replaces the payload of a signed token, keeping its header and signature.
fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
    format!("{}.{}.{}", parts[0], payload, parts[2])
}

#[test]
fn signed_token_verifies_and_returns_its_claims() {
    let ring = ring();
    let token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    let verified = verify(&ring, &token, Some("JWT"), Some("app"), NOW).unwrap();
    assert_eq!(verified, claims(NOW + 300));
    // Audience is not checked when none is asked for.
    verify(&ring, &token, None, None, NOW).unwrap();
    // A typed struct works as well as a Value.
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    let subject: Subject = ring.verify(&token, None, ISSUER, Some("app"), NOW).unwrap();
    assert_eq!(subject.sub, "alice");
}

#[test]
fn token_signed_by_another_key_is_rejected() {
    let ring = ring();
    let other = test_keys::second();
    // Signed by a key the ring does not know, under that key's own kid.
    let foreign = JwtSigner::from_pkcs8_der(SigningAlgorithm::Rs256, &other.pkcs8_der).unwrap();
    let token = foreign.sign("JWT", &claims(NOW + 300)).unwrap();
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW)),
        TokenRejection::UnknownKey
    );
    // Signed by another key but claiming the ring's kid.
    let impostor = JwtSigner::from_pkcs8_der(SigningAlgorithm::Rs256, &other.pkcs8_der)
        .unwrap()
        .with_kid(&test_keys::first().kid);
    let token = impostor.sign("JWT", &claims(NOW + 300)).unwrap();
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW)),
        TokenRejection::BadSignature
    );
}

#[test]
fn tampered_token_is_rejected() {
    let ring = ring();
    let token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    let mut changed = claims(NOW + 300);
    changed["sub"] = json!("mallory");
    assert_eq!(
        rejection_of(verify(&ring, &with_payload(&token, &changed), None, None, NOW)),
        TokenRejection::BadSignature
    );
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[100] ^= 0x01;
    let flipped = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature));
    assert_eq!(
        rejection_of(verify(&ring, &flipped, None, None, NOW)),
        TokenRejection::BadSignature
    );
    let truncated = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature[..255]));
    assert_eq!(
        rejection_of(verify(&ring, &truncated, None, None, NOW)),
        TokenRejection::BadSignature
    );
    assert!(matches!(
        rejection_of(verify(&ring, "not.a.jwt", None, None, NOW)),
        TokenRejection::Malformed(_)
    ));
    assert!(matches!(
        rejection_of(verify(&ring, &format!("{token}.extra"), None, None, NOW)),
        TokenRejection::Malformed(_)
    ));
}

#[test]
fn header_algorithm_other_than_the_keys_is_rejected() {
    let ring = ring();
    let token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    let signature = token.rsplit('.').next().unwrap();
    for alg in ["HS256", "RS512", "PS256"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": test_keys::first().kid});
        let forged = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(NOW + 300)).unwrap()),
            signature
        );
        assert_eq!(
            rejection_of(verify(&ring, &forged, None, None, NOW)),
            TokenRejection::WrongAlgorithm
        );
    }
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(NOW + 300)).unwrap()),
    );
    assert!(matches!(
        rejection_of(verify(&ring, &none, None, None, NOW)),
        TokenRejection::Malformed(_)
    ));
}

#[test]
fn expired_token_is_rejected_from_its_exp_second() {
    let ring = ring();
    let token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    verify(&ring, &token, None, None, NOW + 299).unwrap();
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW + 300)),
        TokenRejection::Expired
    );
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW + 10_000)),
        TokenRejection::Expired
    );

    let mut without_exp = claims(0);
    without_exp.as_object_mut().unwrap().remove("exp");
    let token = ring.signer().sign("JWT", &without_exp).unwrap();
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW)),
        TokenRejection::MissingClaim("exp".to_string())
    );
}

#[test]
fn token_not_valid_yet_is_rejected_beyond_the_leeway() {
    let ring = ring();
    let mut early = claims(NOW + 600);
    early["nbf"] = json!(NOW + 20);
    let token = ring.signer().sign("JWT", &early).unwrap();
    verify(&ring, &token, None, None, NOW).unwrap();
    early["nbf"] = json!(NOW + 31);
    let token = ring.signer().sign("JWT", &early).unwrap();
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW)),
        TokenRejection::NotYetValid
    );
}

#[test]
fn wrong_issuer_or_audience_is_rejected() {
    let ring = ring();
    let token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    assert_eq!(
        rejection_of(ring.verify::<Value>(&token, None, "https://evil.example", None, NOW)),
        TokenRejection::WrongIssuer
    );
    assert_eq!(
        rejection_of(verify(&ring, &token, None, Some("other-app"), NOW)),
        TokenRejection::WrongAudience
    );
    // An audience list passes when it contains the expected one.
    let mut listed = claims(NOW + 300);
    listed["aud"] = json!(["app", "api"]);
    let token = ring.signer().sign("JWT", &listed).unwrap();
    verify(&ring, &token, None, Some("api"), NOW).unwrap();

    let mut anonymous = claims(NOW + 300);
    anonymous.as_object_mut().unwrap().remove("aud");
    anonymous.as_object_mut().unwrap().remove("iss");
    let token = ring.signer().sign("JWT", &anonymous).unwrap();
    assert!(matches!(
        rejection_of(verify(&ring, &token, None, Some("app"), NOW)),
        TokenRejection::MissingClaim(_)
    ));
    assert_eq!(
        rejection_of(verify(&ring, &token, None, None, NOW)),
        TokenRejection::MissingClaim("iss".to_string())
    );
}

#[test]
fn wrong_typ_is_rejected_when_a_type_is_expected() {
    let ring = ring();
    let id_token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    let access_token = ring.signer().sign("at+jwt", &claims(NOW + 300)).unwrap();
    verify(&ring, &access_token, Some("at+jwt"), None, NOW).unwrap();
    verify(&ring, &access_token, Some("application/AT+JWT"), None, NOW).unwrap();
    assert_eq!(
        rejection_of(verify(&ring, &id_token, Some("at+jwt"), None, NOW)),
        TokenRejection::WrongType
    );
    assert_eq!(
        rejection_of(verify(&ring, &access_token, Some("JWT"), None, NOW)),
        TokenRejection::WrongType
    );
}

#[test]
fn jwks_verifies_a_token_with_an_independent_implementation() {
    let ring = ring();
    let token = ring.signer().sign("JWT", &claims(NOW + 300)).unwrap();
    let jwks: CoreJsonWebKeySet = serde_json::from_str(&ring.jwks_json()).unwrap();
    let kid = JsonWebKeyId::new(test_keys::first().kid.clone());
    let jwk = jwks
        .keys()
        .iter()
        .find(|key| key.key_id() == Some(&kid))
        .expect("the signing key is published");

    // openidconnect verifies RS256 with the RustCrypto `rsa` crate, not aws-lc-rs.
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    jwk.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        signing_input.as_bytes(),
        &signature,
    )
    .unwrap();
    let mut flipped = signature.clone();
    flipped[10] ^= 1;
    assert!(jwk
        .verify_signature(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            signing_input.as_bytes(),
            &flipped,
        )
        .is_err());

    // The published members, exactly.
    let document: Value = serde_json::from_str(&ring.jwks_json()).unwrap();
    let published = &document["keys"][0];
    let mut members: Vec<&str> = published.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(published["alg"], "RS256");
    assert_eq!(published["use"], "sig");
}

// ---- with a database ----

struct TestDatabase {
    db: DatabaseConnection,
    _dir: tempfile::TempDir,
}

async fn test_database() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("keys.db").display());
    let db = crate::storage::connect_database(&url, 2).await.unwrap();
    crate::storage::run_pending_migrations(&db).await.unwrap();
    TestDatabase { db, _dir: dir }
}

async fn all_rows(db: &DatabaseConnection) -> Vec<signing_keys::Model> {
    signing_keys::Entity::find().all(db).await.unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// A ring that signs with RS256 only, as most of these tests want.
async fn rs256_ring(db: &DatabaseConnection, master_key: &MasterKey) -> Result<KeyRing, KeyError> {
    KeyRing::load_or_create_with(db, master_key, &ManualClock::new(), &[SigningAlgorithm::Rs256], 2048).await
}

#[tokio::test]
async fn load_or_create_generates_a_key_per_algorithm_once_stores_it_encrypted_and_reloads_it() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    let clock = ManualClock::new();

    let ring = KeyRing::load_or_create(&test.db, &master_key, &clock).await.unwrap();
    assert_eq!(ring.algorithms(), SigningAlgorithm::ALL);
    let mut rows = all_rows(&test.db).await;
    rows.sort_by_key(|row| SigningAlgorithm::parse(&row.algorithm));
    let algorithms: Vec<&str> = rows.iter().map(|row| row.algorithm.as_str()).collect();
    assert_eq!(algorithms, ["RS256", "PS256", "ES256"]);
    for row in &rows {
        let algorithm = SigningAlgorithm::parse(&row.algorithm).unwrap();
        assert_eq!(row.kid, ring.signer_for(algorithm).unwrap().kid());
        assert_eq!(row.status, "current");
        assert_eq!(row.activated_at, Some(row.created_at));
        assert_eq!(PublicJwk::parse(&row.public_jwk).unwrap().algorithm, algorithm);

        // The column holds ciphertext: neither the DER nor any long run of it appears.
        let der = master_key.decrypt(&row.private_key, PRIVATE_KEY_CONTEXT).unwrap();
        assert!(!contains(&row.private_key, &der));
        assert!(!contains(&row.private_key, &der[..16]));
        assert!(!contains(&row.private_key, &der[der.len() - 32..]));
        assert_eq!(GeneratedKey::from_pkcs8_der(algorithm, &der).unwrap().kid, row.kid);
    }
    assert_eq!(ring.signer().kid(), rows[0].kid);

    // A second start loads the same keys and generates nothing.
    let again = KeyRing::load_or_create(&test.db, &master_key, &clock).await.unwrap();
    for algorithm in SigningAlgorithm::ALL {
        assert_eq!(
            again.signer_for(algorithm).unwrap().kid(),
            ring.signer_for(algorithm).unwrap().kid()
        );
        let token = again
            .signer_for(algorithm)
            .unwrap()
            .sign("JWT", &claims(NOW + 60))
            .unwrap();
        verify(&ring, &token, None, None, NOW).unwrap();
    }
    assert_eq!(all_rows(&test.db).await.len(), 3);

    let listed = again.list();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|key| key.status == KeyStatus::Current && key.signing));
    let listed_algorithms: Vec<SigningAlgorithm> = listed.iter().map(|key| key.algorithm).collect();
    assert_eq!(listed_algorithms, SigningAlgorithm::ALL);
    let mut signing = again.signing_kids();
    signing.sort();
    let mut kids: Vec<String> = rows.iter().map(|row| row.kid.clone()).collect();
    kids.sort();
    assert_eq!(signing, kids);

    // Another master key cannot open them.
    let wrong = KeyRing::load_or_create(&test.db, &MasterKey::generate(), &clock).await;
    assert!(matches!(wrong, Err(KeyError::Decrypt)), "{wrong:?}");
}

#[tokio::test]
async fn an_rs256_only_database_gains_ps256_and_es256_keys_at_the_next_start() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    let first = test_keys::first();
    store_signing_key(&test.db, first, KeyStatus::Current, &master_key, NOW)
        .await
        .unwrap();
    let old = rs256_ring(&test.db, &master_key).await.unwrap();
    assert!(matches!(
        old.signer_for(SigningAlgorithm::Es256),
        Err(KeyError::AlgorithmUnavailable(SigningAlgorithm::Es256))
    ));

    let ring = KeyRing::load_or_create(&test.db, &master_key, &ManualClock::new())
        .await
        .unwrap();
    assert_eq!(ring.signer().kid(), first.kid);
    assert_eq!(all_rows(&test.db).await.len(), 3);
    let ps256 = ring.signer_for(SigningAlgorithm::Ps256).unwrap();
    let es256 = ring.signer_for(SigningAlgorithm::Es256).unwrap();
    assert_ne!(ps256.kid(), first.kid);
    // The RS256-only ring, reloaded, publishes and trusts the new keys but never signs with them.
    old.reload(&test.db, &master_key).await.unwrap();
    assert!(old.jwks_json().contains(es256.kid()));
    assert!(old.signer_for(SigningAlgorithm::Ps256).is_err());
    let token = es256.sign("JWT", &claims(NOW + 60)).unwrap();
    verify(&old, &token, None, None, NOW).unwrap();
}

#[tokio::test]
async fn racing_current_keys_resolve_to_the_same_signer() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    let (first, second) = (test_keys::first(), test_keys::second());
    // Activated later, but stored first.
    store_signing_key(&test.db, first, KeyStatus::Current, &master_key, NOW + 1)
        .await
        .unwrap();
    store_signing_key(&test.db, second, KeyStatus::Current, &master_key, NOW)
        .await
        .unwrap();

    let ring = rs256_ring(&test.db, &master_key).await.unwrap();
    assert_eq!(ring.signer().kid(), second.kid);
    // Both are published and verify.
    for key in [first, second] {
        let signer = JwtSigner::from_pkcs8_der(SigningAlgorithm::Rs256, &key.pkcs8_der).unwrap();
        let token = signer.sign("JWT", &claims(NOW + 60)).unwrap();
        verify(&ring, &token, None, None, NOW).unwrap();
    }

    // Same activation second: the smaller kid wins.
    let row = signing_keys::ActiveModel {
        kid: Set(first.kid.clone()),
        activated_at: Set(Some(NOW)),
        ..Default::default()
    };
    row.update(&test.db).await.unwrap();
    ring.reload(&test.db, &master_key).await.unwrap();
    let smaller = std::cmp::min(&first.kid, &second.kid);
    assert_eq!(ring.signer().kid(), smaller);
}

#[tokio::test]
async fn reload_publishes_next_key_then_follows_a_promotion() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    let (first, second) = (test_keys::first(), test_keys::second());
    store_signing_key(&test.db, first, KeyStatus::Current, &master_key, NOW)
        .await
        .unwrap();
    let ring = rs256_ring(&test.db, &master_key).await.unwrap();
    assert_eq!(ring.list().len(), 1);

    // A `next` key is published and trusted, but does not sign.
    store_signing_key(&test.db, second, KeyStatus::Next, &master_key, NOW + 10)
        .await
        .unwrap();
    ring.reload(&test.db, &master_key).await.unwrap();
    assert_eq!(ring.signer().kid(), first.kid);
    let kids: Vec<String> = ring.list().into_iter().map(|key| key.kid).collect();
    assert_eq!(kids, [first.kid.clone(), second.kid.clone()]);
    assert!(ring.jwks_json().contains(&second.kid));
    let next_signer = JwtSigner::from_pkcs8_der(SigningAlgorithm::Rs256, &second.pkcs8_der).unwrap();
    let from_next = next_signer.sign("JWT", &claims(NOW + 60)).unwrap();
    verify(&ring, &from_next, None, None, NOW).unwrap();

    // Promote next -> current, current -> retired, as rotation will.
    for (kid, status, activated, retired) in [
        (&second.kid, KeyStatus::Current, Some(NOW + 20), None),
        (&first.kid, KeyStatus::Retired, Some(NOW), Some(NOW + 20)),
    ] {
        signing_keys::ActiveModel {
            kid: Set(kid.clone()),
            status: Set(status.as_str().to_string()),
            activated_at: Set(activated),
            retired_at: Set(retired),
            ..Default::default()
        }
        .update(&test.db)
        .await
        .unwrap();
    }
    let old_token = ring.signer().sign("JWT", &claims(NOW + 60)).unwrap();
    ring.reload(&test.db, &master_key).await.unwrap();
    assert_eq!(ring.signer().kid(), second.kid);
    let statuses: Vec<(String, KeyStatus)> = ring.list().into_iter().map(|key| (key.kid, key.status)).collect();
    assert_eq!(
        statuses,
        [
            (second.kid.clone(), KeyStatus::Current),
            (first.kid.clone(), KeyStatus::Retired)
        ]
    );
    // Tokens signed by the retired key still verify.
    verify(&ring, &old_token, None, None, NOW).unwrap();

    // Revoking removes a key from the JWKS and from verification.
    signing_keys::ActiveModel {
        kid: Set(first.kid.clone()),
        status: Set(KeyStatus::Revoked.as_str().to_string()),
        revoked_at: Set(Some(NOW + 30)),
        ..Default::default()
    }
    .update(&test.db)
    .await
    .unwrap();
    ring.reload(&test.db, &master_key).await.unwrap();
    assert!(!ring.jwks_json().contains(&first.kid));
    assert_eq!(
        rejection_of(verify(&ring, &old_token, None, None, NOW)),
        TokenRejection::UnknownKey
    );
}

#[tokio::test]
async fn reload_without_a_current_key_fails_and_keeps_the_ring() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    let first = test_keys::first();
    store_signing_key(&test.db, first, KeyStatus::Current, &master_key, NOW)
        .await
        .unwrap();
    let ring = rs256_ring(&test.db, &master_key).await.unwrap();
    signing_keys::Entity::delete_by_id(first.kid.clone())
        .exec(&test.db)
        .await
        .unwrap();

    assert!(matches!(
        ring.reload(&test.db, &master_key).await,
        Err(KeyError::NoCurrentKey)
    ));
    assert_eq!(ring.signer().kid(), first.kid);
    assert_eq!(signing_keys::Entity::find().count(&test.db).await.unwrap(), 0);
}

#[tokio::test]
async fn stored_private_key_of_another_key_is_refused() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    let (first, second) = (test_keys::first(), test_keys::second());
    store_signing_key(&test.db, first, KeyStatus::Current, &master_key, NOW)
        .await
        .unwrap();
    signing_keys::ActiveModel {
        kid: Set(first.kid.clone()),
        private_key: Set(master_key.encrypt(&second.pkcs8_der, PRIVATE_KEY_CONTEXT)),
        ..Default::default()
    }
    .update(&test.db)
    .await
    .unwrap();

    let loaded = rs256_ring(&test.db, &master_key).await;
    assert!(matches!(loaded, Err(KeyError::InvalidKey(_))), "{loaded:?}");
}

#[test]
fn key_ring_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<KeyRing>();
    assert_send_sync::<Arc<JwtSigner>>();
}

// ---- several algorithms ----

fn ring_of_all_algorithms() -> KeyRing {
    let keys: Vec<&GeneratedKey> = SigningAlgorithm::ALL.into_iter().map(test_keys::first_for).collect();
    KeyRing::from_signing_keys(&keys, NOW).unwrap()
}

fn core_algorithm(algorithm: SigningAlgorithm) -> CoreJwsSigningAlgorithm {
    match algorithm {
        SigningAlgorithm::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlgorithm::Ps256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        SigningAlgorithm::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    }
}

#[test]
fn every_algorithm_signs_and_verifies_here_and_with_an_independent_implementation() {
    let ring = ring_of_all_algorithms();
    assert_eq!(ring.signer().kid(), test_keys::first().kid);
    let jwks: CoreJsonWebKeySet = serde_json::from_str(&ring.jwks_json()).unwrap();
    for algorithm in SigningAlgorithm::ALL {
        let signer = ring.signer_for(algorithm).unwrap();
        assert_eq!(signer.kid(), test_keys::first_for(algorithm).kid);
        let token = signer.sign("JWT", &claims(NOW + 300)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(format!("{:?}", header.alg), algorithm.as_str());
        assert_eq!(header.kid.as_deref(), Some(signer.kid()));
        assert_eq!(
            verify(&ring, &token, Some("JWT"), Some("app"), NOW).unwrap(),
            claims(NOW + 300)
        );

        // openidconnect (RustCrypto `rsa` and `p256`) agrees, with the published JWK.
        let kid = JsonWebKeyId::new(signer.kid().to_string());
        let jwk = jwks.keys().iter().find(|key| key.key_id() == Some(&kid)).unwrap();
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        jwk.verify_signature(&core_algorithm(algorithm), signing_input.as_bytes(), &signature)
            .unwrap();
        // A JWK is for its own algorithm only.
        for other in SigningAlgorithm::ALL.into_iter().filter(|other| *other != algorithm) {
            assert!(jwk
                .verify_signature(&core_algorithm(other), signing_input.as_bytes(), &signature)
                .is_err());
        }
    }

    // The JWKS: RSA keys for RS256 and PS256, an EC key for ES256, the signers first.
    let document: Value = serde_json::from_str(&ring.jwks_json()).unwrap();
    let published: Vec<(String, String, Option<String>)> = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            (
                key["kty"].as_str().unwrap().to_string(),
                key["alg"].as_str().unwrap().to_string(),
                key["crv"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        published,
        [
            ("RSA".to_string(), "RS256".to_string(), None),
            ("RSA".to_string(), "PS256".to_string(), None),
            ("EC".to_string(), "ES256".to_string(), Some("P-256".to_string())),
        ]
    );
    let listed: Vec<(SigningAlgorithm, bool)> = ring
        .list()
        .into_iter()
        .map(|key| (key.algorithm, key.signing))
        .collect();
    assert_eq!(
        listed,
        [
            (SigningAlgorithm::Rs256, true),
            (SigningAlgorithm::Ps256, true),
            (SigningAlgorithm::Es256, true)
        ]
    );
}

#[test]
fn a_token_relabelled_with_another_algorithm_is_rejected() {
    let ring = ring_of_all_algorithms();
    for (signed_with, claimed) in [
        (SigningAlgorithm::Ps256, "RS256"),
        (SigningAlgorithm::Rs256, "PS256"),
        (SigningAlgorithm::Es256, "RS256"),
        (SigningAlgorithm::Es256, "ES384"),
        (SigningAlgorithm::Rs256, "ES256"),
    ] {
        let signer = ring.signer_for(signed_with).unwrap();
        let token = signer.sign("JWT", &claims(NOW + 300)).unwrap();
        let signature = token.rsplit('.').next().unwrap();
        let header = json!({"alg": claimed, "typ": "JWT", "kid": signer.kid()});
        let forged = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(NOW + 300)).unwrap()),
            signature
        );
        assert_eq!(
            rejection_of(verify(&ring, &forged, None, None, NOW)),
            TokenRejection::WrongAlgorithm,
            "{signed_with} relabelled {claimed}"
        );
    }
    // An ES256 signature bit-flipped does not verify.
    let token = ring
        .signer_for(SigningAlgorithm::Es256)
        .unwrap()
        .sign("JWT", &claims(NOW + 300))
        .unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[40] ^= 0x01;
    let flipped = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature));
    assert_eq!(
        rejection_of(verify(&ring, &flipped, None, None, NOW)),
        TokenRejection::BadSignature
    );
}

#[test]
fn an_algorithm_without_a_key_is_unavailable_and_rs256_is_required() {
    let ring = ring();
    assert_eq!(ring.algorithms(), [SigningAlgorithm::Rs256]);
    assert!(matches!(
        ring.signer_for(SigningAlgorithm::Ps256),
        Err(KeyError::AlgorithmUnavailable(SigningAlgorithm::Ps256))
    ));
    assert_eq!(
        ring.signer_for(SigningAlgorithm::Rs256).unwrap().kid(),
        test_keys::first().kid
    );
    let es256_only = KeyRing::from_signing_keys(&[test_keys::first_for(SigningAlgorithm::Es256)], NOW);
    assert!(matches!(es256_only, Err(KeyError::NoCurrentKey)));
}

#[tokio::test]
async fn a_row_whose_algorithm_disagrees_with_its_jwk_is_refused() {
    let test = test_database().await;
    let master_key = MasterKey::generate();
    store_signing_key(&test.db, test_keys::first(), KeyStatus::Current, &master_key, NOW)
        .await
        .unwrap();
    let ps256 = test_keys::first_for(SigningAlgorithm::Ps256);
    store_signing_key(&test.db, ps256, KeyStatus::Next, &master_key, NOW)
        .await
        .unwrap();
    rs256_ring(&test.db, &master_key).await.unwrap();
    signing_keys::ActiveModel {
        kid: Set(ps256.kid.clone()),
        algorithm: Set("RS256".to_string()),
        ..Default::default()
    }
    .update(&test.db)
    .await
    .unwrap();
    let loaded = rs256_ring(&test.db, &master_key).await;
    assert!(matches!(loaded, Err(KeyError::InvalidKey(_))), "{loaded:?}");
}
