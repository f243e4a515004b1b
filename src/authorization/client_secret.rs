//! Client secrets at rest. Secrets of the configuration file are chosen by people, so a
//! plain SHA-256 of them (what earlier versions stored) could be searched from a copy of
//! the database alone. A secret is stored instead as a verifier: HMAC-SHA256 under a key
//! derived from the master key, over the client id and the secret, written
//! `hmac-sha256:<64 hex digits>`. Without the master key a stolen database tells nothing
//! about the secrets; binding the client id means two clients with the same secret do
//! not share a verifier.
//!
//! Why a keyed hash and not a password hash such as Argon2: the secret is checked on
//! every token, revocation and introspection request, the provider's hot path (signing
//! runs at thousands per second per core); a memory-hard hash at tens of milliseconds
//! each would cap it at a few dozen requests per second and hand anyone who can send
//! requests a cheap way to exhaust the server. The master key, which the keyed hash
//! relies on, already protects every other secret at rest (signing keys, TOTP secrets);
//! whoever holds it has those anyway.
//!
//! Verifiers written by earlier versions (64 hex digits, the plain SHA-256) still match;
//! the caller rewrites them once the client has authenticated (see
//! `ClientRegistry::upgrade_secret_verifier`), and clients of the configuration file are
//! rewritten at every start anyway.

use aws_lc_rs::hmac;

use crate::crypto::{constant_time_eq, hex_encode, sha256_hex, MasterKey};

const PREFIX: &str = "hmac-sha256:";

/// The key client secret verifiers are made with.
#[derive(Clone)]
pub struct ClientSecretKey(hmac::Key);

impl std::fmt::Debug for ClientSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecretKey(<redacted>)")
    }
}

/// How a presented secret compares with what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMatch {
    /// It matches the current kind of verifier.
    Current,
    /// It matches a verifier of an earlier version (plain SHA-256), due to be rewritten.
    Legacy,
    No,
}

impl SecretMatch {
    pub fn is_match(self) -> bool {
        self != SecretMatch::No
    }
}

impl ClientSecretKey {
    pub fn derive(master: &MasterKey) -> ClientSecretKey {
        ClientSecretKey(hmac::Key::new(
            hmac::HMAC_SHA256,
            &master.derive_subkey("gatehouse client secret v1"),
        ))
    }

    /// What is stored for `secret` of `client_id`.
    pub fn verifier(&self, client_id: &str, secret: &str) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        // The id's length first, so no (id, secret) pair runs into another.
        context.update(&(client_id.len() as u64).to_be_bytes());
        context.update(client_id.as_bytes());
        context.update(secret.as_bytes());
        format!("{PREFIX}{}", hex_encode(context.sign().as_ref()))
    }

    /// Compares `presented` with the `stored` verifier of `client_id` in constant time.
    /// The keyed hash is computed whatever is stored (nothing included), so a right and a
    /// wrong secret, a known and an unknown client, cost the same work.
    pub fn check(&self, client_id: &str, stored: Option<&str>, presented: &str) -> SecretMatch {
        let computed = self.verifier(client_id, presented);
        match stored {
            Some(stored) if stored.starts_with(PREFIX) => {
                if constant_time_eq(computed.as_bytes(), stored.as_bytes()) {
                    SecretMatch::Current
                } else {
                    SecretMatch::No
                }
            }
            Some(legacy) => {
                if constant_time_eq(sha256_hex(presented.as_bytes()).as_bytes(), legacy.as_bytes()) {
                    SecretMatch::Legacy
                } else {
                    SecretMatch::No
                }
            }
            None => {
                let _ = constant_time_eq(computed.as_bytes(), NOTHING_STORED.as_bytes());
                SecretMatch::No
            }
        }
    }
}

/// What a check without a stored verifier compares against (it never matches).
const NOTHING_STORED: &str = "hmac-sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Whether `stored` is a verifier of an earlier version.
pub fn is_legacy_verifier(stored: &str) -> bool {
    !stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ClientSecretKey {
        ClientSecretKey::derive(&MasterKey::from_bytes([byte; 32]))
    }

    #[test]
    fn a_verifier_is_keyed_and_bound_to_the_client() {
        let secret = "correct horse battery staple";
        let stored = key(1).verifier("app", secret);
        assert!(stored.starts_with("hmac-sha256:") && stored.len() == PREFIX.len() + 64);
        assert_ne!(stored, sha256_hex(secret.as_bytes()));
        assert!(!stored.contains(&sha256_hex(secret.as_bytes())));
        assert_ne!(
            stored,
            key(2).verifier("app", secret),
            "another master key, another verifier"
        );
        assert_ne!(stored, key(1).verifier("other", secret), "bound to the client id");
        assert_ne!(
            key(1).verifier("ab", "c"),
            key(1).verifier("a", "bc"),
            "id and secret cannot run into each other"
        );
        assert!(!is_legacy_verifier(&stored));
    }

    #[test]
    fn secrets_are_checked_against_current_and_legacy_verifiers() {
        let key = key(1);
        let stored = key.verifier("app", "s3cret-s3cret-s3cret");
        assert_eq!(
            key.check("app", Some(&stored), "s3cret-s3cret-s3cret"),
            SecretMatch::Current
        );
        assert_eq!(key.check("app", Some(&stored), "s3cret-s3cret-s3cre"), SecretMatch::No);
        assert_eq!(
            key.check("other", Some(&stored), "s3cret-s3cret-s3cret"),
            SecretMatch::No
        );

        let legacy = sha256_hex(b"s3cret-s3cret-s3cret");
        assert!(is_legacy_verifier(&legacy));
        assert_eq!(
            key.check("app", Some(&legacy), "s3cret-s3cret-s3cret"),
            SecretMatch::Legacy
        );
        assert_eq!(key.check("app", Some(&legacy), "wrong"), SecretMatch::No);
        // Someone who knows the legacy hash cannot present it as the secret.
        assert_eq!(key.check("app", Some(&legacy), &legacy), SecretMatch::No);

        assert_eq!(key.check("app", None, ""), SecretMatch::No);
        assert_eq!(key.check("app", None, "anything"), SecretMatch::No);
        assert!(SecretMatch::Legacy.is_match() && !SecretMatch::No.is_match());
    }
}
