//! Keys shared by the unit tests of this module: generated once per test process, because
//! RSA key generation is the slowest thing these tests do.

use std::sync::OnceLock;

use super::key_generation::generate_signing_key_blocking;
use super::{GeneratedKey, SigningAlgorithm};

fn generate(algorithm: SigningAlgorithm) -> GeneratedKey {
    generate_signing_key_blocking(algorithm, 2048).unwrap()
}

/// The first RS256 key.
pub(crate) fn first() -> &'static GeneratedKey {
    first_for(SigningAlgorithm::Rs256)
}

/// A second RS256 key.
pub(crate) fn second() -> &'static GeneratedKey {
    second_for(SigningAlgorithm::Rs256)
}

fn slot(algorithm: SigningAlgorithm) -> usize {
    match algorithm {
        SigningAlgorithm::Rs256 => 0,
        SigningAlgorithm::Ps256 => 1,
        SigningAlgorithm::Es256 => 2,
    }
}

/// A key for `algorithm`, the same one on every call.
pub(crate) fn first_for(algorithm: SigningAlgorithm) -> &'static GeneratedKey {
    static KEYS: [OnceLock<GeneratedKey>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    KEYS[slot(algorithm)].get_or_init(|| generate(algorithm))
}

/// Another key for `algorithm`, distinct from [`first_for`]'s.
pub(crate) fn second_for(algorithm: SigningAlgorithm) -> &'static GeneratedKey {
    static KEYS: [OnceLock<GeneratedKey>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    KEYS[slot(algorithm)].get_or_init(|| generate(algorithm))
}
