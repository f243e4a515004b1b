//! `GET /metrics`: the Prometheus exposition of this instance's metrics, to the networks of
//! `[metrics] allow_from` only. On the public port unless `[metrics] listen` gives it an
//! address of its own (then the public port answers 404 here).

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::app::state::AppState;
use crate::directory::Directory;
use crate::http::page_response::PageError;
use crate::metrics::{ExpositionFormat, ScrapeSample, SigningKeySample};
use crate::storage::pool_stats;

/// `/metrics` on the public port.
pub async fn get_metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let metrics = &state.config.metrics;
    if !metrics.enabled || metrics.listen.is_some() {
        return PageError::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )
        .in_demo(state.config.demo)
        .error_response();
    }
    scrape(&state, &req)
}

/// `/metrics` on the `[metrics] listen` address.
pub async fn get_metrics_own_listener(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    scrape(&state, &req)
}

fn scrape(state: &AppState, req: &HttpRequest) -> HttpResponse {
    let allowed = state
        .client_ip(req)
        .is_some_and(|ip| state.config.metrics.allowed_scrapers().contains(ip));
    if !allowed {
        return HttpResponse::Forbidden()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .content_type("text/plain; charset=utf-8")
            .body("metrics may only be scraped from the networks of [metrics] allow_from\n");
    }
    let format = ExpositionFormat::for_accept(req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    match state.metrics.scrape(&scrape_sample(state), format) {
        Ok(body) => HttpResponse::Ok()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .content_type(format.content_type())
            .body(body),
        Err(error) => {
            tracing::error!(error = %error, "could not encode the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The state values of this moment: directory servers, database pool, signing keys.
fn scrape_sample(state: &AppState) -> ScrapeSample {
    let now = state.now();
    let rotation_period = state.config.keys.rotation_period;
    let signing_keys = state
        .keys
        .list()
        .into_iter()
        .filter(|key| key.signing)
        .map(|key| {
            let since = key.activated_at.unwrap_or(key.created_at);
            SigningKeySample {
                algorithm: key.algorithm.as_str(),
                age: now - since,
                next_rotation_in: since + rotation_period - now,
            }
        })
        .collect();
    ScrapeSample {
        ldap_servers: state.directory.server_samples(),
        database_pool: pool_stats(&state.db),
        signing_keys,
    }
}
