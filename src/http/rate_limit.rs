//! The rate limits at the HTTP edge: a middleware wrapped around `/token`, `/introspect`,
//! `/revoke`, `/userinfo`, `/authorize`, `/login` and the second-factor pages (see
//! `app::routes`).
//!
//! Every response of those endpoints carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` (seconds until the window ends) for the bucket closest to its
//! limit. Over a limit the answer is 429 with `Retry-After`: a JSON OAuth error on the
//! protocol endpoints, a page a person understands on the browser endpoints
//! (`/authorize` and the sign-in pages).
//!
//! Buckets: per client address on every endpoint (an IPv6 address counts by its network,
//! `[rate_limits] ipv6_prefix_length`, see `RateLimiter::address_key`); per client on
//! `/token`, `/introspect` and `/revoke`. A request counts against a client only once that
//! client authenticated: client authentication marks the request
//! ([`mark_authenticated_client`]) and only a marked request is recorded, so nobody can
//! use up a client's budget with wrong credentials, malformed requests or anything else
//! answered before authentication. A client's exhausted budget is still enforced on every
//! request naming it (`client_id` from the Basic header or the form body), before the body
//! is handled. The sign-in pages count form submissions (POST) only; showing the form
//! (GET) counts nothing but still reports the headers. `/authorize` counts every request,
//! GET and POST: each one may store a pending authorization. CORS preflights (OPTIONS)
//! pass untouched.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;

use super::page_response::PageError;
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::config::MAX_CLIENT_ID_BYTES;
use crate::metrics::SignInOutcome;
use crate::ratelimit::{Admission, Quota, Rule};

pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The largest body read to find a `client_id` (the server accepts no larger form).
const BODY_PEEK_LIMIT: usize = 64 * 1024;

/// The endpoints with limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedEndpoint {
    Token,
    Introspect,
    Revoke,
    Userinfo,
    /// `/login`.
    Login,
    /// `/login/totp` and `/login/totp/enrol`.
    SecondFactor,
    /// `/authorize`, GET and POST.
    Authorize,
}

impl LimitedEndpoint {
    fn ip_rule(self) -> Rule {
        match self {
            LimitedEndpoint::Token => Rule::TokenPerIp,
            LimitedEndpoint::Introspect => Rule::IntrospectPerIp,
            LimitedEndpoint::Revoke => Rule::RevokePerIp,
            LimitedEndpoint::Userinfo => Rule::UserinfoPerIp,
            LimitedEndpoint::Login => Rule::LoginPerIp,
            LimitedEndpoint::SecondFactor => Rule::SecondFactorPerIp,
            LimitedEndpoint::Authorize => Rule::AuthorizePerIp,
        }
    }

    fn client_rule(self) -> Option<Rule> {
        match self {
            LimitedEndpoint::Token => Some(Rule::TokenPerClient),
            LimitedEndpoint::Introspect => Some(Rule::IntrospectPerClient),
            LimitedEndpoint::Revoke => Some(Rule::RevokePerClient),
            LimitedEndpoint::Userinfo
            | LimitedEndpoint::Login
            | LimitedEndpoint::SecondFactor
            | LimitedEndpoint::Authorize => None,
        }
    }

    /// Browser endpoints answer a 429 with a page.
    fn is_page(self) -> bool {
        matches!(
            self,
            LimitedEndpoint::Login | LimitedEndpoint::SecondFactor | LimitedEndpoint::Authorize
        )
    }

    /// Whether a request with `method` counts: the sign-in pages count submissions only.
    fn counts(self, method: &Method) -> bool {
        match self {
            LimitedEndpoint::Login | LimitedEndpoint::SecondFactor => method == Method::POST,
            _ => method != Method::OPTIONS,
        }
    }
}

/// The middleware for `endpoint`: `web::resource("/token").wrap(rate_limit(LimitedEndpoint::Token))`.
pub fn rate_limit(endpoint: LimitedEndpoint) -> RateLimit {
    RateLimit { endpoint }
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    endpoint: LimitedEndpoint,
}

impl<S, B> Transform<S, ServiceRequest> for RateLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RateLimitMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RateLimitMiddleware {
            service: Rc::new(service),
            endpoint: self.endpoint,
        }))
    }
}

pub struct RateLimitMiddleware<S> {
    service: Rc<S>,
    endpoint: LimitedEndpoint,
}

impl<S, B> Service<ServiceRequest> for RateLimitMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let endpoint = self.endpoint;
        Box::pin(async move { limit_request(service, endpoint, req).await })
    }
}

/// A bucket that applies to the request being handled.
struct Bucket {
    rule: Rule,
    key: String,
}

/// The client that authenticated a request, as client authentication marks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    pub client_id: String,
    /// A public client proves nothing but its id: its budget is kept per address too.
    pub public: bool,
}

