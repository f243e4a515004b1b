//! Keys shared by the unit tests of this module: generated once per test process, because
//! RSA key generation is the slowest thing these tests do.

use std::sync::OnceLock;

use super::rsa_key_generation::generate_rsa_signing_key_blocking;
use super::GeneratedKey;

fn generate() -> GeneratedKey {
    generate_rsa_signing_key_blocking(2048).unwrap()
}

pub(crate) fn first() -> &'static GeneratedKey {
    static KEY: OnceLock<GeneratedKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

pub(crate) fn second() -> &'static GeneratedKey {
    static KEY: OnceLock<GeneratedKey> = OnceLock::new();
    KEY.get_or_init(generate)
}
