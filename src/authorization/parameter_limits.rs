//! How large a protocol request may be: the number of parameters, and the longest value of
//! each, in bytes after URL decoding. One table for `/authorize`, `/logout`, `/token`,
//! `/revoke`, `/introspect` and `/userinfo`: a parameter has the same meaning (and limit)
//! wherever it appears. What is stored (a pending authorization) or echoed (`state` in a
//! redirect) is therefore bounded before anything is stored or echoed; an over-long value
//! is an error, never silently cut (a cut `state` or `nonce` would fail at the client in a
//! way nobody could explain).
//!
//! The limits are generous for honest clients (RFC 6749 and OpenID Connect set none):
//! `state` carries a client's own data and may be long, ID tokens (`id_token_hint`)
//! carry claims, everything else is short by nature.

use std::fmt;

use crate::config::{MAX_CLIENT_ID_BYTES, MAX_CLIENT_SECRET_BYTES, MAX_REDIRECT_URI_BYTES};

/// The most parameters one request may carry, repeated ones counted each time.
pub const MAX_PARAMETERS: usize = 64;

/// The limit of a parameter not in [`LIMITS`] (its name counted too): extensions Gatehouse
/// ignores, and `request`, `request_uri`, `registration`, which it refuses anyway.
pub const DEFAULT_LIMIT: usize = 2048;

/// The longest value of each known parameter, in bytes.
pub const LIMITS: &[(&str, usize)] = &[
    // Who is asking, and where the answer goes.
    ("client_id", MAX_CLIENT_ID_BYTES),
    ("redirect_uri", MAX_REDIRECT_URI_BYTES),
    ("post_logout_redirect_uri", MAX_REDIRECT_URI_BYTES),
    // The client's own values, stored and echoed.
    ("state", 2048),
    ("nonce", 512),
    ("scope", 2048),
    // Keywords.
    ("response_type", 64),
    ("response_mode", 64),
    ("prompt", 64),
    ("display", 64),
    ("code_challenge_method", 64),
    ("grant_type", 64),
    ("token_type_hint", 64),
    ("confirm", 64),
    // A base64url SHA-256 is 43 characters; a verifier at most 128 (RFC 7636 4.1).
    ("code_challenge", 128),
    ("code_verifier", 128),
    // Seconds: 16 digits is over 300 million years.
    ("max_age", 16),
    // Hints.
    ("login_hint", 512),
    ("logout_hint", 512),
    ("id_token_hint", 8192),
    ("acr_values", 512),
    ("ui_locales", 256),
    ("claims_locales", 256),
    ("claims", 4096),
    // Credentials and tokens.
    ("client_secret", MAX_CLIENT_SECRET_BYTES),
    ("code", 512),
    ("refresh_token", 512),
    ("token", 8192),
    ("access_token", 8192),
    ("csrf_token", 256),
];

/// The limit of `name`, with the name as the table spells it (`None` for other names).
pub fn parameter_limit(name: &str) -> (Option<&'static str>, usize) {
    LIMITS
        .iter()
        .find(|(known, _)| *known == name)
        .map_or((None, DEFAULT_LIMIT), |(known, limit)| (Some(*known), *limit))
}

/// Whether `value` fits the limit of `name`.
pub fn within_limit(name: &str, value: &str) -> bool {
    value.len() <= parameter_limit(name).1
}

/// What makes a request too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeProblem {
    TooManyParameters,
    /// `name` is `None` for a parameter not in the table (its name is not repeated back).
    TooLong {
        name: Option<&'static str>,
        limit: usize,
    },
}

impl SizeProblem {
    /// The problem of one parameter, if it has one.
    pub fn of(name: &str, value: &str) -> Option<SizeProblem> {
        let (known, limit) = parameter_limit(name);
        let size = match known {
            Some(_) => value.len(),
            None => name.len() + value.len(),
        };
        (size > limit).then_some(SizeProblem::TooLong { name: known, limit })
    }

    /// As a sentence for a page: "The state parameter is too long (at most 2048 bytes)."
    pub fn sentence(&self) -> String {
        let text = self.to_string();
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
            None => text,
        }
    }
}

impl fmt::Display for SizeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeProblem::TooManyParameters => {
                write!(f, "the request has too many parameters (at most {MAX_PARAMETERS})")
            }
            SizeProblem::TooLong {
                name: Some(name),
                limit,
            } => {
                write!(f, "the {name} parameter is too long (at most {limit} bytes)")
            }
            SizeProblem::TooLong { name: None, limit } => {
                write!(f, "a parameter is too long (at most {limit} bytes)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_have_their_limits_and_others_the_default() {
        assert_eq!(parameter_limit("state"), (Some("state"), 2048));
        assert_eq!(parameter_limit("id_token_hint"), (Some("id_token_hint"), 8192));
        assert_eq!(parameter_limit("client_id"), (Some("client_id"), 128));
        assert_eq!(parameter_limit("x-extension"), (None, DEFAULT_LIMIT));
        assert!(within_limit("state", &"s".repeat(2048)));
        assert!(!within_limit("state", &"s".repeat(2049)));
        assert!(
            LIMITS.iter().all(|(_, limit)| *limit <= 8192),
            "nothing larger than an ID token"
        );
    }

    #[test]
    fn problems_name_known_parameters_only() {
        assert_eq!(SizeProblem::of("nonce", &"n".repeat(512)), None);
        let nonce = SizeProblem::of("nonce", &"n".repeat(513)).unwrap();
        assert_eq!(nonce.to_string(), "the nonce parameter is too long (at most 512 bytes)");
        assert_eq!(nonce.sentence(), "The nonce parameter is too long (at most 512 bytes).");
        // An unknown name counts with its value, and is not repeated back.
        let unknown = SizeProblem::of(&"n".repeat(3000), "").unwrap();
        assert_eq!(unknown.to_string(), "a parameter is too long (at most 2048 bytes)");
        assert!(SizeProblem::TooManyParameters
            .to_string()
            .contains("too many parameters"));
    }
}
