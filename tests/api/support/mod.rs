pub mod browser;
pub mod database;
pub mod jwt;
pub mod oauth;
pub mod relying_party;
pub mod slapd;
pub mod spawn_app;
pub mod webdriver;
