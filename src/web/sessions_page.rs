//! `/account/sessions`: the signed-in person's browser sessions (where from, which
//! browser, when) with a way to end each one or all the others, and the applications
//! connected to their account with a way to disconnect each one. Every change is a form
//! POST with a CSRF token, and audited.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::header::USER_AGENT;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::authorization::browser_session::{
    describe_user_agent, end_session_of_user, end_sessions_of_user, list_sessions, BrowserSession, SessionOrigin,
};
use crate::authorization::connected_apps::{disconnect_application, list_connected_applications};
use crate::authorization::people::find_person;
use crate::authorization::second_factor::has_second_factor;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::format_time;
use crate::http::redirect::{redirect_found, redirect_see_other};
use crate::http::session_cookie::clear_session_cookie;
use crate::http::session_pages::{format_time_with_age, ApplicationRow, SessionRow, SessionsPage};

const SESSIONS_PATH: &str = "/account/sessions";
const EXPIRED_FORM: &str = "This form had expired. Please try again.";

/// Where a session being started comes from: the client address (behind trusted proxies,
/// the forwarded one) and the browser's `User-Agent`.
pub fn session_origin(state: &AppState, req: &HttpRequest) -> SessionOrigin {
    let user_agent = req.headers().get(USER_AGENT).and_then(|value| value.to_str().ok());
    SessionOrigin::new(state.client_ip(req), user_agent)
}

#[derive(Deserialize)]
pub struct EndSessionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    sid: String,
}

#[derive(Deserialize)]
pub struct CsrfOnlyForm {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct DisconnectForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
}

/// The live session, or the way to sign in and come back here.
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    after_post: bool,
) -> Result<Result<BrowserSession, HttpResponse>, PageError> {
    match state.current_session(req).await? {
        Some(session) => Ok(Ok(session)),
        None => {
            let login = format!("{}/login?next={SESSIONS_PATH}", state.issuer());
            Ok(Err(if after_post {
                redirect_see_other(&login)
            } else {
                redirect_found(&login)
            }))
        }
    }
}

struct Message {
    notice: Option<String>,
    error: Option<&'static str>,
    status: StatusCode,
}

impl Message {
    fn none() -> Message {
        Message {
            notice: None,
            error: None,
            status: StatusCode::OK,
        }
    }

    fn notice(text: impl Into<String>) -> Message {
        Message {
            notice: Some(text.into()),
            ..Message::none()
        }
    }

    fn expired_form() -> Message {
        Message {
            notice: None,
            error: Some(EXPIRED_FORM),
            status: StatusCode::BAD_REQUEST,
        }
    }
}

async fn sessions_page(
    state: &AppState,
    req: &HttpRequest,
    session: &BrowserSession,
    message: Message,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let person = find_person(&state.db, &session.user_id).await?;
    let sessions = list_sessions(&state.db, &session.user_id, now, true)
        .await?
        .into_iter()
        .map(|stored| SessionRow {
            browser: describe_user_agent(stored.user_agent.as_deref()),
            ip: stored.ip.clone().unwrap_or_else(|| "unknown address".to_string()),
            signed_in: format_time_with_age(now, stored.created_at),
            last_seen: format_time_with_age(now, stored.last_seen_at),
            current: stored.sid == session.sid,
            second_factor: has_second_factor(&stored.amr),
            sid: stored.sid,
        })
        .collect();
    let mut applications = Vec::new();
    for app in list_connected_applications(&state.db, &session.user_id, now).await? {
        let client = state.clients.find(&state.db, &app.client_id).await?;
        applications.push(ApplicationRow {
            name: client
                .as_deref()
                .map(|client| client.display_name().to_string())
                .unwrap_or_else(|| app.client_id.clone()),
            scopes: app.scope.iter().map(str::to_string).collect(),
            since: format_time(app.since),
            last_activity: app
                .last_activity
                .map(|at| format_time_with_age(now, at))
                .unwrap_or_else(|| "none yet".to_string()),
            client_id: app.client_id,
        });
    }
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = SessionsPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: person.map(|p| p.claims.username).unwrap_or_default(),
        sessions,
        applications,
        notice: message.notice,
        error: message.error.map(str::to_string),
    };
    let mut builder = html_response(message.status);
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

/// `GET /account/sessions`.
pub async fn get_account_sessions(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req, false).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    sessions_page(&state, &req, &session, Message::none()).await
}

/// `POST /account/sessions/end`: ends one of the person's sessions; ending the one this
/// browser uses signs it out.
pub async fn post_end_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EndSessionForm>,
) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req, true).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return sessions_page(&state, &req, &session, Message::expired_form()).await;
    }
    let now = state.now();
    if !end_session_of_user(&state.db, &session.user_id, &form.sid, now).await? {
        let message = Message::notice("That session had already ended.");
        return sessions_page(&state, &req, &session, message).await;
    }
    state.audit.record(
        AuditEvent::SessionEnded {
            sub: session.user_id.clone(),
            sid: form.sid.clone(),
            by: session.user_id.clone(),
        },
        now,
    );
    if form.sid == session.sid {
        let mut response = redirect_see_other(&format!("{}/", state.issuer()));
        response
            .add_cookie(&clear_session_cookie(state.secure_cookies()))
            .map_err(PageError::internal)?;
        return Ok(response);
    }
    sessions_page(&state, &req, &session, Message::notice("The session was signed out.")).await
}

/// `POST /account/sessions/end-others`: signs out every other browser.
pub async fn post_end_other_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfOnlyForm>,
) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req, true).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return sessions_page(&state, &req, &session, Message::expired_form()).await;
    }
    let now = state.now();
    let ended = end_sessions_of_user(&state.db, &session.user_id, Some(&session.sid), now).await?;
    for sid in &ended {
        state.audit.record(
            AuditEvent::SessionEnded {
                sub: session.user_id.clone(),
                sid: sid.clone(),
                by: session.user_id.clone(),
            },
            now,
        );
    }
    let notice = match ended.len() {
        0 => "No other browser was signed in.".to_string(),
        1 => "1 other browser was signed out.".to_string(),
        n => format!("{n} other browsers were signed out."),
    };
    sessions_page(&state, &req, &session, Message::notice(notice)).await
}

/// `POST /account/applications/disconnect`: forgets the consent for an application and
/// revokes its grants (its access and refresh tokens stop working at once).
pub async fn post_disconnect_application(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DisconnectForm>,
) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req, true).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return sessions_page(&state, &req, &session, Message::expired_form()).await;
    }
    let now = state.now();
    let outcome = disconnect_application(&state.db, &session.user_id, &form.client_id, now).await?;
    if !outcome.changed_anything() {
        let message = Message::notice("That application was not connected.");
        return sessions_page(&state, &req, &session, message).await;
    }
    state.audit.record(
        AuditEvent::ApplicationDisconnected {
            sub: session.user_id.clone(),
            client_id: form.client_id.clone(),
        },
        now,
    );
    let name = state
        .clients
        .find(&state.db, &form.client_id)
        .await?
        .map(|client| client.display_name().to_string())
        .unwrap_or_else(|| form.client_id.clone());
    let notice = format!("{name} was disconnected.");
    sessions_page(&state, &req, &session, Message::notice(notice)).await
}
