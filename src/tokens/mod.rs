//! The tokens Gatehouse issues: ID tokens and access tokens (JWTs signed by the key
//! ring), and the grants that record what was issued so it can be revoked.

pub mod access_token;
pub mod access_token_denylist;
pub mod grants;
pub mod id_token;
pub mod introspection;
pub mod personal_access_token;
pub mod refresh_token;
pub mod revocation;

use crate::keys::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// `at_hash`: base64url of the left half of the SHA-256 of the access token (RS256).
pub fn left_half_hash(token: &str) -> String {
    let digest = crate::crypto::sha256(token.as_bytes());
    crate::crypto::base64url(digest.get(..16).unwrap_or(&digest))
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_hash_matches_the_spec_example() {
        // OpenID Connect Core, appendix A.3: access token and its at_hash.
        assert_eq!(
            super::left_half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
