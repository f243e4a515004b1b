//! `/consent`: the person approves or declines what an application asks for.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::page_support::{csp_for_client, expired_request_page, pending_and_client, resume_request, RequestQuery};
use crate::app::state::AppState;
use crate::authorization::complete_authorization::decide_consent;
use crate::authorization::pending_authorization::FlowStep;
use crate::authorization::people::find_person;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::{ConsentPage, ScopeDescription};
use crate::http::redirect::{flow_redirect, redirect_found};

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
}

pub async fn get_consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let id = query.request.clone().unwrap_or_default();
    let (pending, client) = pending_and_client(&state, &id)
        .await
        .map_err(|e| e.in_demo(demo))?
        .ok_or_else(|| expired_request_page().in_demo(demo))?;
    let Some(session) = state.current_session(&req).await? else {
        return Ok(redirect_found(&format!(
            "{}/login?request={}",
            state.issuer(),
            pending.id
        )));
    };
    if !pending.waits_for(FlowStep::Consent, &session.user_id) {
        // Consent is not what this request waits for (or not from this person): the one
        // decision says where it stands.
        return resume_request(&state, &req, pending, &client, Some(&session), false).await;
    }
    let username = find_person(&state.db, &session.user_id)
        .await?
        .map(|p| p.claims.name.unwrap_or(p.claims.username))
        .unwrap_or_default();
    let csrf = state.csrf.issue(&req, state.secure_cookies());
    let page = ConsentPage {
        demo,
        request_id: pending.id.clone(),
        csrf_token: csrf.token,
        client_name: client.display_name().to_string(),
        client_id: client.client_id.clone(),
        username,
        scopes: pending
            .request
            .scope
            .descriptions()
            .into_iter()
            .map(|(name, description)| ScopeDescription {
                name: name.to_string(),
                description: description.to_string(),
            })
            .collect(),
    };
    let mut builder = html_response(StatusCode::OK);
    builder.insert_header(("Content-Security-Policy", csp_for_client(Some(&client))));
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

pub async fn post_consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ConsentForm>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return Err(PageError::bad_request(
            "This form has expired",
            "For your safety the page could not be submitted. Go back to the application and start again.",
        )
        .in_demo(demo));
    }
    let (pending, client) = pending_and_client(&state, &form.request)
        .await
        .map_err(|e| e.in_demo(demo))?
        .ok_or_else(|| expired_request_page().in_demo(demo))?;
    let Some(session) = state.current_session(&req).await? else {
        return Ok(redirect_found(&format!(
            "{}/login?request={}",
            state.issuer(),
            pending.id
        )));
    };
    let approved = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return Err(
                PageError::bad_request("Choose Allow or Deny", "The answer to the request was not understood.")
                    .in_demo(demo),
            )
        }
    };
    let outcome = decide_consent(&state.flow_context(&req), &client, pending, &session, approved).await?;
    Ok(flow_redirect(state.issuer(), outcome, true, demo))
}
