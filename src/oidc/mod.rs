//! The protocol endpoints: discovery, JWKS, authorize, token, revoke, introspect, userinfo,
//! logout.

pub mod authorize_endpoint;
pub mod client_authentication;
pub mod discovery_endpoint;
pub mod end_session_endpoint;
mod form_body;
pub mod introspection_endpoint;
pub mod oauth_error;
pub mod revocation_endpoint;
pub mod token_endpoint;
pub mod userinfo_endpoint;
