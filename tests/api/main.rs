//! The integration suite: the real server, a real slapd, SQLite or PostgreSQL.

mod authorization_code_flow;
mod directory;
mod support;
