//! The signing keys in the JSON admin API: `GET /admin/api/keys` lists them (states and
//! dates, never private material), `POST /admin/api/keys/rotate` rotates now, and
//! `POST /admin/api/keys/{kid}/revoke` revokes a key. Changes reload this instance's ring
//! at once; the other instances follow within `keys.reload_interval`.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::access::{AdminApiWrite, AdminSession};
use super::api_error::ApiError;
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::keys::{
    list_signing_keys, revoke_signing_key, rotate_signing_keys_now, KeyError, RotationPolicy, SigningKeySummary,
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

/// The listing every answer carries: the stored keys, which one signs, and the schedule.
async fn keys_document(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let signing = state.keys.signer().kid().to_string();
    let keys: Vec<serde_json::Value> = list_signing_keys(&state.db)
        .await?
        .into_iter()
        .map(|key: SigningKeySummary| {
            let mut value = json!(key);
            value["signing"] = json!(key.kid == signing);
            value
        })
        .collect();
    let settings = &state.config.keys;
    Ok(json!({
        "keys": keys,
        "schedule": {
            "rotation_period": settings.rotation_period,
            "jwks_cache_seconds": settings.jwks_cache_seconds,
            "reload_interval": settings.reload_interval,
            "rsa_bits": settings.rsa_bits,
        },
    }))
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

/// `POST /admin/api/keys/rotate`.
pub async fn post_rotate_api(state: web::Data<AppState>, admin: AdminApiWrite) -> Result<HttpResponse, ApiError> {
    let policy = RotationPolicy::from_config(&state.config);
    let outcome = rotate_signing_keys_now(&state.db, &state.master_key, &state.keys, state.now(), &policy).await?;
    tracing::info!(admin = %admin.0.username, promoted = ?outcome.promoted, "signing key rotated through the admin API");
    state.audit.record(
        AuditEvent::SigningKeysRotated {
            actor: admin.0.sub.clone(),
            new_kid: outcome.promoted.clone(),
        },
        state.now(),
    );
    let mut body = keys_document(&state).await?;
    body["promoted"] = json!(outcome.promoted);
    body["retired"] = json!(outcome.retired);
    body["generated_next"] = json!(outcome.generated_next);
    Ok(no_store(body))
}

/// `POST /admin/api/keys/{kid}/revoke`.
pub async fn post_revoke_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    kid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let policy = RotationPolicy::from_config(&state.config);
    let outcome = revoke_signing_key(&state.db, &state.master_key, &state.keys, &kid, state.now(), &policy).await?;
    tracing::warn!(admin = %admin.0.username, kid = %kid, "signing key revoked through the admin API");
    state.audit.record(
        AuditEvent::SigningKeyRevoked {
            actor: admin.0.sub.clone(),
            kid: kid.to_string(),
        },
        state.now(),
    );
    let mut body = keys_document(&state).await?;
    body["revoked"] = json!(kid.as_str());
    body["previous_status"] = json!(outcome.previous_status.as_str());
    body["promoted"] = json!(outcome.promoted);
    body["generated_next"] = json!(outcome.generated_next);
    Ok(no_store(body))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/api/keys", web::get().to(get_keys_api))
        .route("/admin/api/keys/rotate", web::post().to(post_rotate_api))
        .route("/admin/api/keys/{kid}/revoke", web::post().to(post_revoke_api));
}
