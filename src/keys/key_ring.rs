//! The key ring held in memory: one signer per enabled algorithm, a verifier per published
//! key, the JWKS document, all swapped together as one immutable snapshot when the ring is
//! reloaded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sea_orm::DatabaseConnection;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::jwks::jwks_document;
use super::key_store::{load_published_signing_keys, store_signing_key, PRIVATE_KEY_CONTEXT};
use super::{
    generate_signing_key, GeneratedKey, JwtSigner, KeyError, KeyInfo, KeyStatus, PublicJwk, PublicKeyParams,
    SigningAlgorithm, TokenRejection,
};
use crate::clock::Clock;
use crate::crypto::{sha256_hex, MasterKey};
use crate::storage::entities::signing_keys;

/// Size of the RSA keys `load_or_create` generates.
const DEFAULT_RSA_BITS: usize = 2048;

/// No leeway on `exp`: the tokens verified here are our own, stamped by instances that
/// share NTP time, and a token is expired from the second its `exp` names (RFC 7519 4.1.4:
/// the current time must be before `exp`).
const EXP_LEEWAY_SECONDS: i64 = 0;
/// `nbf`, when a token carries one, gets 30 s: a token fresh from an instance whose clock
/// runs slightly ahead must not be refused by another, and accepting it early is harmless.
const NBF_LEEWAY_SECONDS: i64 = 30;

/// Signs with the current key of each enabled algorithm, verifies with every published key
/// (whatever its algorithm), serves the JWKS. Cheap to share (`Arc<KeyRing>`); every read
/// takes a brief read lock to clone an `Arc`.
pub struct KeyRing {
    snapshot: RwLock<Arc<KeyRingSnapshot>>,
    /// Serializes reloads so an older read of the table never replaces a newer one.
    reload_lock: tokio::sync::Mutex<()>,
    /// The algorithms this ring signs with (`keys.algorithms`), sorted; RS256 always.
    algorithms: Vec<SigningAlgorithm>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        let signers: Vec<(SigningAlgorithm, &str)> = snapshot
            .signers
            .iter()
            .map(|(algorithm, signer)| (*algorithm, signer.kid()))
            .collect();
        f.debug_struct("KeyRing")
            .field("signers", &signers)
            .field("keys", &snapshot.keys.len())
            .finish()
    }
}

/// One consistent view of the ring. Never mutated: a reload builds a new one.
struct KeyRingSnapshot {
    /// The RS256 signer: access tokens, and ID tokens of RS256 clients.
    signer: Arc<JwtSigner>,
    /// The signer of every enabled algorithm that has a `current` key (RS256 included).
    signers: BTreeMap<SigningAlgorithm, Arc<JwtSigner>>,
    verifiers: HashMap<String, VerificationKey>,
    jwks_json: Arc<str>,
    /// Strong `ETag` of `jwks_json` (quoted), computed once per load.
    jwks_etag: Arc<str>,
    keys: Vec<KeyInfo>,
}

struct VerificationKey {
    algorithm: Algorithm,
    decoding_key: DecodingKey,
}

/// A published key as read from its row, public part only, checked for consistency.
struct PublishedKey {
    kid: String,
    algorithm: SigningAlgorithm,
    status: KeyStatus,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    jwk: PublicJwk,
}

/// The claims verify checks against `now` itself (jsonwebtoken would use the wall clock).
#[derive(Deserialize)]
struct TimeClaims {
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
}

impl KeyRing {
    /// [`KeyRing::load_or_create_with`] for every algorithm, with RSA-2048 keys.
    pub async fn load_or_create(
        db: &DatabaseConnection,
        master_key: &MasterKey,
        clock: &dyn Clock,
    ) -> Result<KeyRing, KeyError> {
        Self::load_or_create_with(db, master_key, clock, &SigningAlgorithm::ALL, DEFAULT_RSA_BITS).await
    }

