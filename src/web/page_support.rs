//! Pieces the login and consent pages share.

use std::sync::Arc;

use serde::Deserialize;

use actix_web::{HttpRequest, HttpResponse};

use crate::app::state::AppState;
use crate::authorization::browser_session::BrowserSession;
use crate::authorization::client_registry::Client;
use crate::authorization::complete_authorization::resume_authorization;
use crate::authorization::pending_authorization::{find_pending_authorization, PendingAuthorization};
use crate::http::page_response::PageError;
use crate::http::redirect::flow_redirect;
use crate::http::security_headers::{csp_allowing_form_targets, origin_of};

#[derive(Deserialize)]
pub struct RequestQuery {
    pub request: Option<String>,
    /// Where to go after signing in without an application (a local path).
    pub next: Option<String>,
}

/// Longer `request` ids are unknown without a lookup.
const MAX_REQUEST_ID_BYTES: usize = 64;

/// The pending request and its client; `None` when the request expired or is unknown.
pub async fn pending_and_client(
    state: &AppState,
    id: &str,
) -> Result<Option<(PendingAuthorization, Arc<Client>)>, PageError> {
    // Request ids are 32 characters; anything much longer is not looked up.
    if id.len() > MAX_REQUEST_ID_BYTES {
        return Ok(None);
    }
    let Some(pending) = find_pending_authorization(&state.db, id, state.now()).await? else {
        return Ok(None);
    };
    let client = state.clients.find(&state.db, &pending.request.client_id).await?;
    Ok(client.map(|client| (pending, client)))
}

/// Hands a stored request back to the one decision and sends the browser where it says
/// (`after_post`: the answer to a form, 303).
pub async fn resume_request(
    state: &AppState,
    req: &HttpRequest,
    pending: PendingAuthorization,
    client: &Client,
    session: Option<&BrowserSession>,
    after_post: bool,
) -> Result<HttpResponse, PageError> {
    let outcome = resume_authorization(&state.flow_context(req), client, pending, session).await?;
    Ok(flow_redirect(state.issuer(), outcome, after_post, state.config.demo))
}

pub fn expired_request_page() -> PageError {
    PageError::expired_sign_in()
}

/// A policy letting the page's form end in a redirect to the client's redirect URIs.
pub fn csp_for_client(client: Option<&Client>) -> String {
    let origins: Vec<String> = client
        .map(|c| c.redirect_uris.iter().filter_map(|uri| origin_of(uri)).collect())
        .unwrap_or_default();
    csp_allowing_form_targets(origins.iter().map(String::as_str))
}
