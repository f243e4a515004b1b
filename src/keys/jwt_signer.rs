//! Compact JWS signing with an RSA key parsed once.
//!
//! `jsonwebtoken::encode` parses the private key again on every call, which costs more
//! than half of an RS256 signature; here the aws-lc-rs `RsaKeyPair` lives as long as the
//! key is current, so a token costs one RSA private-key operation plus a little JSON.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use super::{jwk_thumbprint, KeyError, RsaPublicJwk, RS256};
use crate::crypto::base64url;

/// Signs JWTs with one RSA key (RS256).
pub struct JwtSigner {
    kid: String,
    algorithm: &'static str,
    key_pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct JoseHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

impl JwtSigner {
    /// Parses a PKCS#8 DER RSA private key. `kid` is taken as given; the key ring checks
    /// that it is the key's thumbprint before trusting a stored key.
    pub fn from_pkcs8_der(kid: String, der: &[u8]) -> Result<Self, KeyError> {
        let key_pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|error| KeyError::InvalidKey(format!("not a usable RSA PKCS#8 key: {error}")))?;
        Ok(JwtSigner {
            kid,
            algorithm: RS256,
            key_pair,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// The public half of this key as a JWK (`kid` is recomputed from the key itself).
    pub fn public_jwk(&self) -> RsaPublicJwk {
        let public_key = self.key_pair.public_key();
        RsaPublicJwk::new_rs256(
            base64url(public_key.modulus().big_endian_without_leading_zero()),
            base64url(public_key.exponent().big_endian_without_leading_zero()),
        )
    }

    /// The RFC 7638 thumbprint of this key's public half.
    pub fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        jwk_thumbprint(&jwk.n, &jwk.e)
    }

    /// A compact JWS: `base64url(header).base64url(payload).base64url(signature)` with the
    /// header `{"alg":"RS256","typ":typ,"kid":kid}`. `typ` is `JWT` for ID tokens and
    /// `at+jwt` for access tokens (RFC 9068).
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, KeyError> {
        let header = serde_json::to_vec(&JoseHeader {
            alg: self.algorithm,
            typ,
            kid: &self.kid,
        })
        .map_err(|_| KeyError::Signing)?;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Signing)?;

        let signature_len = self.key_pair.public_modulus_len();
        // base64url length of n bytes, without padding: ceil(4n/3).
        let encoded_len = |n: usize| (n * 4).div_ceil(3);
        let mut token = String::with_capacity(
            encoded_len(header.len()) + encoded_len(payload.len()) + encoded_len(signature_len) + 2,
        );
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);

        let mut signature = vec![0u8; signature_len];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature)
            .map_err(|_| KeyError::Signing)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_keys;

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn sign_produces_compact_jws_with_kid_and_typ() {
        let key = test_keys::first();
        let signer = JwtSigner::from_pkcs8_der(key.kid.clone(), &key.pkcs8_der).unwrap();
        assert_eq!(signer.kid(), key.kid);
        assert_eq!(signer.thumbprint(), key.kid);
        assert_eq!(signer.public_jwk(), key.public_jwk());

        let token = signer
            .sign("at+jwt", &serde_json::json!({"sub": "alice", "n": 1}))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_part(parts[0]),
            serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid})
        );
        assert_eq!(decode_part(parts[1]), serde_json::json!({"sub": "alice", "n": 1}));
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 256);

        // The signature checks out with aws-lc-rs's public-key verifier over the same bytes.
        let jwk = signer.public_jwk();
        let public = aws_lc_rs::signature::RsaPublicKeyComponents {
            n: URL_SAFE_NO_PAD.decode(&jwk.n).unwrap(),
            e: URL_SAFE_NO_PAD.decode(&jwk.e).unwrap(),
        };
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                signing_input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn from_pkcs8_der_rejects_garbage_and_debug_hides_the_key() {
        assert!(matches!(
            JwtSigner::from_pkcs8_der("k".to_string(), &[0x30, 0x03, 0x02, 0x01, 0x00]),
            Err(KeyError::InvalidKey(_))
        ));
        let key = test_keys::first();
        let signer = JwtSigner::from_pkcs8_der(key.kid.clone(), &key.pkcs8_der).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains(&key.kid));
        assert!(!debug.contains(&key.n_b64url));
    }
}
