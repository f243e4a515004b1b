//! Compact JWS signing with a private key parsed once.
//!
//! `jsonwebtoken::encode` parses the private key again on every call, which costs more
//! than half of an RS256 signature; here the aws-lc-rs key pair (`RsaKeyPair` for RS256 and
//! PS256, `EcdsaKeyPair` for ES256) lives as long as the key is current, so a token costs
//! one private-key operation plus a little JSON.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, RsaSignatureEncoding, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use super::{KeyError, PublicJwk, PublicKeyParams, SigningAlgorithm};
use crate::crypto::base64url;

/// Length of an ES256 signature in the JWS form: `r || s`, 32 bytes each (RFC 7518 3.4).
const ES256_SIGNATURE_LEN: usize = 64;

/// Signs JWTs with one key, in one algorithm.
pub struct JwtSigner {
    kid: String,
    algorithm: SigningAlgorithm,
    key: SigningKeyPair,
    public_jwk: PublicJwk,
    rng: SystemRandom,
}

enum SigningKeyPair {
    Rsa {
        key_pair: RsaKeyPair,
        padding: &'static RsaSignatureEncoding,
    },
    Ec(EcdsaKeyPair),
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
    /// Parses a PKCS#8 DER private key for `algorithm`: an RSA key for RS256 and PS256, a
    /// P-256 key for ES256. The `kid` is the RFC 7638 thumbprint of the key's public half.
    pub fn from_pkcs8_der(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, KeyError> {
        let (key, params) = match algorithm {
            SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256 => {
                let key_pair = RsaKeyPair::from_pkcs8(der)
                    .map_err(|error| KeyError::InvalidKey(format!("not a usable RSA PKCS#8 key: {error}")))?;
                let public_key = key_pair.public_key();
                let params = PublicKeyParams::Rsa {
                    n: base64url(public_key.modulus().big_endian_without_leading_zero()),
                    e: base64url(public_key.exponent().big_endian_without_leading_zero()),
                };
                let padding = match algorithm {
                    SigningAlgorithm::Ps256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                (SigningKeyPair::Rsa { key_pair, padding }, params)
            }
            SigningAlgorithm::Es256 => {
                let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|error| KeyError::InvalidKey(format!("not a usable P-256 PKCS#8 key: {error}")))?;
                let params = ec_params(key_pair.public_key().as_ref())?;
                (SigningKeyPair::Ec(key_pair), params)
            }
        };
        let public_jwk = PublicJwk::new(algorithm, params);
        Ok(JwtSigner {
            kid: public_jwk.kid.clone(),
            algorithm,
            key,
            public_jwk,
            rng: SystemRandom::new(),
        })
    }

    /// The same key under another `kid`: lets tests forge a token that names a key it was
    /// not signed with.
    #[cfg(test)]
    pub(crate) fn with_kid(mut self, kid: &str) -> Self {
        self.kid = kid.to_string();
        self
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public half of this key as a JWK.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public_jwk
    }

    /// A compact JWS: `base64url(header).base64url(payload).base64url(signature)` with the
    /// header `{"alg":alg,"typ":typ,"kid":kid}`. `typ` is `JWT` for ID tokens and `at+jwt`
    /// for access tokens (RFC 9068). ES256 signatures are the fixed 64-byte `r || s`.
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, KeyError> {
        let header = serde_json::to_vec(&JoseHeader {
            alg: self.algorithm.as_str(),
            typ,
            kid: &self.kid,
        })
        .map_err(|_| KeyError::Signing)?;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Signing)?;

        let signature_len = match &self.key {
            SigningKeyPair::Rsa { key_pair, .. } => key_pair.public_modulus_len(),
            SigningKeyPair::Ec(_) => ES256_SIGNATURE_LEN,
        };
        // base64url length of n bytes, without padding: ceil(4n/3).
        let encoded_len = |n: usize| (n * 4).div_ceil(3);
        let mut token = String::with_capacity(
            encoded_len(header.len()) + encoded_len(payload.len()) + encoded_len(signature_len) + 2,
        );
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);

        match &self.key {
            SigningKeyPair::Rsa { key_pair, padding } => {
                let mut signature = vec![0u8; signature_len];
                key_pair
                    .sign(*padding, &self.rng, token.as_bytes(), &mut signature)
                    .map_err(|_| KeyError::Signing)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
            }
            SigningKeyPair::Ec(key_pair) => {
                let signature = key_pair
                    .sign(&self.rng, token.as_bytes())
                    .map_err(|_| KeyError::Signing)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
            }
        }
        Ok(token)
    }
}