/// Marks `req` as authenticated by `client_id`: from now on it counts against that
/// client's budget. Called by client authentication once the client is proven (secret
/// right, address allowed), and nowhere else.
pub fn mark_authenticated_client(req: &HttpRequest, client_id: &str, public: bool) {
    req.extensions_mut().insert(AuthenticatedClient {
        client_id: client_id.to_string(),
        public,
    });
}

fn authenticated_client(req: &HttpRequest) -> Option<AuthenticatedClient> {
    req.extensions().get::<AuthenticatedClient>().cloned()
}

/// The client bucket's key: the client id; for a public client (anyone can send its
/// `client_id`) the id *and* address, so a stranger can spend only their own share.
fn client_bucket_key(client_id: &str, public: bool, address_key: &str) -> String {
    if public {
        format!("{client_id} from {address_key}")
    } else {
        client_id.to_string()
    }
}

async fn limit_request<S, B>(
    service: Rc<S>,
    endpoint: LimitedEndpoint,
    mut req: ServiceRequest,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(state) = state.filter(|state| state.rate_limits.enabled()) else {
        return Ok(service.call(req).await?.map_into_left_body());
    };
    if req.method() == Method::OPTIONS {
        return Ok(service.call(req).await?.map_into_left_body());
    }
    let limiter = &state.rate_limits;
    let now = state.now();
    let counts = endpoint.counts(req.method());
    let ip = Bucket {
        rule: endpoint.ip_rule(),
        key: limiter.address_key(state.client_ip(req.request())),
    };

    // An address already over its limit is refused before its body is read.
    if counts {
        if let Some(Admission::Refused { quota, first_in_window }) = limiter.check(ip.rule, &ip.key, now) {
            return Ok(refuse(&state, endpoint, &ip, quota, first_in_window, req).map_into_right_body());
        }
    }

    let client = match endpoint.client_rule() {
        Some(rule) if counts => match presented_client_id(&mut req).await? {
            PresentedClient::Id(id) => registered_client(&state, &id, &ip.key)
                .await
                .map(|key| Bucket { rule, key }),
            PresentedClient::None => None,
            PresentedClient::BodyTooLarge => {
                return Ok(req.into_response(body_too_large()).map_into_right_body());
            }
        },
        _ => None,
    };
    let mut quota: Option<Quota> = None;
    if let Some(client) = &client {
        match limiter.check(client.rule, &client.key, now) {
            Some(Admission::Refused { quota, first_in_window }) => {
                return Ok(refuse(&state, endpoint, client, quota, first_in_window, req).map_into_right_body());
            }
            Some(Admission::Admitted(client_quota)) => quota = Some(client_quota),
            None => {}
        }
    }
    let ip_admission = if counts {
        limiter.acquire(ip.rule, &ip.key, now)
    } else {
        limiter.peek(ip.rule, &ip.key, now).map(Admission::Admitted)
    };
    match ip_admission {
        Some(Admission::Refused { quota, first_in_window }) => {
            return Ok(refuse(&state, endpoint, &ip, quota, first_in_window, req).map_into_right_body());
        }
        Some(Admission::Admitted(ip_quota)) => quota = Some(tighter(quota, ip_quota)),
        None => {}
    }

    let http_request = req.request().clone();
    let mut response = match service.call(req).await {
        Ok(response) => response.map_into_left_body(),
        Err(error) => ServiceResponse::from_err(error, http_request).map_into_right_body(),
    };
    // Only a request its client authenticated counts against the client.
    let proven = endpoint
        .client_rule()
        .filter(|_| counts)
        .zip(authenticated_client(response.request()));
    if let Some((rule, proven)) = proven {
        let key = client_bucket_key(&proven.client_id, proven.public, &ip.key);
        if let Some(client_quota) = limiter.record(rule, &key, now) {
            let ip_quota = limiter.peek(ip.rule, &ip.key, now);
            quota = Some(ip_quota.map_or(client_quota, |ip_quota| client_quota.tighter(ip_quota)));
        }
    }
    if let Some(quota) = quota {
        insert_quota_headers(response.headers_mut(), quota);
    }
    Ok(response)
}

fn tighter(current: Option<Quota>, other: Quota) -> Quota {
    current.map_or(other, |current| current.tighter(other))
}

/// The 429 answer, audited once per bucket and window.
fn refuse(
    state: &AppState,
    endpoint: LimitedEndpoint,
    bucket: &Bucket,
    quota: Quota,
    first_in_window: bool,
    req: ServiceRequest,
) -> ServiceResponse {
    state.metrics.rate_limited(bucket.rule.name());
    if matches!(endpoint, LimitedEndpoint::Login | LimitedEndpoint::SecondFactor) {
        // A refused submission of the password or code form: a sign-in attempt.
        state.metrics.sign_in(SignInOutcome::RateLimited);
    }
    if first_in_window {
        state.audit.record(
            AuditEvent::RateLimited {
                limit: bucket.rule.name(),
                key: bucket.key.clone(),
            },
            state.now(),
        );
    }
    let mut response = if endpoint.is_page() {
        too_many_attempts_page(quota.reset_after, state.config.demo)
    } else {
        too_many_requests_json(quota.reset_after)
    };
    insert_quota_headers(response.headers_mut(), quota);
    req.into_response(response)
}