    /// Loads every published key from the database and decrypts the signing key of each of
    /// `algorithms` (RS256 is always one of them). Every one of them that has no `current`
    /// key gets one: generated on the blocking pool (RSA keys of `rsa_bits` bits), stored as
    /// `current`, then the ring is loaded again. Should two instances race here and both
    /// store one, each picks the same signer: the `current` key activated first, then the
    /// smallest kid.
    pub async fn load_or_create_with(
        db: &DatabaseConnection,
        master_key: &MasterKey,
        clock: &dyn Clock,
        algorithms: &[SigningAlgorithm],
        rsa_bits: usize,
    ) -> Result<KeyRing, KeyError> {
        let algorithms = enabled_algorithms(algorithms);
        let mut rows = load_published_signing_keys(db).await?;
        let missing: Vec<SigningAlgorithm> = algorithms
            .iter()
            .copied()
            .filter(|algorithm| {
                !rows
                    .iter()
                    .any(|row| row.algorithm == algorithm.as_str() && row.status == KeyStatus::Current.as_str())
            })
            .collect();
        if !missing.is_empty() {
            // Generated side by side on the blocking pool (two RSA keys take as long as one).
            let generated = futures_util::future::try_join_all(
                missing
                    .iter()
                    .map(|algorithm| generate_signing_key(*algorithm, rsa_bits)),
            )
            .await?;
            for key in &generated {
                store_signing_key(db, key, KeyStatus::Current, master_key, clock.now_unix()).await?;
                tracing::info!(kid = %key.kid, algorithm = %key.algorithm, "generated a new current signing key");
            }
            rows = load_published_signing_keys(db).await?;
        }
        let snapshot = snapshot_from_rows(&rows, master_key, &algorithms, None)?;
        Ok(KeyRing::from_snapshot(snapshot, algorithms))
    }

    /// A ring of one RS256 `current` key that exists only in memory, activated at `now`:
    /// for tests and fixtures that do not need the database.
    pub fn from_signing_key(key: &GeneratedKey, now: i64) -> Result<KeyRing, KeyError> {
        Self::from_signing_keys(&[key], now)
    }

    /// A ring that exists only in memory, signing with `keys` (one per algorithm, RS256
    /// among them), each `current` and activated at `now`.
    pub fn from_signing_keys(keys: &[&GeneratedKey], now: i64) -> Result<KeyRing, KeyError> {
        let mut published = Vec::with_capacity(keys.len());
        let mut signers = BTreeMap::new();
        for key in keys {
            let signer = checked_signer(JwtSigner::from_pkcs8_der(key.algorithm, &key.pkcs8_der)?, &key.kid)?;
            if signers.insert(key.algorithm, signer).is_some() {
                return Err(KeyError::InvalidKey(format!("two {} keys given", key.algorithm)));
            }
            published.push(PublishedKey {
                kid: key.kid.clone(),
                algorithm: key.algorithm,
                status: KeyStatus::Current,
                created_at: now,
                activated_at: Some(now),
                retired_at: None,
                jwk: key.public_jwk(),
            });
        }
        let algorithms: Vec<SigningAlgorithm> = signers.keys().copied().collect();
        let snapshot = assemble_snapshot(published, signers)?;
        Ok(KeyRing::from_snapshot(snapshot, algorithms))
    }

    /// Re-reads the ring from the database and swaps it in whole. Signers are reused when
    /// they have not changed, so a reload costs one query and a little JSON. On error (no
    /// `current` RS256 key left, a key that does not decrypt) the previous ring stays in
    /// place. An enabled algorithm left without a `current` key stops signing (its clients'
    /// token requests fail) until the schedule or a restart gives it one.
    pub async fn reload(&self, db: &DatabaseConnection, master_key: &MasterKey) -> Result<(), KeyError> {
        let _reloading = self.reload_lock.lock().await;
        let rows = load_published_signing_keys(db).await?;
        let previous = self.snapshot();
        let snapshot = snapshot_from_rows(&rows, master_key, &self.algorithms, Some(&previous))?;
        for (algorithm, signer) in &snapshot.signers {
            if previous.signers.get(algorithm).map(|old| old.kid()) != Some(signer.kid()) {
                tracing::info!(kid = %signer.kid(), %algorithm, "signing with a new key");
            }
        }
        *self.snapshot.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }

