//! `/healthz` (the process answers) and `/readyz` (database and directory reachable, as
//! checked at most once every few seconds: see `readiness`).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::state::AppState;

pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({ "status": "ok" }))
}

pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.readiness.is_draining() {
        // Stopping: load balancers should send new requests elsewhere.
        return HttpResponse::ServiceUnavailable()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .json(json!({ "status": "stopping" }));
    }
    let readiness = state
        .readiness
        .current(&state.db, state.directory.as_ref(), state.clock.as_ref())
        .await;
    let reachable = |ok: bool| if ok { "ok" } else { "unreachable" };
    let body = json!({
        "status": if readiness.is_ready() { "ready" } else { "unavailable" },
        "database": reachable(readiness.database),
        "directory": reachable(readiness.directory),
    });
    let mut builder = if readiness.is_ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    builder
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body)
}
