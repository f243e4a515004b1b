//! New P-256 signing keys (ES256), generated with aws-lc-rs and exported as PKCS#8 DER.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::KeyError;

/// A new P-256 private key as PKCS#8 v1 DER. Fast (well under a millisecond), but still
/// called from the blocking pool with the RSA generation, through
/// [`generate_signing_key`](super::generate_signing_key).
pub(super) fn generate_ec_signing_key_blocking() -> Result<Vec<u8>, KeyError> {
    let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| KeyError::Generation("P-256 key generation failed".to_string()))?;
    Ok(document.as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_p256_keys_that_aws_lc_rs_reads_back() {
        let first = generate_ec_signing_key_blocking().unwrap();
        let second = generate_ec_signing_key_blocking().unwrap();
        assert_ne!(first, second);
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &first).unwrap();
    }
}