    /// The RS256 key that signs new tokens (access tokens are always RS256).
    pub fn signer(&self) -> Arc<JwtSigner> {
        self.snapshot().signer.clone()
    }

    /// The key that signs new tokens with `algorithm`; `AlgorithmUnavailable` when the
    /// algorithm is not enabled or has no `current` key.
    pub fn signer_for(&self, algorithm: SigningAlgorithm) -> Result<Arc<JwtSigner>, KeyError> {
        self.snapshot()
            .signers
            .get(&algorithm)
            .cloned()
            .ok_or(KeyError::AlgorithmUnavailable(algorithm))
    }

    /// The algorithms this ring signs with, sorted (RS256 first).
    pub fn algorithms(&self) -> &[SigningAlgorithm] {
        &self.algorithms
    }

    /// `{"keys":[...]}` with every published key (the signers first, then other `current`,
    /// `next` and `retired` keys), serialized once per load.
    pub fn jwks_json(&self) -> Arc<str> {
        self.snapshot().jwks_json.clone()
    }

    /// The JWKS document and its strong `ETag` (quoted hash of the body), from one snapshot.
    pub fn jwks_with_etag(&self) -> (Arc<str>, Arc<str>) {
        let snapshot = self.snapshot();
        (snapshot.jwks_json.clone(), snapshot.jwks_etag.clone())
    }

    /// The published keys, in JWKS order, for `keys list` and the admin page.
    pub fn list(&self) -> Vec<KeyInfo> {
        self.snapshot().keys.clone()
    }

    /// The kids that sign right now, one per algorithm.
    pub fn signing_kids(&self) -> Vec<String> {
        self.snapshot()
            .signers
            .values()
            .map(|signer| signer.kid().to_string())
            .collect()
    }

