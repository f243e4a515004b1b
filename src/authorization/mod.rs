//! The OAuth 2.0 / OpenID Connect flow itself, without HTTP: parse and validate
//! authorization requests, sessions, consent, codes, and the token exchange.

pub mod authorization_code;
pub mod authorize_request;
pub mod browser_session;
pub mod client_credentials;
pub mod client_registry;
pub mod client_secret;
pub mod complete_authorization;
pub mod connected_apps;
pub mod consent;
pub mod parameter_limits;
pub mod pending_authorization;
pub mod people;
pub mod refresh_grant;
pub mod released_claims;
pub mod revoke_everything;
pub mod scopes;
pub mod second_factor;
pub mod second_factor_enrolment;
pub mod sign_in;
pub mod token_exchange;
