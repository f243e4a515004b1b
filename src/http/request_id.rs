//! One tracing span per request, and its id. The id is the `X-Request-Id` a trusted proxy
//! sent (when it is well formed), else a new one; it is echoed in the response's
//! `X-Request-Id` and carried by every log line of the request, with the method and the
//! route (the matched pattern, never the query string). Handlers add the `client_id` and
//! the `sub` once they know them ([`note_client_id`], [`note_sub`]). The request's last
//! line (target `http`) gives its status and latency.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::field::Empty;
use tracing::Instrument;

use crate::config::{canonical_ip, IpAllowlist};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a proxy.
pub const MAX_REQUEST_ID_BYTES: usize = 128;
/// The longest `client_id` or `sub` written on a request's log lines.
const MAX_NOTED_BYTES: usize = 256;

/// A request id a proxy may hand on: 1 to 128 characters among letters, digits and
/// `-_.:+=/@` (what UUIDs, hex ids and the common tracing headers use), so that it cannot
/// break a log line or a header.
pub fn is_well_formed_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+=/@".contains(&b))
}

/// The request's id: the proxy's when the socket peer is a trusted proxy and the header
/// is well formed (one header only), else a new random one.
fn request_id(req: &ServiceRequest, trusted_proxies: &IpAllowlist) -> String {
    let from_trusted_proxy = req
        .peer_addr()
        .is_some_and(|peer| trusted_proxies.contains(canonical_ip(peer.ip())));
    if from_trusted_proxy {
        let mut sent = req.headers().get_all(REQUEST_ID_HEADER);
        if let (Some(value), None) = (sent.next(), sent.next()) {
            if let Some(id) = value.to_str().ok().filter(|id| is_well_formed_request_id(id)) {
                return id.to_string();
            }
        }
    }
    uuid::Uuid::new_v4().to_string()
}

/// The middleware (outermost, so that everything else runs inside the span).
pub async fn request_span(
    trusted_proxies: Arc<IpAllowlist>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req, &trusted_proxies);
    let route = req.match_pattern();
    // At error level, so that the span (and with it the request id) is there whatever
    // level the log is filtered at.
    let span = tracing::error_span!(
        "request",
        request_id = id.as_str(),
        method = req.method().as_str(),
        route = route.as_deref(),
        client_id = Empty,
        sub = Empty,
    );
    let path = req.path().to_string();
    async move {
        // Handlers' errors arrive here as responses already; an error from the middleware
        // chain itself (which no request of ours makes) passes through.
        let mut response = next.call(req).await?;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "http",
            path,
            status = response.status().as_u16(),
            latency_ms = (latency_ms * 1000.0).round() / 1000.0,
            "request finished"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Adds the client the request acts for to its log lines (once the client is known to
/// be registered: never what an unknown caller typed).
pub fn note_client_id(client_id: &str) {
    tracing::Span::current().record("client_id", bounded_for_log(client_id, MAX_NOTED_BYTES));
}

/// Adds the person the request acts for (their `sub`) to its log lines.
pub fn note_sub(sub: &str) {
    tracing::Span::current().record("sub", bounded_for_log(sub, MAX_NOTED_BYTES));
}

/// `text` cut to at most `max` bytes (at a character boundary), for a log line.
pub fn bounded_for_log(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken() {
        assert!(is_well_formed_request_id("3f2b8c1e-0d7a-4c55-9e61-2f1f0c3b9a10"));
        assert!(is_well_formed_request_id("Root=1-67891233-abcdef012345678912345678"));
        assert!(!is_well_formed_request_id(""));
        assert!(!is_well_formed_request_id(&"a".repeat(MAX_REQUEST_ID_BYTES + 1)));
        assert!(is_well_formed_request_id(&"a".repeat(MAX_REQUEST_ID_BYTES)));
        for bad in ["a b", "a\"b", "a\nb", "a;b", "é", "a{b}", "a\\b"] {
            assert!(!is_well_formed_request_id(bad), "{bad}");
        }
    }

    #[test]
    fn noted_values_are_bounded_at_a_character_boundary() {
        assert_eq!(bounded_for_log("app", MAX_NOTED_BYTES), "app");
        let long = "é".repeat(200);
        let cut = bounded_for_log(&long, MAX_NOTED_BYTES);
        assert!(cut.len() <= MAX_NOTED_BYTES && long.starts_with(cut));
    }
}
