//! `ApiError`: the one error type of the JSON admin API, answered as
//! `{"error": ..., "error_description": ...}` (plus `problems` for validation failures),
//! never cached.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::settings::SettingsError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Every validation problem, for `invalid_request` answers about settings.
    pub problems: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            description: description.into(),
            problems: Vec::new(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in first: the admin API needs a signed-in administrator's browser session",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you are signed in, but not a member of an administrator group",
        )
    }

    pub fn bad_csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_csrf_token",
            "send the X-CSRF-Token header with the token from GET /admin/api/session",
        )
    }

    pub fn invalid(problems: Vec<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: format!("the request has {} problem(s)", problems.len()),
            problems,
        }
    }

    /// An unexpected failure: logged with its cause, answered without it.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "admin API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Gatehouse could not complete this request",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl From<SettingsError> for ApiError {
    fn from(error: SettingsError) -> Self {
        match error {
            SettingsError::Invalid(problems) => ApiError::invalid(problems),
            SettingsError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            SettingsError::BindPasswordNeeded => ApiError::invalid(vec![error.to_string()]),
            other => ApiError::internal(other),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        ApiError::internal(error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.error, "error_description": self.description });
        if !self.problems.is_empty() {
            body["problems"] = json!(self.problems);
        }
        HttpResponse::build(self.status)
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .json(body)
    }
}
