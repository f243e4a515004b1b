//! The integration suite: the real server, a real slapd, SQLite or PostgreSQL.

mod admin_ldap;
mod architecture;
mod audit_trail;
mod authorization_code_flow;
mod authorize_errors;
mod binary_smoke;
mod browser_sign_in;
mod directory;
mod directory_connections;
mod directory_mapping;
mod key_rotation;
mod ldap_settings_live;
mod login;
mod migrations;
mod prompt_and_sessions;
mod session_recheck;
mod support;
mod token_endpoint;
mod totp_flow;
mod userinfo_and_logout;