fn insert_quota_headers(headers: &mut HeaderMap, quota: Quota) {
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(quota.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(quota.remaining));
    headers.insert(X_RATELIMIT_RESET, HeaderValue::from(quota.reset_after.max(1)));
}

/// 429 for a protocol endpoint. RFC 6749 has no error code for rate limits at the token
/// endpoint; `temporarily_unavailable` (its "try again later" code) says what a client
/// should do, and the status and `Retry-After` say when.
fn too_many_requests_json(retry_after: i64) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::RETRY_AFTER, retry_after.max(1)))
        .json(serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": format!("too many requests; try again in {} seconds", retry_after.max(1)),
        }))
}

/// 429 for a person: a page saying how long to wait, with `Retry-After`.
pub fn too_many_attempts_page(retry_after: i64, demo: bool) -> HttpResponse {
    let mut response = PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        format!(
            "Too many attempts, try again in {}. Waiting is the only way around this limit.",
            wait_in_words(retry_after)
        ),
    )
    .in_demo(demo)
    .error_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
    response
}

/// `45 seconds`, `1 minute`, `15 minutes`.
fn wait_in_words(seconds: i64) -> String {
    let seconds = seconds.max(1);
    if seconds < 120 {
        return format!("{seconds} second{}", if seconds == 1 { "" } else { "s" });
    }
    format!("{} minutes", (seconds + 59) / 60)
}

fn body_too_large() -> HttpResponse {
    HttpResponse::PayloadTooLarge()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": "the request body is too large",
        }))
}

enum PresentedClient {
    Id(String),
    None,
    BodyTooLarge,
}

/// The `client_id` a request names: from `Authorization: Basic`, else from a form body
/// (read here and handed on to the handler unchanged). Nothing is verified here.
async fn presented_client_id(req: &mut ServiceRequest) -> Result<PresentedClient, Error> {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(value) = authorization {
        return Ok(basic_client_id(value).map_or(PresentedClient::None, PresentedClient::Id));
    }
    if req.method() != Method::POST || !is_form(req.headers()) {
        return Ok(PresentedClient::None);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_PEEK_LIMIT) {
        return Ok(PresentedClient::BodyTooLarge);
    }
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > BODY_PEEK_LIMIT {
            return Ok(PresentedClient::BodyTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let body: Bytes = body.freeze();
    let client_id = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "client_id")
        .map(|(_, value)| value.into_owned());
    req.set_payload(Payload::from(body));
    Ok(client_id.map_or(PresentedClient::None, PresentedClient::Id))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The client id of `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1).
fn basic_client_id(value: &str) -> Option<String> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let id = decoded.split(|b| *b == b':').next()?;
    let pair = [b"x=", id].concat();
    let (_, id) = url::form_urlencoded::parse(&pair).next()?;
    Some(id.into_owned())
}

/// The bucket key of the registered client a request names (to enforce a budget already
/// spent); `None` for an id no client has (its request is going to be refused as
/// `invalid_client` anyway).
async fn registered_client(state: &AppState, client_id: &str, ip_key: &str) -> Option<String> {
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_BYTES {
        return None;
    }
    match state.clients.find(&state.db, client_id).await {
        Ok(Some(client)) => Some(client_bucket_key(&client.client_id, client.is_public(), ip_key)),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(error = %error, "could not look up a client for its rate limit");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_name_their_client() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s3cret:with:colons"));
        assert_eq!(basic_client_id(&header).as_deref(), Some("my app"));
        assert_eq!(basic_client_id("Bearer abc"), None);
        assert_eq!(basic_client_id("Basic !!!"), None);
    }

    #[test]
    fn pages_count_submissions_and_endpoints_everything_but_preflights() {
        assert!(LimitedEndpoint::Login.counts(&Method::POST));
        assert!(!LimitedEndpoint::Login.counts(&Method::GET));
        assert!(LimitedEndpoint::Userinfo.counts(&Method::GET));
        assert!(LimitedEndpoint::Authorize.counts(&Method::GET));
        assert!(LimitedEndpoint::Authorize.counts(&Method::POST));
        assert!(LimitedEndpoint::Authorize.is_page());
        assert!(!LimitedEndpoint::Token.counts(&Method::OPTIONS));
    }

    #[test]
    fn waits_are_said_in_words() {
        assert_eq!(wait_in_words(1), "1 second");
        assert_eq!(wait_in_words(45), "45 seconds");
        assert_eq!(wait_in_words(900), "15 minutes");
        assert_eq!(wait_in_words(0), "1 second");
    }
}
