//! New RSA private keys (for RS256 and PS256), generated with the `rsa` crate and exported
//! as PKCS#8 DER.

use rsa::pkcs8::EncodePrivateKey;
use rsa::RsaPrivateKey;

use super::KeyError;

/// Smallest and largest modulus sizes accepted (aws-lc-rs signs with 2048 to 8192 bits).
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

pub(super) fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(KeyError::Generation(format!(
            "an RSA signing key must have {MIN_BITS} to {MAX_BITS} bits, not {bits}"
        )));
    }
    Ok(())
}

/// An RSA key of `bits` bits with e = 65537, as PKCS#8 DER. Blocks for tens to hundreds
/// of milliseconds: call it on the blocking pool.
pub(super) fn generate_rsa_signing_key_blocking(bits: usize) -> Result<Vec<u8>, KeyError> {
    check_rsa_bits(bits)?;
    let private_key =
        RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|error| KeyError::Generation(error.to_string()))?;
    let pkcs8 = private_key
        .to_pkcs8_der()
        .map_err(|error| KeyError::Generation(format!("PKCS#8 export failed: {error}")))?;
    Ok(pkcs8.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_outside_the_signing_range_are_refused() {
        assert!(check_rsa_bits(2048).is_ok());
        assert!(check_rsa_bits(4096).is_ok());
        assert!(matches!(check_rsa_bits(1024), Err(KeyError::Generation(_))));
        assert!(matches!(
            generate_rsa_signing_key_blocking(9000),
            Err(KeyError::Generation(_))
        ));
    }
}
