//! A person's second factor, for administrators:
//! - `DELETE /admin/api/users/{sub}/totp`: removes it (for someone who lost both the
//!   authenticator and the recovery codes). The person sets up a new one at the next
//!   sign-in when policy requires it. Audited by the domain (`totp.reset` with the
//!   administrator as `by`).
//! - `POST /admin/api/users/{sub}/second-factor-setup-link`: a one-time link with which the
//!   person (an administrator, typically, who may not set up a first authenticator with
//!   the password alone) sets one up; answers `{"url", "expires_at"}` once, 409 when the
//!   person has a second factor (reset it first). Audited as `totp.setup_link_created`.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use serde_json::json;

use super::access::AdminApiWrite;
use super::api_error::ApiError;
use super::people::unknown_person;
use crate::app::state::AppState;
use crate::authorization::second_factor_enrolment::{issue_setup_link, setup_link_url, SetupLinkError};
use crate::mfa::{reset_totp, MfaError};

pub async fn delete_user_totp_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let AdminApiWrite(admin) = admin;
    let sub = path.into_inner();
    match reset_totp(&state.db, &sub, &admin.sub, &state.audit, state.now()).await {
        Ok(()) => Ok(HttpResponse::NoContent()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .finish()),
        Err(MfaError::NotEnrolled) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this person has no second factor",
        )),
        Err(error) => Err(ApiError::internal(error)),
    }
}

pub async fn post_user_setup_link_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let AdminApiWrite(admin) = admin;
    let sub = path.into_inner();
    let created =
        match issue_setup_link(&state.db, &sub, &admin.sub, &state.audit, state.now()).await {
            Ok(created) => created,
            Err(SetupLinkError::UnknownPerson) => return Err(unknown_person()),
            Err(SetupLinkError::AlreadyEnrolled) => return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "this person has a second factor; reset it first (DELETE /admin/api/users/{sub}/totp) if they lost it",
            )),
            Err(SetupLinkError::Mfa(error)) => return Err(ApiError::internal(error)),
        };
    Ok(HttpResponse::Created()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({
            "sub": sub,
            "url": setup_link_url(state.issuer(), &created.token),
            "expires_at": created.link.expires_at,
            "replaced": created.replaced,
        })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/api/users/{sub}/totp", web::delete().to(delete_user_totp_api))
        .route(
            "/admin/api/users/{sub}/second-factor-setup-link",
            web::post().to(post_user_setup_link_api),
        );
}
