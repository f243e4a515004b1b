//! New RSA signing keys, generated with the `rsa` crate on a blocking thread, exported as
//! PKCS#8 DER (for storage) and `n`/`e` (for the JWKS).

use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

use super::{jwk_thumbprint, KeyError, RsaPublicJwk};
use crate::crypto::base64url;

/// Smallest and largest modulus sizes accepted (aws-lc-rs signs with 2048 to 8192 bits).
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

/// A freshly generated (or imported) signing key, not stored yet.
pub struct GeneratedKey {
    /// PKCS#8 DER private key. Only ever stored encrypted.
    pub pkcs8_der: Vec<u8>,
    pub n_b64url: String,
    pub e_b64url: String,
    /// RFC 7638 thumbprint of (`n`, `e`).
    pub kid: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("pkcs8_der", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// Wraps an existing PKCS#8 DER RSA key (a fixture, an imported key), deriving `n`, `e`
    /// and the `kid` from it.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key_pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|error| KeyError::InvalidKey(format!("not a usable RSA PKCS#8 key: {error}")))?;
        let public_key = key_pair.public_key();
        let n_b64url = base64url(public_key.modulus().big_endian_without_leading_zero());
        let e_b64url = base64url(public_key.exponent().big_endian_without_leading_zero());
        Ok(GeneratedKey {
            pkcs8_der: der.to_vec(),
            kid: jwk_thumbprint(&n_b64url, &e_b64url),
            n_b64url,
            e_b64url,
        })
    }

    /// The JWK to publish for this key.
    pub fn public_jwk(&self) -> RsaPublicJwk {
        RsaPublicJwk::new_rs256(self.n_b64url.clone(), self.e_b64url.clone())
    }
}

/// Generates an RSA key of `bits` bits (2048..=8192) with e = 65537. The work runs on
/// tokio's blocking pool, never on an async worker: 2048 bits take tens to hundreds of
/// milliseconds of CPU.
pub async fn generate_rsa_signing_key(bits: usize) -> Result<GeneratedKey, KeyError> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(KeyError::Generation(format!(
            "an RSA signing key must have {MIN_BITS} to {MAX_BITS} bits, not {bits}"
        )));
    }
    tokio::task::spawn_blocking(move || generate_rsa_signing_key_blocking(bits))
        .await
        .map_err(|error| KeyError::Generation(format!("key generation task failed: {error}")))?
}

pub(super) fn generate_rsa_signing_key_blocking(bits: usize) -> Result<GeneratedKey, KeyError> {
    let private_key =
        RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|error| KeyError::Generation(error.to_string()))?;
    let pkcs8 = private_key
        .to_pkcs8_der()
        .map_err(|error| KeyError::Generation(format!("PKCS#8 export failed: {error}")))?;
    let n_b64url = base64url(&private_key.n().to_bytes_be());
    let e_b64url = base64url(&private_key.e().to_bytes_be());
    Ok(GeneratedKey {
        pkcs8_der: pkcs8.as_bytes().to_vec(),
        kid: jwk_thumbprint(&n_b64url, &e_b64url),
        n_b64url,
        e_b64url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_keys;

    #[tokio::test]
    async fn generated_key_exports_consistent_pkcs8_and_components() {
        let generated = generate_rsa_signing_key(2048).await.unwrap();
        assert_eq!(generated.e_b64url, "AQAB");
        // 2048-bit modulus: 256 bytes -> 342 base64url characters.
        assert_eq!(generated.n_b64url.len(), 342);
        // aws-lc-rs reads the same key back and derives the same components and kid.
        let reimported = GeneratedKey::from_pkcs8_der(&generated.pkcs8_der).unwrap();
        assert_eq!(reimported.n_b64url, generated.n_b64url);
        assert_eq!(reimported.e_b64url, generated.e_b64url);
        assert_eq!(reimported.kid, generated.kid);
        assert_eq!(generated.public_jwk().kid, generated.kid);
        assert!(!format!("{generated:?}").contains(&generated.n_b64url));
    }

    #[tokio::test]
    async fn generation_rejects_weak_or_absurd_sizes() {
        assert!(matches!(
            generate_rsa_signing_key(1024).await,
            Err(KeyError::Generation(_))
        ));
        assert!(matches!(
            generate_rsa_signing_key(16384).await,
            Err(KeyError::Generation(_))
        ));
    }

    #[test]
    fn import_rejects_garbage() {
        assert!(matches!(
            GeneratedKey::from_pkcs8_der(b"not a key"),
            Err(KeyError::InvalidKey(_))
        ));
        // Two distinct keys have distinct kids.
        assert_ne!(test_keys::first().kid, test_keys::second().kid);
    }
}
