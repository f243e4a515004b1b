//! Everyone's personal access tokens, for administrators. The JSON admin API:
//! `GET /admin/api/personal-access-tokens` lists them (all, or `?sub=` one person's), and
//! `DELETE /admin/api/personal-access-tokens/{id}` revokes one at once. The page
//! `/admin/personal-access-tokens` shows the same list with a revoke button for each live
//! token. Listings carry what a token is and where it was last used, never its hash.

use crate::http::csrf::set_csrf_cookie;
use std::collections::BTreeMap;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{AdminApiWrite, AdminSession};
use super::api_error::ApiError;
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::authorization::people::find_person;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::token_pages::{AdminTokenRow, AdminTokensPage, TokenRow};
use crate::tokens::personal_access_token::{
    list_personal_access_tokens, revoke_personal_access_token, PatRevocation, PersonalAccessToken,
};

#[derive(Debug, Deserialize)]
pub struct TokenListQuery {
    /// One person's tokens only.
    sub: Option<String>,
}

/// A token as the API shows it.
fn token_json(token: &PersonalAccessToken, now: i64) -> Value {
    json!({
        "id": token.id,
        "sub": token.user_id,
        "name": token.name,
        "scopes": token.scopes,
        "allowed_ips": token.allowed_ips.to_strings(),
        "status": token.status(now).as_str(),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "last_used_ip": token.last_used_ip,
        "revoked_at": token.revoked_at,
    })
}

fn no_store(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body)
}

/// `GET /admin/api/personal-access-tokens[?sub=SUB]`.
pub async fn get_personal_access_tokens_api(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<TokenListQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let owner = query.sub.as_deref().filter(|sub| !sub.is_empty());
    let tokens: Vec<Value> = list_personal_access_tokens(&state.db, owner)
        .await?
        .iter()
        .map(|token| token_json(token, now))
        .collect();
    Ok(no_store(StatusCode::OK, json!({ "personal_access_tokens": tokens })))
}

/// `DELETE /admin/api/personal-access-tokens/{id}`: revokes anyone's token. Revoking a
/// revoked token changes nothing and answers the same.
pub async fn delete_personal_access_token_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let AdminApiWrite(admin) = admin;
    let now = state.now();
    let token = match revoke_as_administrator(&state, &admin, &id).await? {
        PatRevocation::Revoked(token) | PatRevocation::AlreadyRevoked(token) => token,
        PatRevocation::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "there is no personal access token with this id",
            ))
        }
    };
    Ok(no_store(
        StatusCode::OK,
        json!({ "personal_access_token": token_json(&token, now) }),
    ))
}

/// Revokes anyone's token; a revocation that changed something is audited as the
/// administrator's.
async fn revoke_as_administrator(
    state: &AppState,
    admin: &AdminSession,
    id: &str,
) -> Result<PatRevocation, sea_orm::DbErr> {
    let now = state.now();
    let outcome = revoke_personal_access_token(&state.db, id, None, now).await?;
    if let PatRevocation::Revoked(token) = &outcome {
        tracing::info!(admin = %admin.username, token_id = %token.id, sub = %token.user_id, "personal access token revoked by an administrator");
        state.audit.record(
            AuditEvent::PersonalAccessTokenRevoked {
                sub: token.user_id.clone(),
                token_id: token.id.clone(),
                by: admin.sub.clone(),
            },
            now,
        );
    }
    Ok(outcome)
}

/// The page, with `notice` or `error` above the list.
async fn tokens_page(
    state: &AppState,
    req: &HttpRequest,
    admin: &AdminSession,
    filter_sub: Option<String>,
    status: StatusCode,
    message: (Option<String>, Option<String>),
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let tokens = list_personal_access_tokens(&state.db, filter_sub.as_deref()).await?;
    let mut owners: BTreeMap<String, Option<String>> = BTreeMap::new();
    for token in &tokens {
        if !owners.contains_key(&token.user_id) {
            let person = find_person(&state.db, &token.user_id).await?;
            owners.insert(token.user_id.clone(), person.map(|p| p.claims.username));
        }
    }
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = AdminTokensPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: admin.username.clone(),
        tokens: tokens
            .iter()
            .map(|token| AdminTokenRow {
                sub: token.user_id.clone(),
                owner: owners.get(&token.user_id).cloned().flatten(),
                token: TokenRow::from_token(token, now),
            })
            .collect(),
        filter_sub,
        notice: message.0,
        error: message.1,
    };
    let mut builder = html_response(status);
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

/// `GET /admin/personal-access-tokens[?sub=SUB]`.
pub async fn get_personal_access_tokens_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    query: web::Query<TokenListQuery>,
) -> Result<HttpResponse, PageError> {
    let filter = query.into_inner().sub.filter(|sub| !sub.is_empty());
    tokens_page(&state, &req, &admin, filter, StatusCode::OK, (None, None)).await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /admin/personal-access-tokens/{id}/revoke`.
pub async fn post_revoke_personal_access_token_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, PageError> {
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let expired = Some("This form had expired. Please try again.".to_string());
        return tokens_page(&state, &req, &admin, None, StatusCode::BAD_REQUEST, (None, expired)).await;
    }
    let (status, message) = match revoke_as_administrator(&state, &admin, &id).await? {
        PatRevocation::Revoked(token) => (
            StatusCode::OK,
            (
                Some(format!("The token \u{201c}{}\u{201d} was revoked.", token.name)),
                None,
            ),
        ),
        PatRevocation::AlreadyRevoked(token) => (
            StatusCode::OK,
            (
                Some(format!("The token \u{201c}{}\u{201d} was already revoked.", token.name)),
                None,
            ),
        ),
        PatRevocation::NotFound => (
            StatusCode::NOT_FOUND,
            (
                None,
                Some("There is no personal access token with this id.".to_string()),
            ),
        ),
    };
    tokens_page(&state, &req, &admin, None, status, message).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/admin/personal-access-tokens",
        web::get().to(get_personal_access_tokens_page),
    )
    .route(
        "/admin/personal-access-tokens/{id}/revoke",
        web::post().to(post_revoke_personal_access_token_page),
    )
    .route(
        "/admin/api/personal-access-tokens",
        web::get().to(get_personal_access_tokens_api),
    )
    .route(
        "/admin/api/personal-access-tokens/{id}",
        web::delete().to(delete_personal_access_token_api),
    );
}
