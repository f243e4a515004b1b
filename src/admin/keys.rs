//! The signing keys, for administrators. The page `/admin/keys` lists them (algorithm,
//! state and dates, never private material) with "Rotate now" (`POST /admin/keys/rotate`)
//! and a "Revoke" button per key (`POST /admin/keys/{kid}/revoke`), CSRF-protected forms.
//! The JSON admin API does the same: `GET /admin/api/keys`, `POST /admin/api/keys/rotate`
//! (every enabled algorithm) and `POST /admin/api/keys/{kid}/revoke`. Changes reload this instance's ring
//! at once; the other instances follow within `keys.reload_interval`.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::access::{AdminApiWrite, AdminSession};
use super::api_error::ApiError;
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::http::keys_page::{format_period, KeyRow, KeysPage};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::format_time;
use crate::keys::{
    list_signing_keys, revoke_signing_key, rotate_signing_keys_now, KeyError, KeyStatus, RevokeOutcome,
    RotationOutcome, RotationPolicy, SigningKeySummary,
};

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::UnknownKid(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            KeyError::RotationConflict => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// The listing every answer carries: the stored keys (each with its algorithm, and whether
/// it signs for that algorithm), and the schedule.
async fn keys_document(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let signing = state.keys.signing_kids();
    let keys: Vec<serde_json::Value> = list_signing_keys(&state.db)
        .await?
        .into_iter()
        .map(|key: SigningKeySummary| {
            let mut value = json!(key);
            value["signing"] = json!(signing.contains(&key.kid));
            value
        })
        .collect();
    let settings = &state.config.keys;
    Ok(json!({
        "keys": keys,
        "algorithms": state.keys.algorithms(),
        "schedule": {
            "rotation_period": settings.rotation_period,
            "jwks_cache_seconds": settings.jwks_cache_seconds,
            "reload_interval": settings.reload_interval,
            "rsa_bits": settings.rsa_bits,
        },
    }))
}

/// Rotates every enabled algorithm now on behalf of `admin` (its `sub` and username), with
/// one audit event per key that took over. Shared by the API and the admin page.
pub(super) async fn rotate_keys_now(
    state: &AppState,
    admin_sub: &str,
    admin_username: &str,
) -> Result<RotationOutcome, KeyError> {
    let policy = RotationPolicy::from_config(&state.config);
    let outcome = rotate_signing_keys_now(&state.db, &state.master_key, &state.keys, state.now(), &policy).await?;
    tracing::info!(admin = %admin_username, promoted = ?outcome.promoted(), "signing keys rotated by an administrator");
    for promoted in outcome.promoted() {
        state.audit.record(
            AuditEvent::SigningKeysRotated {
                actor: admin_sub.to_string(),
                new_kid: Some(promoted),
            },
            state.now(),
        );
    }
    Ok(outcome)
}

/// Revokes `kid` (any algorithm) on behalf of `admin`, audited. Shared by the API and the
/// admin page.
pub(super) async fn revoke_key(
    state: &AppState,
    admin_sub: &str,
    admin_username: &str,
    kid: &str,
) -> Result<RevokeOutcome, KeyError> {
    let policy = RotationPolicy::from_config(&state.config);
    let outcome = revoke_signing_key(&state.db, &state.master_key, &state.keys, kid, state.now(), &policy).await?;
    tracing::warn!(admin = %admin_username, kid = %kid, algorithm = %outcome.algorithm, "signing key revoked by an administrator");
    state.audit.record(
        AuditEvent::SigningKeyRevoked {
            actor: admin_sub.to_string(),
            kid: kid.to_string(),
        },
        state.now(),
    );
    Ok(outcome)
}

fn no_store(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body)
}

/// `GET /admin/api/keys`.
pub async fn get_keys_api(state: web::Data<AppState>, _admin: AdminSession) -> Result<HttpResponse, ApiError> {
    Ok(no_store(keys_document(&state).await?))
}

/// `POST /admin/api/keys/rotate`: rotates every enabled algorithm. `promoted`, `retired`
/// and `generated_next` list the kids of all algorithms; `rotations` has them per algorithm.
pub async fn post_rotate_api(state: web::Data<AppState>, admin: AdminApiWrite) -> Result<HttpResponse, ApiError> {
    let outcome = rotate_keys_now(&state, &admin.0.sub, &admin.0.username).await?;
    let mut body = keys_document(&state).await?;
    body["promoted"] = json!(outcome.promoted());
    body["retired"] = json!(outcome.retired());
    body["generated_next"] = json!(outcome.generated_next());
    body["rotations"] = outcome
        .algorithms
        .iter()
        .map(|step| {
            json!({
                "algorithm": step.algorithm,
                "promoted": step.promoted,
                "retired": step.retired,
                "generated_next": step.generated_next,
            })
        })
        .collect();
    Ok(no_store(body))
}

