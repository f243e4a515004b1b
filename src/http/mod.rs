//! Shared actix pieces for the HTTP edges: cookies, CSRF, security headers, pages.

pub mod admin_pages;
pub mod client_ip;
pub mod csrf;
pub mod https_redirect;
pub mod keys_page;
pub mod mfa_pages;
pub mod page_response;
pub mod pages;
pub mod people_pages;
pub mod rate_limit;
pub mod redirect;
pub mod request_id;
pub mod request_metrics;
pub mod security_headers;
pub mod session_cookie;
pub mod session_pages;
pub mod static_files;
pub mod token_pages;
