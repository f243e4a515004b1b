//! OAuth 2.0 error responses (RFC 6749 section 5.2) for `/token`: JSON, never cached,
//! `invalid_client` as 401 with a Basic challenge.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// An unexpected failure: logged, answered as `server_error` without details.
    pub fn server_error(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "token request failed");
        Self::new("server_error", "the server could not complete the request")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(error: sea_orm::DbErr) -> Self {
        OAuthError::server_error(error)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        builder
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.error == "invalid_client" {
            builder.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"gatehouse\", charset=\"UTF-8\""));
        }
        builder.json(ErrorBody {
            error: self.error,
            error_description: &self.description,
        })
    }
}
