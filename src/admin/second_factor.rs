//! `DELETE /admin/api/users/{sub}/totp`: an administrator removes a person's second factor
//! (for someone who lost both the authenticator and the recovery codes). The person sets
//! up a new one at the next sign-in when policy requires it. Audited by the domain
//! (`totp.reset` with the administrator as `by`).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::access::AdminApiWrite;
use super::api_error::ApiError;
use crate::app::state::AppState;
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/api/users/{sub}/totp", web::delete().to(delete_user_totp_api));
}