/// `POST /admin/api/keys/{kid}/revoke`.
pub async fn post_revoke_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    kid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let outcome = revoke_key(&state, &admin.0.sub, &admin.0.username, &kid).await?;
    let mut body = keys_document(&state).await?;
    body["revoked"] = json!(kid.as_str());
    body["algorithm"] = json!(outcome.algorithm);
    body["previous_status"] = json!(outcome.previous_status.as_str());
    body["promoted"] = json!(outcome.promoted);
    body["generated_next"] = json!(outcome.generated_next);
    Ok(no_store(body))
}

/// The page, with `notice` or `error` above the list.
async fn keys_page(
    state: &AppState,
    req: &HttpRequest,
    admin: &AdminSession,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let signing = state.keys.signing_kids();
    let keys = list_signing_keys(&state.db)
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|key| KeyRow {
            signing: signing.contains(&key.kid),
            kid: key.kid,
            algorithm: key.algorithm,
            status: key.status,
            created: format_time(key.created_at),
            activated: key.activated_at.map(format_time),
            retired: key.retired_at.map(format_time),
            revoked: key.revoked_at.map(format_time),
        })
        .collect();
    let algorithms: Vec<&str> = state.keys.algorithms().iter().map(|alg| alg.as_str()).collect();
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = KeysPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: admin.username.clone(),
        algorithms: algorithms.join(", "),
        rotation_period: format_period(state.config.keys.rotation_period),
        keys,
        notice,
        error,
    };
    let mut builder = html_response(status);
    builder.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

/// `GET /admin/keys`.
pub async fn get_keys_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
) -> Result<HttpResponse, PageError> {
    keys_page(&state, &req, &admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct KeysForm {
    #[serde(default)]
    csrf_token: String,
}

const EXPIRED_FORM: &str = "This form had expired. Please try again.";

/// A key error as the page shows it: the status and the words, or a 500 page.
fn page_failure(error: KeyError) -> Result<(StatusCode, String), PageError> {
    match error {
        KeyError::UnknownKid(_) => Ok((
            StatusCode::NOT_FOUND,
            "There is no signing key with this kid.".to_string(),
        )),
        KeyError::RotationConflict => Ok((
            StatusCode::CONFLICT,
            "Another instance changed the signing keys at the same moment. Look at the list and try again.".to_string(),
        )),
        other => Err(PageError::internal(other)),
    }
}

/// `POST /admin/keys/rotate`: every enabled algorithm's next key signs from now on.
pub async fn post_rotate_keys_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    form: web::Form<KeysForm>,
) -> Result<HttpResponse, PageError> {
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let expired = Some(EXPIRED_FORM.to_string());
        return keys_page(&state, &req, &admin, StatusCode::BAD_REQUEST, None, expired).await;
    }
    match rotate_keys_now(&state, &admin.sub, &admin.username).await {
        Ok(outcome) => {
            let rotated: Vec<String> = outcome
                .algorithms
                .iter()
                .filter_map(|step| {
                    step.promoted
                        .as_ref()
                        .map(|kid| format!("{} now signs with {kid}", step.algorithm))
                })
                .collect();
            let notice = format!("Rotated: {}.", rotated.join("; "));
            keys_page(&state, &req, &admin, StatusCode::OK, Some(notice), None).await
        }
        Err(error) => {
            let (status, message) = page_failure(error)?;
            keys_page(&state, &req, &admin, status, None, Some(message)).await
        }
    }
}

/// `POST /admin/keys/{kid}/revoke`.
pub async fn post_revoke_key_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    kid: web::Path<String>,
    form: web::Form<KeysForm>,
) -> Result<HttpResponse, PageError> {
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let expired = Some(EXPIRED_FORM.to_string());
        return keys_page(&state, &req, &admin, StatusCode::BAD_REQUEST, None, expired).await;
    }
    match revoke_key(&state, &admin.sub, &admin.username, &kid).await {
        Ok(outcome) => {
            let algorithm = outcome.algorithm;
            let mut notice = match outcome.previous_status {
                KeyStatus::Revoked => format!("The {algorithm} key {kid} was already revoked."),
                previous => format!("The {algorithm} key {kid} ({previous}) was revoked."),
            };
            if let Some(promoted) = &outcome.promoted {
                notice.push_str(&format!(" {algorithm} now signs with {promoted}."));
            }
            keys_page(&state, &req, &admin, StatusCode::OK, Some(notice), None).await
        }
        Err(error) => {
            let (status, message) = page_failure(error)?;
            keys_page(&state, &req, &admin, status, None, Some(message)).await
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/keys", web::get().to(get_keys_page))
        .route("/admin/keys/rotate", web::post().to(post_rotate_keys_page))
        .route("/admin/keys/{kid}/revoke", web::post().to(post_revoke_key_page))
        .route("/admin/api/keys", web::get().to(get_keys_api))
        .route("/admin/api/keys/rotate", web::post().to(post_rotate_api))
        .route("/admin/api/keys/{kid}/revoke", web::post().to(post_revoke_api));
}
