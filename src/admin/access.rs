//! Who may administer Gatehouse: a person with a live browser session whose directory
//! groups (as recorded at their last sign-in, re-checked with the directory like every
//! session) include one of the administrator groups.
//!
//! [`AdminSession`] is the extractor every admin handler takes. Pages answer a redirect to
//! `/login` when nobody is signed in and a 403 page when the person is no administrator;
//! the JSON API under `/admin/api` answers 401 and 403 as JSON. [`AdminApiWrite`] adds the
//! CSRF check that changes through the API need: the `X-CSRF-Token` header must carry
//! the browser's CSRF token (from `GET /admin/api/session`).
//!
//! Scripts call the JSON API with a personal access token instead of the cookie:
//! `Authorization: Bearer gatehouse_pat_...`, with the `admin` scope, owned by someone who
//! is an administrator now (their stored groups, re-checked with the directory). No cookie
//! is involved, so such changes need no CSRF header. Any `Bearer` credential at the API
//! takes this path: a bad, expired, revoked or misplaced one answers 401 `invalid_token`.

use crate::http::csrf::set_csrf_cookie;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::api_error::ApiError;
use crate::app::state::AppState;
use crate::authorization::people::{find_person, recheck_and_find_person, Person};
use crate::authorization::second_factor::has_second_factor;
use crate::http::admin_pages::AdminIndexPage;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::redirect::redirect_see_other;
use crate::tokens::personal_access_token::{authenticate_personal_access_token, PatError, ADMIN_SCOPE};

/// The header that carries the CSRF token on API changes.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
const API_PREFIX: &str = "/admin/api";
const INVALID_TOKEN_DESCRIPTION: &str =
    "the personal access token is invalid, expired, revoked or not allowed from this address";
const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"gatehouse\", error=\"invalid_token\"";
const INSUFFICIENT_SCOPE_DESCRIPTION: &str = "the personal access token lacks the admin scope";
const INSUFFICIENT_SCOPE_CHALLENGE: &str = "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"admin\"";

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The person's `sub`.
    pub sub: String,
    pub username: String,
    pub name: Option<String>,
    /// The administrator groups the person is a member of.
    pub admin_groups: Vec<String>,
    /// The personal access token the request came with (its id), when not a browser session.
    pub via_token: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRefusal {
    SignInNeeded,
    /// An administrator signed in with the password only: administration needs the second
    /// factor too.
    SecondFactorNeeded,
    NotAdministrator,
    BadCsrfToken,
    /// A bearer credential that is not a live personal access token allowed from here.
    InvalidToken,
    /// A personal access token without the `admin` scope.
    InsufficientScope,
    /// Something failed on the way (already logged).
    Failed,
}

/// A refusal, answered in the surface's own format.
#[derive(Debug, Clone)]
pub struct AdminAccessError {
    pub refusal: AdminRefusal,
    /// Whether the request went to the JSON API.
    pub api: bool,
    pub demo: bool,
    /// The page to come back to after signing in.
    pub return_to: String,
}

impl std::fmt::Display for AdminAccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "admin access refused: {:?}", self.refusal)
    }
}