    /// Verifies a compact JWS issued by this provider and returns its claims:
    /// - the signature, with the published key named by the header's `kid`; the header's
    ///   `alg` must be that key's (RS256, PS256 or ES256), and `crit` headers are refused;
    /// - the JOSE `typ` header, when `expected_typ` is given (compared as media types:
    ///   case-insensitive, `application/` implied);
    /// - `iss` (required, equal to `issuer`), `aud` (required and containing `audience`
    ///   when given, not checked otherwise);
    /// - `exp` (required) against `now` with no leeway, and `nbf` when present with 30 s.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: Option<&str>,
        issuer: &str,
        audience: Option<&str>,
        now: i64,
    ) -> Result<T, KeyError> {
        let payload = match token.split('.').collect::<Vec<_>>()[..] {
            [_, payload, _] => payload,
            _ => return Err(malformed("not three dot-separated parts").into()),
        };
        let header = jsonwebtoken::decode_header(token).map_err(rejection)?;
        if header.crit.is_some() {
            return Err(malformed("critical header extensions are not supported").into());
        }
        let snapshot = self.snapshot();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| snapshot.verifiers.get(kid))
            .ok_or(TokenRejection::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(TokenRejection::WrongAlgorithm.into());
        }
        if let Some(expected) = expected_typ {
            match header.typ.as_deref() {
                Some(typ) if same_media_type(typ, expected) => {}
                _ => return Err(TokenRejection::WrongType.into()),
            }
        }

        let mut validation = Validation::new(key.algorithm);
        validation.leeway = 0;
        validation.validate_exp = false; // checked below against `now`, not the wall clock
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
        }
        let claims = jsonwebtoken::decode::<T>(token, &key.decoding_key, &validation)
            .map_err(rejection)?
            .claims;

        // The signature is good, so the payload is ours; read its times.
        let times: TimeClaims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| malformed("exp is not a number"))?;
        let now = now as f64;
        if now >= times.exp + EXP_LEEWAY_SECONDS as f64 {
            return Err(TokenRejection::Expired.into());
        }
        if times.nbf.is_some_and(|nbf| nbf > now + NBF_LEEWAY_SECONDS as f64) {
            return Err(TokenRejection::NotYetValid.into());
        }
        Ok(claims)
    }

    fn from_snapshot(snapshot: KeyRingSnapshot, algorithms: Vec<SigningAlgorithm>) -> KeyRing {
        KeyRing {
            snapshot: RwLock::new(Arc::new(snapshot)),
            reload_lock: tokio::sync::Mutex::new(()),
            algorithms,
        }
    }

    fn snapshot(&self) -> Arc<KeyRingSnapshot> {
        // The lock only ever guards a whole `Arc` swap, so a poisoned lock still holds a
        // complete snapshot.
        self.snapshot.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// `algorithms` sorted and without duplicates, RS256 always included.
fn enabled_algorithms(algorithms: &[SigningAlgorithm]) -> Vec<SigningAlgorithm> {
    let mut enabled: Vec<SigningAlgorithm> = algorithms.to_vec();
    enabled.push(SigningAlgorithm::Rs256);
    enabled.sort_unstable();
    enabled.dedup();
    enabled
}

/// Builds a snapshot from the published rows: a signer for each of `algorithms` that has a
/// `current` key (RS256 must). A signer is taken over from `previous` when it is the same
/// key; otherwise its private key is decrypted and parsed.
fn snapshot_from_rows(
    rows: &[signing_keys::Model],
    master_key: &MasterKey,
    algorithms: &[SigningAlgorithm],
    previous: Option<&KeyRingSnapshot>,
) -> Result<KeyRingSnapshot, KeyError> {
    let published = rows.iter().map(published_key_from_row).collect::<Result<Vec<_>, _>>()?;
    let mut signers = BTreeMap::new();
    for &algorithm in algorithms {
        let Some(chosen) = published
            .iter()
            .filter(|key| key.algorithm == algorithm && key.status == KeyStatus::Current)
            .min_by_key(|key| (key.activated_at.unwrap_or(key.created_at), key.kid.as_str()))
        else {
            if algorithm == SigningAlgorithm::Rs256 {
                return Err(KeyError::NoCurrentKey);
            }
            tracing::warn!(%algorithm, "no current signing key: tokens in this algorithm cannot be signed");
            continue;
        };
        let reused = previous
            .and_then(|previous| previous.signers.get(&algorithm))
            .filter(|signer| signer.kid() == chosen.kid);
        let signer = match reused {
            Some(signer) => signer.clone(),
            None => {
                let row = rows
                    .iter()
                    .find(|row| row.kid == chosen.kid)
                    .ok_or(KeyError::NoCurrentKey)?;
                let der = master_key
                    .decrypt(&row.private_key, PRIVATE_KEY_CONTEXT)
                    .map_err(|_| KeyError::Decrypt)?;
                checked_signer(JwtSigner::from_pkcs8_der(algorithm, &der)?, &row.kid)?
            }
        };
        signers.insert(algorithm, signer);
    }
    assemble_snapshot(published, signers)
}

fn published_key_from_row(row: &signing_keys::Model) -> Result<PublishedKey, KeyError> {
    let status = KeyStatus::parse(&row.status)
        .filter(|status| status.is_published())
        .ok_or_else(|| KeyError::InvalidKey(format!("key {} has status {:?}", row.kid, row.status)))?;
    let algorithm = SigningAlgorithm::parse(&row.algorithm).ok_or_else(|| {
        KeyError::InvalidKey(format!(
            "key {} uses unsupported algorithm {:?}",
            row.kid, row.algorithm
        ))
    })?;
    let jwk = PublicJwk::parse(&row.public_jwk)?;
    jwk.check()?;
    if jwk.kid != row.kid {
        return Err(KeyError::InvalidKey(format!(
            "key {} stores the public key of {}",
            row.kid, jwk.kid
        )));
    }
    if jwk.algorithm != algorithm {
        return Err(KeyError::InvalidKey(format!(
            "key {} is stored as {algorithm} but publishes {}",
            row.kid, jwk.algorithm
        )));
    }
    Ok(PublishedKey {
        kid: row.kid.clone(),
        algorithm,
        status,
        created_at: row.created_at,
        activated_at: row.activated_at,
        retired_at: row.retired_at,
        jwk,
    })
}

/// Refuses a signer that is not the key stored as `kid` (its own thumbprint differs), so a
/// row whose private key was swapped never signs under another key's name.
fn checked_signer(signer: JwtSigner, kid: &str) -> Result<Arc<JwtSigner>, KeyError> {
    if signer.kid() != kid {
        return Err(KeyError::InvalidKey(format!(
            "the private key stored as {kid} is another key"
        )));
    }
    Ok(Arc::new(signer))
}

fn verification_key(jwk: &PublicJwk) -> Result<VerificationKey, KeyError> {
    let invalid = |error: jsonwebtoken::errors::Error| KeyError::InvalidKey(format!("key {}: {error}", jwk.kid));
    let decoding_key = match &jwk.params {
        PublicKeyParams::Rsa { n, e } => DecodingKey::from_rsa_components(n, e).map_err(invalid)?,
        PublicKeyParams::Ec { x, y } => DecodingKey::from_ec_components(x, y).map_err(invalid)?,
    };
    let algorithm = match jwk.algorithm {
        SigningAlgorithm::Rs256 => Algorithm::RS256,
        SigningAlgorithm::Ps256 => Algorithm::PS256,
        SigningAlgorithm::Es256 => Algorithm::ES256,
    };
    Ok(VerificationKey {
        algorithm,
        decoding_key,
    })
}

fn assemble_snapshot(
    mut published: Vec<PublishedKey>,
    signers: BTreeMap<SigningAlgorithm, Arc<JwtSigner>>,
) -> Result<KeyRingSnapshot, KeyError> {
    let signer = signers
        .get(&SigningAlgorithm::Rs256)
        .cloned()
        .ok_or(KeyError::NoCurrentKey)?;
    let is_signing = |key: &PublishedKey| {
        signers
            .get(&key.algorithm)
            .is_some_and(|signer| signer.kid() == key.kid)
    };
    let rank = |key: &PublishedKey| match key.status {
        KeyStatus::Current if is_signing(key) => 0,
        KeyStatus::Current => 1,
        KeyStatus::Next => 2,
        KeyStatus::Retired => 3,
        KeyStatus::Revoked => 4,
    };
    published.sort_by(|a, b| {
        (rank(a), a.algorithm, Reverse(a.created_at), &a.kid).cmp(&(
            rank(b),
            b.algorithm,
            Reverse(b.created_at),
            &b.kid,
        ))
    });

    let mut verifiers = HashMap::with_capacity(published.len());
    for key in &published {
        verifiers.insert(key.kid.clone(), verification_key(&key.jwk)?);
    }
    let jwks_json: Arc<str> = Arc::from(jwks_document(published.iter().map(|key| &key.jwk)));
    let jwks_etag = Arc::from(format!("\"{}\"", &sha256_hex(jwks_json.as_bytes())[..32]));
    let keys = published
        .iter()
        .map(|key| KeyInfo {
            kid: key.kid.clone(),
            algorithm: key.algorithm,
            status: key.status,
            created_at: key.created_at,
            activated_at: key.activated_at,
            retired_at: key.retired_at,
            signing: is_signing(key),
        })
        .collect();
    Ok(KeyRingSnapshot {
        signer,
        signers,
        verifiers,
        jwks_json,
        jwks_etag,
        keys,
    })
}

/// RFC 7515 4.1.9: `typ` is a media type, compared case-insensitively, with `application/`
/// implied when it has no `/`.
fn same_media_type(given: &str, expected: &str) -> bool {
    fn normalize(typ: &str) -> String {
        let typ = typ.to_ascii_lowercase();
        if typ.contains('/') {
            typ
        } else {
            format!("application/{typ}")
        }
    }
    normalize(given) == normalize(expected)
}

fn malformed(reason: &str) -> TokenRejection {
    TokenRejection::Malformed(reason.to_string())
}

fn rejection(error: jsonwebtoken::errors::Error) -> KeyError {
    let rejection = match error.kind() {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenRejection::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => TokenRejection::MissingClaim(claim.clone()),
        // Our own verification key is unusable: not the token's fault.
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            return KeyError::InvalidKey(error.to_string())
        }
        _ => TokenRejection::Malformed(error.to_string()),
    };
    KeyError::InvalidToken(rejection)
}

#[cfg(test)]
mod tests;
