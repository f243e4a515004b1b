//! sea-orm entities, written by hand to match `migrations/`.

pub mod audit_events;
pub mod authorization_codes;
pub mod browser_sessions;
pub mod clients;
pub mod consents;
pub mod grants;
pub mod login_failures;
pub mod pending_authorizations;
pub mod personal_access_tokens;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod revoked_access_tokens;
pub mod second_factor_challenges;
pub mod second_factor_setup_links;
pub mod settings;
pub mod signing_keys;
pub mod totp_credentials;
pub mod users;
