//! HTML responses: rendering a page, and `PageError`, the one error type of the browser
//! surface (a page a person understands, never a stack trace).

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;

use super::pages::ErrorPage;

/// A builder for an HTML page that must not be cached (every page carries a form or
/// personal data).
pub fn html_response(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoStore]));
    builder
}

/// Renders `page`; a template failure becomes a plain 500 (logged).
pub fn render_page(builder: &mut HttpResponseBuilder, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => builder.body(body),
        Err(error) => {
            tracing::error!(error = %error, "page rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Internal error: the page could not be rendered.")
        }
    }
}

#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    pub demo: bool,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        PageError {
            status,
            title: title.into(),
            message: message.into(),
            demo: false,
        }
    }

    pub fn bad_request(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    /// An unexpected failure: logged with its cause, shown as a generic page.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Gatehouse could not complete this request. Please try again in a moment.",
        )
    }

    /// A sign-in that expired, or was finished already (in another tab, say).
    pub fn expired_sign_in() -> Self {
        Self::bad_request(
            "This sign-in has expired",
            "The sign-in took too long or was already finished. Go back to the application and start again.",
        )
    }

    pub fn in_demo(mut self, demo: bool) -> Self {
        self.demo = demo;
        self
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(error: sea_orm::DbErr) -> Self {
        PageError::internal(error)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let page = ErrorPage {
            demo: self.demo,
            status: self.status.as_u16(),
            title: self.title.clone(),
            message: self.message.clone(),
        };
        render_page(&mut html_response(self.status), &page)
    }
}
