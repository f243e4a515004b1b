//! The plain-http listener of `[tls] redirect_listen`: every request, whatever its path or
//! method, gets a permanent redirect to the same path and query on the issuer's https
//! origin. No route of the application answers there.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

/// `https://host[:port]`: where the redirects point (from the issuer, never from the
/// request's `Host` header, so the listener cannot be made to send people elsewhere).
#[derive(Debug, Clone)]
pub struct HttpsOrigin(pub String);

/// 301 for GET and HEAD, what browsers and crawlers expect of a permanent move; 308 for
/// every other method, so a client that POSTs keeps its method and body instead of
/// silently turning into a GET (301's historical behaviour) and failing oddly.
pub async fn redirect_to_https(req: HttpRequest, origin: web::Data<HttpsOrigin>) -> HttpResponse {
    let method = req.method();
    let status = if method == Method::GET || method == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        // Whatever this request carried (a form, client credentials) has crossed the
        // network in the clear; the client should be configured with the https address.
        tracing::warn!(
            target: "http",
            %method,
            path = req.path(),
            "a request with a body reached the plain-http listener; it is redirected, but what it carried was sent unencrypted"
        );
        StatusCode::PERMANENT_REDIRECT
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|pq| pq.starts_with('/'))
        .unwrap_or("/");
    HttpResponse::build(status)
        .insert_header((header::LOCATION, format!("{}{path_and_query}", origin.0)))
        .finish()
}
