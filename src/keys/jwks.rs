//! Public keys as JSON Web Keys (RFC 7517, RFC 7518 section 6), their RFC 7638 thumbprints
//! (our `kid`s), and the JWKS document served at `/jwks.json`.
//!
//! RSA keys (RS256, PS256) publish `n` and `e`; ES256 keys publish the P-256 point as `crv`,
//! `x` and `y`. Every key carries `use: sig` and the one `alg` it signs with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{KeyError, SigningAlgorithm};
use crate::crypto::{base64url, sha256};

/// The only curve ES256 uses (RFC 7518 section 3.4).
pub const P256: &str = "P-256";
/// Bytes in one P-256 coordinate.
const P256_COORDINATE_LEN: usize = 32;

/// The public key material of a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyParams {
    /// An RSA public key: modulus and exponent, base64url without padding and without
    /// leading zero bytes.
    Rsa { n: String, e: String },
    /// A P-256 point: the two coordinates, base64url of exactly 32 bytes each.
    Ec { x: String, y: String },
}

impl PublicKeyParams {
    /// The RFC 7638 thumbprint of these parameters.
    pub fn thumbprint(&self) -> String {
        match self {
            PublicKeyParams::Rsa { n, e } => jwk_thumbprint(n, e),
            PublicKeyParams::Ec { x, y } => ec_jwk_thumbprint(x, y),
        }
    }

    /// Whether `algorithm` signs with keys of this type.
    pub fn suits(&self, algorithm: SigningAlgorithm) -> bool {
        match self {
            PublicKeyParams::Rsa { .. } => matches!(algorithm, SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256),
            PublicKeyParams::Ec { .. } => algorithm == SigningAlgorithm::Es256,
        }
    }
}

/// The public half of a signing key, exactly as published and as stored in
/// `signing_keys.public_jwk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireJwk", try_from = "WireJwk")]
pub struct PublicJwk {
    pub algorithm: SigningAlgorithm,
    /// RFC 7638 thumbprint of `params` (checked by [`PublicJwk::check`]).
    pub kid: String,
    pub params: PublicKeyParams,
}

/// The JSON members, in the order they are published.
#[derive(Serialize, Deserialize)]
struct WireJwk {
    kty: String,
    #[serde(rename = "use")]
    key_use: String,
    alg: String,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
}

impl From<PublicJwk> for WireJwk {
    fn from(jwk: PublicJwk) -> WireJwk {
        let mut wire = WireJwk {
            kty: String::new(),
            key_use: "sig".to_string(),
            alg: jwk.algorithm.as_str().to_string(),
            kid: jwk.kid,
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        };
        match jwk.params {
            PublicKeyParams::Rsa { n, e } => {
                wire.kty = "RSA".to_string();
                wire.n = Some(n);
                wire.e = Some(e);
            }
            PublicKeyParams::Ec { x, y } => {
                wire.kty = "EC".to_string();
                wire.crv = Some(P256.to_string());
                wire.x = Some(x);
                wire.y = Some(y);
            }
        }
        wire
    }
}

impl TryFrom<WireJwk> for PublicJwk {
    type Error = String;

    fn try_from(wire: WireJwk) -> Result<PublicJwk, String> {
        if wire.key_use != "sig" {
            return Err(format!("key {} is not a signature key", wire.kid));
        }
        let algorithm = SigningAlgorithm::parse(&wire.alg)
            .ok_or_else(|| format!("key {} has unsupported algorithm {:?}", wire.kid, wire.alg))?;
        let params = match (wire.kty.as_str(), wire.n, wire.e, wire.crv, wire.x, wire.y) {
            ("RSA", Some(n), Some(e), None, None, None) => PublicKeyParams::Rsa { n, e },
            ("EC", None, None, Some(crv), Some(x), Some(y)) if crv == P256 => PublicKeyParams::Ec { x, y },
            (kty, ..) => return Err(format!("key {} is not a usable {kty:?} key", wire.kid)),
        };
        Ok(PublicJwk {
            algorithm,
            kid: wire.kid,
            params,
        })
    }
}

impl PublicJwk {
    /// A signature key for `algorithm` whose `kid` is the thumbprint of `params`.
    pub fn new(algorithm: SigningAlgorithm, params: PublicKeyParams) -> PublicJwk {
        PublicJwk {
            algorithm,
            kid: params.thumbprint(),
            params,
        }
    }

