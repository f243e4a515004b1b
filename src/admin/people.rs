//! What an administrator can see and end of a person's access:
//! - `GET /admin/api/users/{sub}/sessions`: the person's browser sessions (live ones, and
//!   ended or expired ones until housekeeping removes them);
//! - `POST /admin/api/users/{sub}/revoke-all`: ends every session, revokes every grant
//!   (so access and refresh tokens stop at once) and every personal access token; answers
//!   the counts. Audited as `user.everything_revoked` with the administrator as actor.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::access::{AdminApiWrite, AdminSession};
use super::api_error::ApiError;
use crate::app::state::AppState;
use crate::authorization::browser_session::{describe_user_agent, list_sessions};
use crate::authorization::people::find_person;
use crate::authorization::revoke_everything::revoke_everything_by_administrator;

pub(super) fn unknown_person() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no person with this sub has signed in to Gatehouse",
    )
}

async fn require_person(state: &AppState, sub: &str) -> Result<(), ApiError> {
    match find_person(&state.db, sub).await? {
        Some(_) => Ok(()),
        None => Err(unknown_person()),
    }
}

pub async fn get_user_sessions_api(
    state: web::Data<AppState>,
    _admin: AdminSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sub = path.into_inner();
    require_person(&state, &sub).await?;
    let now = state.now();
    let sessions: Vec<_> = list_sessions(&state.db, &sub, now, false)
        .await?
        .into_iter()
        .map(|session| {
            json!({
                "sid": session.sid,
                "active": session.is_live(now),
                "ip": session.ip,
                "user_agent": session.user_agent,
                "browser": describe_user_agent(session.user_agent.as_deref()),
                "amr": session.amr,
                "created_at": session.created_at,
                "last_seen_at": session.last_seen_at,
                "expires_at": session.expires_at,
                "ended_at": session.ended_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({ "sub": sub, "sessions": sessions })))
}

pub async fn post_user_revoke_all_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let AdminApiWrite(admin) = admin;
    let sub = path.into_inner();
    require_person(&state, &sub).await?;
    let now = state.now();
    let revoked = revoke_everything_by_administrator(&state.db, &state.audit, &sub, &admin.sub, now).await?;
    let sessions = revoked.sessions.len() as u64;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({
            "sub": sub,
            "sessions": sessions,
            "grants": revoked.grants,
            "personal_access_tokens": revoked.personal_access_tokens,
        })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/api/users/{sub}/sessions", web::get().to(get_user_sessions_api))
        .route(
            "/admin/api/users/{sub}/revoke-all",
            web::post().to(post_user_revoke_all_api),
        );
}
