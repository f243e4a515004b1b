//! The metrics of an instance, and the optional listener of `[metrics] listen` that serves
//! `/metrics` alone, off the public port.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use super::state::AppState;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::{Rule, LOGIN_FAILURES_RULE};
use crate::web::metrics_endpoint::get_metrics_own_listener;

/// A fresh registry for one instance, every rate-limit rule present from the start.
pub fn instance_metrics() -> Metrics {
    let metrics = Metrics::new(env!("CARGO_PKG_VERSION"));
    metrics.declare_rate_limit_rules(Rule::ALL.iter().map(|rule| rule.name()).chain([LOGIN_FAILURES_RULE]));
    metrics
}

/// The listener of `[metrics] listen`, when metrics are on and it is set.
pub fn bind_metrics_listener(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    match &config.metrics.listen {
        Some(address) if config.metrics.enabled => TcpListener::bind(address)
            .with_context(|| format!("while binding the metrics address {address}"))
            .map(Some),
        _ => Ok(None),
    }
}

/// A small server answering `/metrics` and nothing else (404) on `listener`.
pub fn serve_metrics(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(get_metrics_own_listener))
            .default_service(web::to(|| async { HttpResponse::NotFound().finish() }))
    })
    .workers(1)
    // Stopped by `run_until_stopped` once the public listener has drained.
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}
