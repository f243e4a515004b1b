//! Counts and times every HTTP request by its route pattern (`/account/tokens/{id}/revoke`,
//! never the path with its id), method and status, into the instance's metrics. Requests
//! no route matched count under the route `unmatched`.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, Error};
use futures_util::future::LocalBoxFuture;

use crate::app::state::AppState;

/// The middleware: `App::new().wrap(RequestMetrics)`.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetrics;

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RequestMetricsMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestMetricsMiddleware {
            service: Rc::new(service),
        }))
    }
}

pub struct RequestMetricsMiddleware<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for RequestMetricsMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let metrics = req.app_data::<web::Data<AppState>>().map(|state| state.metrics.clone());
        let response = self.service.call(req);
        Box::pin(async move {
            let response = response.await?;
            if let Some(metrics) = metrics {
                let request = response.request();
                let route = request.match_pattern();
                metrics.observe_http_request(
                    route.as_deref().unwrap_or("unmatched"),
                    request.method().as_str(),
                    response.status().as_u16(),
                    started.elapsed(),
                );
            }
            Ok(response)
        })
    }
}
