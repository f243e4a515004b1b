//! The integration suite: the real server, a real slapd, SQLite or PostgreSQL.

mod architecture;
mod authorization_code_flow;
mod binary_smoke;
mod directory;
mod migrations;
mod support;
