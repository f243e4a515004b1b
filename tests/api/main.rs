//! The integration suite: the real server, a real slapd, SQLite or PostgreSQL.

mod architecture;
mod authorization_code_flow;
mod authorize_errors;
mod binary_smoke;
mod browser_sign_in;
mod directory;
mod login;
mod migrations;
mod prompt_and_sessions;
mod support;
mod token_endpoint;
mod userinfo_and_logout;