    pub fn parse(json: &str) -> Result<Self, KeyError> {
        serde_json::from_str(json)
            .map_err(|error| KeyError::InvalidKey(format!("stored public JWK is not valid: {error}")))
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings into a String cannot fail; an empty object would be
        // rejected on load anyway.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks that this JWK is internally consistent: its key type suits its algorithm, EC
    /// coordinates have the size of the curve, and its `kid` is its own thumbprint.
    pub fn check(&self) -> Result<(), KeyError> {
        if !self.params.suits(self.algorithm) {
            return Err(KeyError::InvalidKey(format!(
                "key {} is not a {} key",
                self.kid, self.algorithm
            )));
        }
        if let PublicKeyParams::Ec { x, y } = &self.params {
            let coordinate_ok = |c: &str| URL_SAFE_NO_PAD.decode(c).is_ok_and(|c| c.len() == P256_COORDINATE_LEN);
            if !coordinate_ok(x) || !coordinate_ok(y) {
                return Err(KeyError::InvalidKey(format!("key {} is not a P-256 point", self.kid)));
            }
        }
        if self.params.thumbprint() != self.kid {
            return Err(KeyError::InvalidKey(format!(
                "key {} does not match its thumbprint",
                self.kid
            )));
        }
        Ok(())
    }
}

/// RFC 7638 JWK thumbprint of an RSA public key: base64url(SHA-256) of the canonical JSON
/// `{"e":..,"kty":"RSA","n":..}` (required members only, sorted, no whitespace). Base64url
/// text needs no JSON escaping, so formatting it directly is exact.
pub fn jwk_thumbprint(n_b64url: &str, e_b64url: &str) -> String {
    let canonical = format!(r#"{{"e":"{e_b64url}","kty":"RSA","n":"{n_b64url}"}}"#);
    base64url(&sha256(canonical.as_bytes()))
}

/// RFC 7638 JWK thumbprint of a P-256 public key: base64url(SHA-256) of
/// `{"crv":"P-256","kty":"EC","x":..,"y":..}` (RFC 7638 section 3.2: `crv`, `kty`, `x`, `y`).
pub fn ec_jwk_thumbprint(x_b64url: &str, y_b64url: &str) -> String {
    let canonical = format!(r#"{{"crv":"{P256}","kty":"EC","x":"{x_b64url}","y":"{y_b64url}"}}"#);
    base64url(&sha256(canonical.as_bytes()))
}

/// The JWKS document `{"keys":[...]}` for `keys`, in the order given.
pub(crate) fn jwks_document<'a>(keys: impl IntoIterator<Item = &'a PublicJwk>) -> String {
    #[derive(Serialize)]
    struct JwksDocument<'a> {
        keys: Vec<&'a PublicJwk>,
    }
    let document = JwksDocument {
        keys: keys.into_iter().collect(),
    };
    // As in `to_json`: plain strings always serialize.
    serde_json::to_string(&document).unwrap_or_else(|_| r#"{"keys":[]}"#.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rsa(n: &str) -> PublicJwk {
        PublicJwk::new(
            SigningAlgorithm::Rs256,
            PublicKeyParams::Rsa {
                n: n.to_string(),
                e: "AQAB".to_string(),
            },
        )
    }

    fn ec() -> PublicJwk {
        PublicJwk::new(
            SigningAlgorithm::Es256,
            PublicKeyParams::Ec {
                x: base64url(&[1u8; 32]),
                y: base64url(&[2u8; 32]),
            },
        )
    }

    /// RFC 7638 section 3, computed the long way: the required members, sorted by a JSON
    /// serializer, hashed, base64url-encoded.
    fn thumbprint_by_the_book(members: &[(&str, &str)]) -> String {
        let canonical: BTreeMap<&str, &str> = members.iter().copied().collect();
        base64url(&sha256(serde_json::to_string(&canonical).unwrap().as_bytes()))
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = "AQAB";
        assert_eq!(jwk_thumbprint(n, e), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(
            jwk_thumbprint(n, e),
            thumbprint_by_the_book(&[("kty", "RSA"), ("n", n), ("e", e)])
        );
    }

    #[test]
    fn ec_thumbprint_hashes_crv_kty_x_y_in_order() {
        // The P-256 key of RFC 7515 appendix A.3.
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let expected = thumbprint_by_the_book(&[("y", y), ("x", x), ("kty", "EC"), ("crv", "P-256")]);
        assert_eq!(ec_jwk_thumbprint(x, y), expected);
        let jwk = PublicJwk::new(
            SigningAlgorithm::Es256,
            PublicKeyParams::Ec {
                x: x.to_string(),
                y: y.to_string(),
            },
        );
        assert_eq!(jwk.kid, expected);
        jwk.check().unwrap();
        // Swapping the coordinates is another key.
        assert_ne!(ec_jwk_thumbprint(y, x), expected);
    }

    #[test]
    fn rsa_jwk_serializes_with_published_members_and_checks_its_kid() {
        let jwk = rsa(&"AQAB".repeat(10));
        let value: serde_json::Value = serde_json::from_str(&jwk.to_json()).unwrap();
        let mut members: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(value["kty"], "RSA");
        assert_eq!(value["use"], "sig");
        assert_eq!(value["alg"], "RS256");
        assert_eq!(value["kid"], jwk.kid.as_str());
        assert_eq!(PublicJwk::parse(&jwk.to_json()).unwrap(), jwk);
        jwk.check().unwrap();

        let mut tampered = jwk.clone();
        tampered.params = PublicKeyParams::Rsa {
            n: "AQAC".repeat(10),
            e: "AQAB".to_string(),
        };
        assert!(matches!(tampered.check(), Err(KeyError::InvalidKey(_))));
        let mut wrong_alg = jwk.clone();
        wrong_alg.algorithm = SigningAlgorithm::Es256;
        assert!(matches!(wrong_alg.check(), Err(KeyError::InvalidKey(_))));
        let mut pss = jwk;
        pss.algorithm = SigningAlgorithm::Ps256;
        pss.check().unwrap();
        assert!(pss.to_json().contains(r#""alg":"PS256""#));
    }

    #[test]
    fn ec_jwk_serializes_with_published_members_and_rejects_bad_points() {
        let jwk = ec();
        let value: serde_json::Value = serde_json::from_str(&jwk.to_json()).unwrap();
        let mut members: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(value["kty"], "EC");
        assert_eq!(value["crv"], "P-256");
        assert_eq!(value["alg"], "ES256");
        assert_eq!(PublicJwk::parse(&jwk.to_json()).unwrap(), jwk);
        jwk.check().unwrap();

        let short = PublicJwk::new(
            SigningAlgorithm::Es256,
            PublicKeyParams::Ec {
                x: base64url(&[1u8; 31]),
                y: base64url(&[2u8; 32]),
            },
        );
        assert!(matches!(short.check(), Err(KeyError::InvalidKey(_))));
        let mut as_rsa_alg = jwk;
        as_rsa_alg.algorithm = SigningAlgorithm::Rs256;
        assert!(matches!(as_rsa_alg.check(), Err(KeyError::InvalidKey(_))));

        for bad in [
            r#"{"kty":"EC","use":"sig","alg":"ES256","kid":"k","crv":"P-384","x":"AA","y":"AA"}"#,
            r#"{"kty":"EC","use":"sig","alg":"ES256","kid":"k","crv":"P-256","x":"AA"}"#,
            r#"{"kty":"RSA","use":"enc","alg":"RS256","kid":"k","n":"AA","e":"AQAB"}"#,
            r#"{"kty":"RSA","use":"sig","alg":"RS512","kid":"k","n":"AA","e":"AQAB"}"#,
            r#"{"kty":"oct","use":"sig","alg":"RS256","kid":"k"}"#,
        ] {
            assert!(matches!(PublicJwk::parse(bad), Err(KeyError::InvalidKey(_))), "{bad}");
        }
    }

    #[test]
    fn jwks_document_lists_keys_in_order() {
        let first = rsa("AAAA");
        let second = ec();
        let value: serde_json::Value = serde_json::from_str(&jwks_document([&first, &second])).unwrap();
        let kids: Vec<&str> = value["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [first.kid.as_str(), second.kid.as_str()]);
        assert_eq!(jwks_document([]), r#"{"keys":[]}"#);
    }
}
