//! `/logout`: RP-Initiated Logout 1.0. With a valid `id_token_hint` for the signed-in
//! person the session ends at once; otherwise the person confirms (a cross-site request
//! cannot sign anyone out). A redirect happens only to a URI the client registered.

use crate::http::csrf::set_csrf_cookie;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::form_body::{is_form_body, parse_form};
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::authorization::authorize_request::{redirect_with_parameters, RawParameters};
use crate::authorization::browser_session::end_session;
use crate::authorization::client_registry::Client;
use crate::authorization::people::find_person;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::{LoggedOutPage, LogoutConfirmPage};
use crate::http::redirect::{redirect_found, redirect_see_other};
use crate::http::security_headers::{csp_allowing_form_targets, origin_of};
use crate::http::session_cookie::clear_session_cookie;
use crate::tokens::id_token::read_id_token_hint;

pub async fn get_logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let raw = RawParameters::from_pairs(url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned());
    logout(&state, &req, raw, false)
        .await
        .map_err(|e| e.in_demo(state.config.demo))
}

pub async fn post_logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let raw = if is_form_body(&req) {
        parse_form(&body)
    } else {
        RawParameters::default()
    };
    logout(&state, &req, raw, true)
        .await
        .map_err(|e| e.in_demo(state.config.demo))
}

fn invalid(message: &str) -> PageError {
    PageError::bad_request("This sign-out request is not valid", message.to_string())
}

async fn logout(
    state: &AppState,
    req: &HttpRequest,
    raw: RawParameters,
    posted: bool,
) -> Result<HttpResponse, PageError> {
    if let Some(problem) = raw.size_problem() {
        return Err(invalid(&problem.sentence()));
    }
    if let Some(name) = raw.first_duplicate() {
        return Err(invalid(&format!("The {name} parameter is repeated.")));
    }
    let hint = match raw.get("id_token_hint") {
        None => None,
        Some(token) => Some(read_id_token_hint(&state.keys, token, state.issuer()).map_err(|_| {
            invalid("The application sent an ID token that Gatehouse did not issue or cannot verify, so you were not signed out.")
        })?),
    };
    let hinted_client = hint.as_ref().and_then(|h| h.aud.first().map(str::to_string));
    let client_id = match (raw.get("client_id"), hinted_client.as_deref()) {
        (Some(given), Some(hinted)) if given != hinted => {
            return Err(invalid(
                "The client_id does not match the ID token the application sent.",
            ))
        }
        (Some(given), _) => Some(given.to_string()),
        (None, hinted) => hinted.map(str::to_string),
    };
    let client: Option<Arc<Client>> = match &client_id {
        Some(id) => Some(
            state
                .clients
                .find(&state.db, id)
                .await?
                .ok_or_else(|| invalid("The application that sent you here is not registered with Gatehouse."))?,
        ),
        None => None,
    };
    let redirect_uri = match raw.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &client {
            Some(client) if client.has_post_logout_redirect_uri(uri) => Some(uri.to_string()),
            Some(_) => {
                return Err(invalid(
                    "The application asked to send you to an address it has not registered for sign-out, so Gatehouse will not send you there.",
                ))
            }
            None => {
                return Err(invalid(
                    "The sign-out request names a return address but not the application, so it cannot be checked.",
                ))
            }
        },
    };
    let state_param = raw.get("state").map(str::to_string);
    let session = state.current_session(req).await?;

    let confirmed = posted && raw.get("confirm") == Some("yes") && {
        let token = raw.get("csrf_token").unwrap_or_default();
        state.csrf.verify(req, state.secure_cookies(), token)
    };
    let hint_matches_session = match (&hint, &session) {
        (Some(hint), Some(session)) => hint.sub == session.user_id,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let proceed = confirmed || session.is_none() || hint_matches_session;
    if !proceed {
        return confirm_page(
            state,
            req,
            client.as_deref(),
            redirect_uri,
            state_param,
            session.map(|s| s.user_id),
        )
        .await;
    }

    if let Some(session) = &session {
        end_session(&state.db, &session.sid, state.now()).await?;
        state.audit.record(
            AuditEvent::SignedOut {
                sub: session.user_id.clone(),
            },
            state.now(),
        );
    }
    let mut response = match &redirect_uri {
        Some(uri) => {
            let params: Vec<(&str, &str)> = state_param.iter().map(|s| ("state", s.as_str())).collect();
            let location = redirect_with_parameters(uri, &params);
            if posted {
                redirect_see_other(&location)
            } else {
                redirect_found(&location)
            }
        }
        None => render_page(
            &mut html_response(StatusCode::OK),
            &LoggedOutPage {
                demo: state.config.demo,
            },
        ),
    };
    response
        .add_cookie(&clear_session_cookie(state.secure_cookies()))
        .map_err(PageError::internal)?;
    Ok(response)
}

async fn confirm_page(
    state: &AppState,
    req: &HttpRequest,
    client: Option<&Client>,
    redirect_uri: Option<String>,
    state_param: Option<String>,
    user_id: Option<String>,
) -> Result<HttpResponse, PageError> {
    let username = match user_id {
        Some(id) => find_person(&state.db, &id).await?.map(|p| p.claims.username),
        None => None,
    };
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let origins: Vec<String> = redirect_uri.iter().filter_map(|uri| origin_of(uri)).collect();
    let page = LogoutConfirmPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        client_name: client.map(|c| c.display_name().to_string()),
        client_id: client.map(|c| c.client_id.clone()),
        post_logout_redirect_uri: redirect_uri,
        state: state_param,
        username,
    };
    let mut builder = html_response(StatusCode::OK);
    builder.insert_header((
        "Content-Security-Policy",
        csp_allowing_form_targets(origins.iter().map(String::as_str)),
    ));
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}
