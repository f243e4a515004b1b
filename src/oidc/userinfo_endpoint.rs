//! `GET/POST /userinfo` (OpenID Connect Core 5.3) with bearer tokens per RFC 6750: in the
//! Authorization header, or (POST) in a form body; errors as `WWW-Authenticate: Bearer`.
//!
//! The bearer token is an access token (a JWT) or a personal access token
//! (`gatehouse_pat_...`): the claims answered follow the token's scopes either way, and a
//! personal access token needs the `openid` scope like an access token does.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::Value;

use super::form_body::{is_form_body, parse_form};
use crate::app::state::AppState;
use crate::authorization::people::recheck_and_find_person;
use crate::authorization::released_claims::scoped_claims;
use crate::authorization::scopes::ScopeSet;
use crate::http::request_id::note_sub;
use crate::tokens::access_token::validate_access_token;
use crate::tokens::personal_access_token::{authenticate_personal_access_token, PatError, PAT_PREFIX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No credentials at all: a bare challenge (RFC 6750 section 3.1).
    Missing,
    InvalidRequest(&'static str),
    InvalidToken(&'static str),
    InsufficientScope(&'static str),
    Internal,
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            BearerError::Missing | BearerError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            BearerError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            BearerError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            BearerError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let challenge = match self {
            BearerError::Missing | BearerError::Internal => "Bearer realm=\"gatehouse\"".to_string(),
            BearerError::InvalidRequest(d) => {
                format!("Bearer realm=\"gatehouse\", error=\"invalid_request\", error_description=\"{d}\"")
            }
            BearerError::InvalidToken(d) => {
                format!("Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{d}\"")
            }
            BearerError::InsufficientScope(d) => {
                format!("Bearer realm=\"gatehouse\", error=\"insufficient_scope\", error_description=\"{d}\", scope=\"openid\"")
            }
        };
        if let BearerError::Missing = self {
            // RFC 6750 section 3: a request without authentication gets the challenge and
            // no error code.
            return HttpResponse::build(self.status_code())
                .insert_header((header::WWW_AUTHENTICATE, challenge))
                .insert_header(CacheControl(vec![CacheDirective::NoStore]))
                .finish();
        }
        let (error, description) = match self {
            BearerError::Missing => ("invalid_request", "an access token is required"),
            BearerError::InvalidRequest(d) => ("invalid_request", *d),
            BearerError::InvalidToken(d) => ("invalid_token", *d),
            BearerError::InsufficientScope(d) => ("insufficient_scope", *d),
            BearerError::Internal => ("server_error", "the server could not complete the request"),
        };
        HttpResponse::build(self.status_code())
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .json(serde_json::json!({ "error": error, "error_description": description }))
    }
}

/// The bearer token of the request: header, or form body on POST; both at once is an error.
fn bearer_token(req: &HttpRequest, body: &[u8]) -> Result<String, BearerError> {
    let from_header = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?;
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                // Another scheme (Basic from a proxy, say) is no bearer token: RFC 6750
                // section 3 treats it as a request without authentication information.
                None
            } else if token.trim().is_empty() {
                return Err(BearerError::InvalidRequest("the Bearer scheme needs a token"));
            } else {
                Some(token.trim().to_string())
            }
        }
    };
    let from_body = if req.method() == actix_web::http::Method::POST && is_form_body(req) {
        let params = parse_form(body);
        if params.size_problem().is_some() {
            return Err(BearerError::InvalidRequest(
                "the request has a parameter over its limit, or too many parameters",
            ));
        }
        if params.is_duplicated("access_token") {
            return Err(BearerError::InvalidRequest("access_token is repeated"));
        }
        params.get("access_token").map(str::to_string)
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest("send the access token one way only")),
        (Some(token), None) | (None, Some(token)) => Ok(token),
        (None, None) => Err(BearerError::Missing),
    }
}

pub async fn userinfo(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    let token = bearer_token(&req, &body)?;
    let (sub, scope) = if token.starts_with(PAT_PREFIX) {
        personal_access_token_subject(&state, &req, &token).await?
    } else {
        access_token_subject(&state, &token).await?
    };
    note_sub(&sub);
    if !scope.contains("openid") {
        return Err(BearerError::InsufficientScope(
            "the token was not issued for OpenID Connect",
        ));
    }
    // The person behind the token is re-checked in the directory like a signed-in person
    // (a token outlives a session): someone removed, disabled or locked there gets nothing,
    // and everything of theirs ends.
    let person = recheck_and_find_person(&state.person_checks(), &sub)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "userinfo lookup failed");
            BearerError::Internal
        })?
        .ok_or(BearerError::InvalidToken(
            "the person this token was issued for is no longer active",
        ))?;
    let mut body = scoped_claims(&person.claims, &scope, state.directory.settings().email_verified);
    body.insert("sub".into(), Value::String(sub));
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(Value::Object(body)))
}

/// The `sub` and scopes of a valid access token (JWT).
async fn access_token_subject(state: &AppState, token: &str) -> Result<(String, ScopeSet), BearerError> {
    let claims = validate_access_token(&state.keys, &state.db, token, state.issuer(), state.now())
        .await
        .map_err(|error| match error {
            crate::tokens::TokenError::Database(e) => {
                tracing::error!(error = %e, "userinfo lookup failed");
                BearerError::Internal
            }
            crate::tokens::TokenError::Revoked => BearerError::InvalidToken("the access token has been revoked"),
            _ => BearerError::InvalidToken("the access token is invalid or expired"),
        })?;
    if claims.gid.is_none() {
        // A client_credentials token: the client acting as itself, nobody's claims.
        return Err(BearerError::InvalidToken(
            "the access token was not issued for a person",
        ));
    }
    Ok((claims.sub, ScopeSet::parse(&claims.scope)))
}

/// The owner and scopes of a live personal access token used from an allowed address.
async fn personal_access_token_subject(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<(String, ScopeSet), BearerError> {
    let now = state.now();
    let pat = authenticate_personal_access_token(&state.db, &state.audit, token, state.client_ip(req), now)
        .await
        .map_err(|error| match error {
            PatError::Database(e) => {
                tracing::error!(error = %e, "userinfo lookup failed");
                BearerError::Internal
            }
            // The same answer either way: a stolen token must not tell which it is.
            PatError::AddressNotAllowed { .. } | PatError::Invalid => BearerError::InvalidToken(
                "the personal access token is invalid, expired, revoked or not allowed from this address",
            ),
        })?;
    Ok((pat.user_id, ScopeSet::parse(&pat.scopes.join(" "))))
}
