//! Server-rendered pages for people: sign-in, consent, home; plus health checks and the
//! embedded static files.

pub mod account_page;
pub mod consent_page;
pub mod health;
pub mod home_page;
pub mod login_page;
pub mod metrics_endpoint;
mod page_support;
pub mod sessions_page;
pub mod setup_link_page;
mod sign_in_finish;
pub mod static_route;
pub mod tokens_page;
pub mod totp_page;
