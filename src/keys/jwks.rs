//! Public keys as JSON Web Keys (RFC 7517), their RFC 7638 thumbprints (our `kid`s), and the
//! JWKS document served at `/jwks.json`.

use serde::{Deserialize, Serialize};

use super::{KeyError, RS256};
use crate::crypto::{base64url, sha256};

/// The public half of an RSA signing key, exactly as published and as stored in
/// `signing_keys.public_jwk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsaPublicJwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub alg: String,
    pub kid: String,
    /// Modulus, base64url without padding and without leading zero bytes.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

impl RsaPublicJwk {
    /// An RS256 signature key whose `kid` is the thumbprint of `n` and `e`.
    pub fn new_rs256(n_b64url: String, e_b64url: String) -> Self {
        RsaPublicJwk {
            kty: "RSA".to_string(),
            key_use: "sig".to_string(),
            alg: RS256.to_string(),
            kid: jwk_thumbprint(&n_b64url, &e_b64url),
            n: n_b64url,
            e: e_b64url,
        }
    }

    pub fn parse(json: &str) -> Result<Self, KeyError> {
        serde_json::from_str(json)
            .map_err(|error| KeyError::InvalidKey(format!("stored public JWK is not valid: {error}")))
    }

    pub fn to_json(&self) -> String {
        // Serializing a struct of plain strings into a String cannot fail; an empty object
        // would be rejected on load anyway.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks that this JWK is one of ours and is internally consistent: RSA, for
    /// signatures, RS256, and its `kid` is the thumbprint of its `n` and `e`.
    pub fn check(&self) -> Result<(), KeyError> {
        if self.kty != "RSA" || self.key_use != "sig" || self.alg != RS256 {
            return Err(KeyError::InvalidKey(format!(
                "key {} is not an RS256 signature key",
                self.kid
            )));
        }
        if jwk_thumbprint(&self.n, &self.e) != self.kid {
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

/// The JWKS document `{"keys":[...]}` for `keys`, in the order given.
pub(crate) fn jwks_document<'a>(keys: impl IntoIterator<Item = &'a RsaPublicJwk>) -> String {
    #[derive(Serialize)]
    struct JwksDocument<'a> {
        keys: Vec<&'a RsaPublicJwk>,
    }
    let document = JwksDocument {
        keys: keys.into_iter().collect(),
    };
    // As in `to_json`: plain strings always serialize.
    serde_json::to_string(&document).unwrap_or_else(|_| r#"{"keys":[]}"#.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = "AQAB";
        assert_eq!(jwk_thumbprint(n, e), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn jwk_serializes_with_published_members_and_checks_its_kid() {
        let jwk = RsaPublicJwk::new_rs256("AQAB".repeat(10), "AQAB".to_string());
        let value: serde_json::Value = serde_json::from_str(&jwk.to_json()).unwrap();
        assert_eq!(value["kty"], "RSA");
        assert_eq!(value["use"], "sig");
        assert_eq!(value["alg"], "RS256");
        assert_eq!(value["kid"], jwk.kid.as_str());
        assert_eq!(RsaPublicJwk::parse(&jwk.to_json()).unwrap(), jwk);
        jwk.check().unwrap();

        let mut tampered = jwk.clone();
        tampered.n = "AQAC".repeat(10);
        assert!(matches!(tampered.check(), Err(KeyError::InvalidKey(_))));
        let mut wrong_alg = jwk;
        wrong_alg.alg = "RS512".to_string();
        assert!(matches!(wrong_alg.check(), Err(KeyError::InvalidKey(_))));
    }

    #[test]
    fn jwks_document_lists_keys_in_order() {
        let first = RsaPublicJwk::new_rs256("AAAA".to_string(), "AQAB".to_string());
        let second = RsaPublicJwk::new_rs256("BBBB".to_string(), "AQAB".to_string());
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
