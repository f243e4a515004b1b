//! New signing keys, one algorithm at a time: RSA (RS256, PS256) from
//! [`rsa_key_generation`](super::rsa_key_generation), P-256 (ES256) from
//! [`ec_key_generation`](super::ec_key_generation). Generation always runs on tokio's
//! blocking pool, never on an async worker.

use super::ec_key_generation::generate_ec_signing_key_blocking;
use super::rsa_key_generation::{check_rsa_bits, generate_rsa_signing_key_blocking};
use super::{JwtSigner, KeyError, PublicJwk, SigningAlgorithm};

/// A freshly generated (or imported) signing key, not stored yet.
pub struct GeneratedKey {
    pub algorithm: SigningAlgorithm,
    /// PKCS#8 DER private key. Only ever stored encrypted.
    pub pkcs8_der: Vec<u8>,
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    public_jwk: PublicJwk,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("pkcs8_der", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// Wraps an existing PKCS#8 DER key (a fixture, an imported key) for `algorithm`,
    /// deriving its public JWK and `kid` from it. Fails when the key does not suit the
    /// algorithm (an RSA key for ES256, a P-256 key for RS256 or PS256).
    pub fn from_pkcs8_der(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, KeyError> {
        let signer = JwtSigner::from_pkcs8_der(algorithm, der)?;
        Ok(GeneratedKey {
            algorithm,
            pkcs8_der: der.to_vec(),
            kid: signer.kid().to_string(),
            public_jwk: signer.public_jwk().clone(),
        })
    }

    /// The JWK to publish for this key.
    pub fn public_jwk(&self) -> PublicJwk {
        self.public_jwk.clone()
    }
}

/// Generates a key for `algorithm` on the blocking pool: RSA of `rsa_bits` bits
/// (2048..=8192, e = 65537) for RS256 and PS256, P-256 for ES256. RSA generation takes tens
/// to hundreds of milliseconds of CPU; P-256 well under one.
pub async fn generate_signing_key(algorithm: SigningAlgorithm, rsa_bits: usize) -> Result<GeneratedKey, KeyError> {
    if algorithm != SigningAlgorithm::Es256 {
        check_rsa_bits(rsa_bits)?;
    }
    tokio::task::spawn_blocking(move || generate_signing_key_blocking(algorithm, rsa_bits))
        .await
        .map_err(|error| KeyError::Generation(format!("key generation task failed: {error}")))?
}

pub(super) fn generate_signing_key_blocking(
    algorithm: SigningAlgorithm,
    rsa_bits: usize,
) -> Result<GeneratedKey, KeyError> {
    let der = match algorithm {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256 => generate_rsa_signing_key_blocking(rsa_bits)?,
        SigningAlgorithm::Es256 => generate_ec_signing_key_blocking()?,
    };
    GeneratedKey::from_pkcs8_der(algorithm, &der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{test_keys, PublicKeyParams};

    #[tokio::test]
    async fn generated_keys_export_consistent_pkcs8_and_public_keys() {
        for algorithm in SigningAlgorithm::ALL {
            let generated = generate_signing_key(algorithm, 2048).await.unwrap();
            assert_eq!(generated.algorithm, algorithm);
            let jwk = generated.public_jwk();
            assert_eq!(jwk.algorithm, algorithm);
            assert_eq!(jwk.kid, generated.kid);
            jwk.check().unwrap();
            match &jwk.params {
                PublicKeyParams::Rsa { n, e } => {
                    assert_eq!(e, "AQAB");
                    // 2048-bit modulus: 256 bytes -> 342 base64url characters.
                    assert_eq!(n.len(), 342);
                    assert!(!format!("{generated:?}").contains(n.as_str()));
                }
                PublicKeyParams::Ec { x, y } => {
                    assert_eq!((x.len(), y.len()), (43, 43));
                }
            }
            // The stored form reads back as the same key.
            let reimported = GeneratedKey::from_pkcs8_der(algorithm, &generated.pkcs8_der).unwrap();
            assert_eq!(reimported.public_jwk(), jwk);
        }
    }

    #[tokio::test]
    async fn rsa_generation_rejects_weak_or_absurd_sizes_but_ec_ignores_the_size() {
        for algorithm in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
            assert!(matches!(
                generate_signing_key(algorithm, 1024).await,
                Err(KeyError::Generation(_))
            ));
            assert!(matches!(
                generate_signing_key(algorithm, 16384).await,
                Err(KeyError::Generation(_))
            ));
        }
        generate_signing_key(SigningAlgorithm::Es256, 1024).await.unwrap();
    }

    #[test]
    fn import_rejects_garbage_and_keys_of_another_type() {
        assert!(matches!(
            GeneratedKey::from_pkcs8_der(SigningAlgorithm::Rs256, b"not a key"),
            Err(KeyError::InvalidKey(_))
        ));
        let ec = test_keys::first_for(SigningAlgorithm::Es256);
        assert!(matches!(
            GeneratedKey::from_pkcs8_der(SigningAlgorithm::Rs256, &ec.pkcs8_der),
            Err(KeyError::InvalidKey(_))
        ));
        // The same RSA key is one kid whatever RSA algorithm it serves, but its JWK says which.
        let rsa = test_keys::first();
        let as_pss = GeneratedKey::from_pkcs8_der(SigningAlgorithm::Ps256, &rsa.pkcs8_der).unwrap();
        assert_eq!(as_pss.kid, rsa.kid);
        assert_eq!(as_pss.public_jwk().algorithm, SigningAlgorithm::Ps256);
        // Two distinct keys have distinct kids.
        assert_ne!(test_keys::first().kid, test_keys::second().kid);
    }
}
