//! Shared actix pieces for the HTTP edges: cookies, CSRF, security headers, pages.

pub mod admin_pages;
pub mod csrf;
pub mod mfa_pages;
pub mod page_response;
pub mod pages;
pub mod redirect;
pub mod security_headers;
pub mod session_cookie;
pub mod static_files;