/// `x` and `y` of an uncompressed P-256 point (`0x04 || x || y`).
pub(super) fn ec_params(point: &[u8]) -> Result<PublicKeyParams, KeyError> {
    match point {
        [0x04, coordinates @ ..] if coordinates.len() == 64 => {
            let (x, y) = coordinates.split_at(32);
            Ok(PublicKeyParams::Ec {
                x: base64url(x),
                y: base64url(y),
            })
        }
        _ => Err(KeyError::InvalidKey("not an uncompressed P-256 point".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{
        RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
        RSA_PSS_2048_8192_SHA256,
    };

    use super::*;
    use crate::keys::test_keys;

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    /// Signs with `algorithm`'s test key and checks the header, the payload, and the
    /// signature with aws-lc-rs's public-key verifier for that algorithm.
    fn signs_and_verifies(algorithm: SigningAlgorithm) {
        let key = test_keys::first_for(algorithm);
        let signer = JwtSigner::from_pkcs8_der(algorithm, &key.pkcs8_der).unwrap();
        assert_eq!(signer.kid(), key.kid);
        assert_eq!(signer.algorithm(), algorithm);
        assert_eq!(*signer.public_jwk(), key.public_jwk());

        let token = signer
            .sign("at+jwt", &serde_json::json!({"sub": "alice", "n": 1}))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_part(parts[0]),
            serde_json::json!({"alg": algorithm.as_str(), "typ": "at+jwt", "kid": key.kid})
        );
        assert_eq!(decode_part(parts[1]), serde_json::json!({"sub": "alice", "n": 1}));
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();

        let verified = match &signer.public_jwk().params {
            PublicKeyParams::Rsa { n, e } => {
                assert_eq!(signature.len(), 256);
                let public = RsaPublicKeyComponents {
                    n: URL_SAFE_NO_PAD.decode(n).unwrap(),
                    e: URL_SAFE_NO_PAD.decode(e).unwrap(),
                };
                let (right, wrong) = match algorithm {
                    SigningAlgorithm::Ps256 => (&RSA_PSS_2048_8192_SHA256, &RSA_PKCS1_2048_8192_SHA256),
                    _ => (&RSA_PKCS1_2048_8192_SHA256, &RSA_PSS_2048_8192_SHA256),
                };
                // The padding is the algorithm's, not the other RSA scheme's.
                assert!(public.verify(wrong, signing_input.as_bytes(), &signature).is_err());
                public.verify(right, signing_input.as_bytes(), &signature)
            }
            PublicKeyParams::Ec { x, y } => {
                // JWS wants the fixed r || s form, not DER.
                assert_eq!(signature.len(), 64);
                let mut point = vec![0x04];
                point.extend(URL_SAFE_NO_PAD.decode(x).unwrap());
                point.extend(URL_SAFE_NO_PAD.decode(y).unwrap());
                let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
                let mut flipped = signature.clone();
                flipped[5] ^= 1;
                assert!(public.verify(signing_input.as_bytes(), &flipped).is_err());
                public.verify(signing_input.as_bytes(), &signature)
            }
        };
        verified.unwrap();
    }

    #[test]
    fn rs256_signature_verifies_with_pkcs1_padding() {
        signs_and_verifies(SigningAlgorithm::Rs256);
    }

    #[test]
    fn ps256_signature_verifies_with_pss_padding() {
        signs_and_verifies(SigningAlgorithm::Ps256);
    }

    #[test]
    fn es256_signature_is_fixed_r_s_and_verifies() {
        signs_and_verifies(SigningAlgorithm::Es256);
    }

    #[test]
    fn from_pkcs8_der_rejects_garbage_or_the_wrong_key_type_and_debug_hides_the_key() {
        for algorithm in SigningAlgorithm::ALL {
            assert!(matches!(
                JwtSigner::from_pkcs8_der(algorithm, &[0x30, 0x03, 0x02, 0x01, 0x00]),
                Err(KeyError::InvalidKey(_))
            ));
        }
        let rsa = test_keys::first();
        let ec = test_keys::first_for(SigningAlgorithm::Es256);
        assert!(matches!(
            JwtSigner::from_pkcs8_der(SigningAlgorithm::Es256, &rsa.pkcs8_der),
            Err(KeyError::InvalidKey(_))
        ));
        assert!(matches!(
            JwtSigner::from_pkcs8_der(SigningAlgorithm::Ps256, &ec.pkcs8_der),
            Err(KeyError::InvalidKey(_))
        ));
        let signer = JwtSigner::from_pkcs8_der(SigningAlgorithm::Rs256, &rsa.pkcs8_der).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains(&rsa.kid));
        let PublicKeyParams::Rsa { n, .. } = &rsa.public_jwk().params else {
            panic!("an RSA key")
        };
        assert!(!debug.contains(n.as_str()));
    }

    #[test]
    fn ec_params_wants_an_uncompressed_point() {
        assert!(ec_params(&[0x04; 65]).is_ok());
        assert!(ec_params(&[0x02; 33]).is_err());
        assert!(ec_params(&[0x04; 64]).is_err());
    }
}
