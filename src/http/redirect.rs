//! Redirect responses, never cached.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use actix_web::ResponseError;

use super::page_response::PageError;
use crate::authorization::complete_authorization::FlowOutcome;

fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .finish()
}

/// 302, the answer to a GET.
pub fn redirect_found(location: &str) -> HttpResponse {
    redirect(StatusCode::FOUND, location)
}

/// 303, the answer to a form POST: the browser follows with a GET.
pub fn redirect_see_other(location: &str) -> HttpResponse {
    redirect(StatusCode::SEE_OTHER, location)
}

/// Where the browser goes after a step of the authorization flow (a request finished
/// meanwhile gets the page saying so).
pub fn flow_redirect(issuer: &str, outcome: FlowOutcome, after_post: bool, demo: bool) -> HttpResponse {
    let location = match outcome {
        FlowOutcome::Redirect(location) => location,
        FlowOutcome::Login(pending) => format!("{issuer}/login?request={}", pending.id),
        FlowOutcome::Consent(pending) => format!("{issuer}/consent?request={}", pending.id),
        FlowOutcome::SecondFactor(pending) => format!("{issuer}/login/totp?request={}", pending.id),
        FlowOutcome::Finished => return PageError::expired_sign_in().in_demo(demo).error_response(),
    };
    if after_post {
        redirect_see_other(&location)
    } else {
        redirect_found(&location)
    }
}