impl ResponseError for AdminAccessError {
    fn status_code(&self) -> StatusCode {
        match (&self.refusal, self.api) {
            (AdminRefusal::SignInNeeded | AdminRefusal::SecondFactorNeeded | AdminRefusal::InvalidToken, true) => {
                StatusCode::UNAUTHORIZED
            }
            (AdminRefusal::InvalidToken, false) => StatusCode::UNAUTHORIZED,
            (AdminRefusal::InsufficientScope, _) => StatusCode::FORBIDDEN,
            (AdminRefusal::SignInNeeded | AdminRefusal::SecondFactorNeeded, false) => StatusCode::SEE_OTHER,
            (AdminRefusal::NotAdministrator | AdminRefusal::BadCsrfToken, _) => StatusCode::FORBIDDEN,
            (AdminRefusal::Failed, _) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.api {
            let error = match self.refusal {
                AdminRefusal::SignInNeeded => ApiError::unauthorized(),
                AdminRefusal::SecondFactorNeeded => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "insufficient_user_authentication",
                    "administration needs a session signed in with the second factor",
                ),
                AdminRefusal::NotAdministrator => ApiError::forbidden(),
                AdminRefusal::BadCsrfToken => ApiError::bad_csrf(),
                AdminRefusal::InvalidToken => {
                    let error = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", INVALID_TOKEN_DESCRIPTION);
                    return bearer_challenge(error, INVALID_TOKEN_CHALLENGE);
                }
                AdminRefusal::InsufficientScope => {
                    let error = ApiError::new(
                        StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        INSUFFICIENT_SCOPE_DESCRIPTION,
                    );
                    return bearer_challenge(error, INSUFFICIENT_SCOPE_CHALLENGE);
                }
                AdminRefusal::Failed => ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Gatehouse could not complete this request",
                ),
            };
            return error.error_response();
        }
        let page = match self.refusal {
            AdminRefusal::SignInNeeded | AdminRefusal::SecondFactorNeeded => {
                let next: String = url::form_urlencoded::byte_serialize(self.return_to.as_bytes()).collect();
                return redirect_see_other(&format!("/login?next={next}"));
            }
            AdminRefusal::NotAdministrator => PageError::new(
                StatusCode::FORBIDDEN,
                "Administrators only",
                "You are signed in, but you are not a member of a group that administers Gatehouse.",
            ),
            AdminRefusal::BadCsrfToken => PageError::new(
                StatusCode::FORBIDDEN,
                "The form had expired",
                "Please reload the page and try again.",
            ),
            AdminRefusal::InvalidToken | AdminRefusal::InsufficientScope => PageError::new(
                self.status_code(),
                "Not accepted here",
                "Personal access tokens work with the JSON API under /admin/api only.",
            ),
            AdminRefusal::Failed => PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Gatehouse could not complete this request. Please try again in a moment.",
            ),
        };
        page.in_demo(self.demo).error_response()
    }
}

/// An API error answered with a `WWW-Authenticate` challenge (RFC 6750 section 3).
fn bearer_challenge(error: ApiError, challenge: &'static str) -> HttpResponse {
    let mut response = error.error_response();
    response.headers_mut().insert(
        actix_web::http::header::WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static(challenge),
    );
    response
}

fn app_state(req: &HttpRequest) -> Option<web::Data<AppState>> {
    req.app_data::<web::Data<AppState>>().cloned()
}

/// The credential of an `Authorization: Bearer ...` header (`Some("")` when it is empty;
/// other schemes are not ours to judge and count as none).
fn bearer_credential(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim().to_string())
}

fn failed(error: &dyn std::fmt::Display) -> AdminRefusal {
    tracing::error!(error = %error, "could not check administrator access");
    AdminRefusal::Failed
}

/// The stored person and the administrator groups that admit them (as of their last
/// sign-in, re-checked with the directory like every session); `unknown` when the person
/// has no record, `NotAdministrator` when no group admits them.
async fn administrator(
    state: &AppState,
    req: &HttpRequest,
    user_id: &str,
    unknown: AdminRefusal,
) -> Result<(Person, Vec<String>), AdminRefusal> {
    let person = find_person(&state.db, user_id)
        .await
        .map_err(|e| failed(&e))?
        .ok_or(unknown)?;
    administrator_groups_of(state, req, person).await
}

/// The administrator groups that admit `person`; `NotAdministrator` when none does.
async fn administrator_groups_of(
    state: &AppState,
    req: &HttpRequest,
    person: Person,
) -> Result<(Person, Vec<String>), AdminRefusal> {
    let admin = state.admin_groups().await.map_err(|e| failed(&e))?;
    let via = admin.memberships(&person.claims.groups, &person.claims.group_dns);
    if via.is_empty() {
        tracing::info!(sub = %person.id, path = %req.path(), "admin access refused: not in an administrator group");
        return Err(AdminRefusal::NotAdministrator);
    }
    Ok((person, via))
}

