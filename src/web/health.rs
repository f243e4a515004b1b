//! `/healthz` (the process answers) and `/readyz` (database and directory reachable).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::state::AppState;
use crate::directory::Directory;
use crate::storage::ping;

pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({ "status": "ok" }))
}

pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = ping(&state.db).await;
    let directory = state.directory.check_health().await;
    if let Err(error) = &database {
        tracing::warn!(error = %error, "readiness: database unreachable");
    }
    if let Err(error) = &directory {
        tracing::warn!(error = %error, "readiness: directory unreachable");
    }
    let body = json!({
        "status": if database.is_ok() && directory.is_ok() { "ready" } else { "unavailable" },
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "directory": if directory.is_ok() { "ok" } else { "unreachable" },
    });
    let mut builder = if database.is_ok() && directory.is_ok() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    builder
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body)
}
