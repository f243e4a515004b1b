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

async fn authorize(state: &AppState, req: &HttpRequest, raw: RawParameters) -> Result<HttpResponse, PageError> {
    let client_id = client_id_of(&raw).map_err(unredirectable)?;
    let client = state
        .clients
        .find(&state.db, client_id)
        .await?
        .ok_or_else(|| unredirectable(UnredirectableError::UnknownClient))?;
    let redirect_uri = redirect_uri_of(&raw, &client).map_err(unredirectable)?;
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
    let outcome = continue_authorization(&state.flow_context(req), &client, request, None, session.as_ref()).await?;
    Ok(flow_redirect(state.issuer(), outcome, false, state.config.demo))
}