/// Decides whether a personal access token speaks for an administrator: a live token,
/// allowed from this address, with the `admin` scope, whose owner is still in the directory
/// and in an administrator group now.
async fn admin_for_personal_access_token(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<AdminSession, AdminRefusal> {
    let now = state.now();
    let pat = match authenticate_personal_access_token(&state.db, &state.audit, token, state.client_ip(req), now).await
    {
        Ok(pat) => pat,
        Err(PatError::Database(e)) => return Err(failed(&e)),
        Err(PatError::Invalid | PatError::AddressNotAllowed { .. }) => return Err(AdminRefusal::InvalidToken),
    };
    if !pat.has_scope(ADMIN_SCOPE) {
        return Err(AdminRefusal::InsufficientScope);
    }
    let person = recheck_and_find_person(&state.person_checks(), &pat.user_id)
        .await
        .map_err(|e| failed(&e))?
        .ok_or(AdminRefusal::InvalidToken)?;
    let (person, via) = administrator_groups_of(state, req, person).await?;
    Ok(AdminSession {
        sub: person.id,
        username: person.claims.username,
        name: person.claims.name,
        admin_groups: via,
        via_token: Some(pat.id),
    })
}

/// Decides whether the request comes from an administrator: a browser session, or at the
/// JSON API a personal access token.
pub async fn admin_for_request(state: &AppState, req: &HttpRequest) -> Result<AdminSession, AdminRefusal> {
    if req.path().starts_with(API_PREFIX) {
        if let Some(token) = bearer_credential(req) {
            return admin_for_personal_access_token(state, req, &token).await;
        }
    }
    let session = state
        .current_session(req)
        .await
        .map_err(|e| failed(&e))?
        .ok_or(AdminRefusal::SignInNeeded)?;
    let (person, via) = administrator(state, req, &session.user_id, AdminRefusal::SignInNeeded).await?;
    if !has_second_factor(&session.amr) {
        return Err(AdminRefusal::SecondFactorNeeded);
    }
    Ok(AdminSession {
        sub: person.id,
        username: person.claims.username,
        name: person.claims.name,
        admin_groups: via,
        via_token: None,
    })
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl FromRequest for AdminSession {
    type Error = AdminAccessError;
    type Future = LocalFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let api = req.path().starts_with(API_PREFIX);
            let Some(state) = app_state(&req) else {
                tracing::error!("application state missing");
                return Err(AdminAccessError {
                    refusal: AdminRefusal::Failed,
                    api,
                    demo: false,
                    return_to: req.path().to_string(),
                });
            };
            admin_for_request(&state, &req)
                .await
                .map_err(|refusal| AdminAccessError {
                    refusal,
                    api,
                    demo: state.config.demo,
                    return_to: req.path().to_string(),
                })
        })
    }
}

/// An administrator making a change through the JSON API: the session and a valid
/// `X-CSRF-Token` header, or a personal access token (no cookie, so no CSRF to fear).
#[derive(Debug, Clone)]
pub struct AdminApiWrite(pub AdminSession);

impl FromRequest for AdminApiWrite {
    type Error = AdminAccessError;
    type Future = LocalFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = AdminSession::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let admin = session.await?;
            if admin.via_token.is_some() {
                return Ok(AdminApiWrite(admin));
            }
            let token = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            let verified = match app_state(&req) {
                Some(state) => !token.is_empty() && state.csrf.verify(&req, state.secure_cookies(), token),
                None => false,
            };
            if verified {
                Ok(AdminApiWrite(admin))
            } else {
                Err(AdminAccessError {
                    refusal: AdminRefusal::BadCsrfToken,
                    api: true,
                    demo: false,
                    return_to: req.path().to_string(),
                })
            }
        })
    }
}

/// `GET /admin`: the administration start page.
pub async fn get_admin_index(state: web::Data<AppState>, admin: AdminSession) -> HttpResponse {
    let page = AdminIndexPage {
        demo: state.config.demo,
        username: admin.username,
        name: admin.name,
        admin_groups: admin.admin_groups,
    };
    render_page(&mut html_response(StatusCode::OK), &page)
}

/// `GET /admin/api/session`: who is signed in, and the CSRF token API changes need.
pub async fn get_api_session(state: web::Data<AppState>, req: HttpRequest, admin: AdminSession) -> HttpResponse {
    let csrf = state.csrf.issue(&req, state.secure_cookies());
    let mut builder = HttpResponse::Ok();
    builder.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    set_csrf_cookie(&mut builder, csrf.cookie);
    builder.json(json!({
        "sub": admin.sub,
        "username": admin.username,
        "name": admin.name,
        "admin_groups": admin.admin_groups,
        "csrf_token": csrf.token,
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(get_admin_index))
        .route("/admin/", web::get().to(get_admin_index))
        .route("/admin/api/session", web::get().to(get_api_session));
}
