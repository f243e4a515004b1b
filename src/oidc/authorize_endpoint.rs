//! `GET/POST /authorize` (OpenID Connect Core 3.1.2). A bad client or redirect URI gets an
//! error page and never a redirect; every later error goes back to the redirect URI. Every
//! parameter is bounded (`authorization::parameter_limits`) before anything is stored.

use actix_web::{web, HttpRequest, HttpResponse};

use super::form_body::{is_form_body, parse_form};
use crate::app::state::AppState;
use crate::authorization::authorize_request::{
    client_id_of, redirect_uri_of, validate_request, RawParameters, UnredirectableError,
};
use crate::authorization::complete_authorization::{continue_authorization, response_to};
use crate::http::page_response::PageError;
use crate::http::redirect::{flow_redirect, redirect_found};
use crate::http::request_id::{bounded_for_log, note_client_id, note_sub};

pub async fn get_authorize(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let raw = RawParameters::from_pairs(url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned());
    authorize(&state, &req, raw)
        .await
        .map_err(|e| e.in_demo(state.config.demo))
}

pub async fn post_authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    if !is_form_body(&req) {
        return Err(PageError::bad_request(
            "Invalid sign-in request",
            "The application sent a sign-in request Gatehouse cannot read.",
        )
        .in_demo(state.config.demo));
    }
    authorize(&state, &req, parse_form(&body))
        .await
        .map_err(|e| e.in_demo(state.config.demo))
}

fn unredirectable(error: UnredirectableError) -> PageError {
    PageError::bad_request("This sign-in request is not valid", error.to_string())
}

/// A request answered with the error page (no redirect) is logged at warn with what it
/// named, so an administrator can tell which application is misconfigured. Both values
/// are cut to a bound; they are identifiers, never secrets.
fn refused(raw: &RawParameters, error: UnredirectableError) -> PageError {
    tracing::warn!(
        client_id = raw.get("client_id").map(|id| bounded_for_log(id, MAX_LOGGED_CLIENT_ID_BYTES)),
        redirect_uri = raw.get("redirect_uri").map(|uri| bounded_for_log(uri, MAX_LOGGED_REDIRECT_URI_BYTES)),
        reason = %error,
        "authorization request refused with an error page"
    );
    unredirectable(error)
}

/// The longest client id and redirect URI written on a log line.
const MAX_LOGGED_CLIENT_ID_BYTES: usize = 128;
const MAX_LOGGED_REDIRECT_URI_BYTES: usize = 512;

async fn authorize(state: &AppState, req: &HttpRequest, raw: RawParameters) -> Result<HttpResponse, PageError> {
    let client_id = client_id_of(&raw).map_err(|error| refused(&raw, error))?;
    let client = state
        .clients
        .find(&state.db, client_id)
        .await?
        .ok_or_else(|| refused(&raw, UnredirectableError::UnknownClient))?;
    note_client_id(&client.client_id);
    let redirect_uri = redirect_uri_of(&raw, &client).map_err(|error| refused(&raw, error))?;
    let request = match validate_request(&raw, &client, redirect_uri) {
        Ok(request) => request,
        Err(error) => {
            let location = response_to(
                state.issuer(),
                redirect_uri,
                // An over-long state is the error itself: it is not echoed.
                raw.get_within_limit("state"),
                &[("error", error.error), ("error_description", &error.description)],
            );
            return Ok(redirect_found(&location));
        }
    };
    let session = state.current_session(req).await?;
    if let Some(session) = &session {
        note_sub(&session.user_id);
    }
    let outcome = continue_authorization(&state.flow_context(req), &client, request, None, session.as_ref()).await?;
    Ok(flow_redirect(state.issuer(), outcome, false, state.config.demo))
}
