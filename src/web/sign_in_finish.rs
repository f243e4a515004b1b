//! The end of every sign-in, whichever page proved the last factor (the password page, the
//! second-factor code, an enrolment): the single sign-on session starts (replacing any
//! earlier one), and the browser goes on: to the recovery codes when an authenticator was
//! just set up, back into the pending authorization request (through the one decision of
//! `continue_authorization`), or to the page it came for.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::page_support::{expired_request_page, pending_and_client, resume_request};
use crate::app::state::AppState;
use crate::authorization::pending_authorization::record_sign_in_for_request;
use crate::authorization::sign_in::{start_signed_in_session, ProvenSignIn};
use crate::http::mfa_pages::RecoveryCodesPage;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::redirect::redirect_see_other;
use crate::http::session_cookie::session_cookie;
use crate::metrics::SignInOutcome;

/// A sign-in whose every factor is proven, and where it goes next.
pub(super) struct FinishedSignIn<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub amr: &'a [&'a str],
    /// A password-only session being stepped up, which ends too.
    pub stepped_up_sid: Option<&'a str>,
    /// The pending authorization request to continue (empty: none).
    pub request_id: &'a str,
    /// A local path to land on when there is no request.
    pub landing: &'a str,
    /// Freshly made recovery codes to show first (after an enrolment).
    pub recovery_codes: Option<Vec<String>>,
    /// Cookies to send along (the removal of the second-factor challenge cookie).
    pub extra_cookies: Vec<Cookie<'static>>,
}

pub(super) async fn finish_sign_in(
    state: &AppState,
    req: &HttpRequest,
    finished: FinishedSignIn<'_>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let now = state.now();
    let mut replaces = Vec::new();
    if let Some(previous) = state.current_session(req).await? {
        replaces.push(previous.sid);
    }
    replaces.extend(finished.stepped_up_sid.map(str::to_string));
    let lifetime = state.config.lifetimes.session;
    let origin = super::sessions_page::session_origin(state, req);
    let (cookie_value, session) = start_signed_in_session(
        &state.db,
        &state.audit,
        ProvenSignIn {
            user_id: finished.user_id,
            username: finished.username,
            amr: finished.amr,
            replaces,
            origin: &origin,
            lifetime,
        },
        now,
    )
    .await?;
    state.metrics.sign_in(SignInOutcome::Ok);

    // The request this sign-in was made for (gone: it expired, or another tab finished it).
    let resumed = match finished.request_id {
        "" => None,
        id => match pending_and_client(state, id).await? {
            Some((mut pending, client)) => {
                record_sign_in_for_request(&state.db, &mut pending, &session.sid).await?;
                Some((pending, client))
            }
            None => return Err(expired_request_page().in_demo(demo)),
        },
    };
    let mut response = match (finished.recovery_codes, resumed) {
        (Some(codes), resumed) => {
            let continue_url = match resumed {
                Some((pending, _)) => format!("/login/continue?request={}", pending.id),
                None => finished.landing.to_string(),
            };
            let page = RecoveryCodesPage {
                demo,
                intro: "Your authenticator app is set up.".into(),
                codes,
                continue_url,
            };
            render_page(&mut html_response(StatusCode::OK), &page)
        }
        (None, Some((pending, client))) => resume_request(state, req, pending, &client, Some(&session), true).await?,
        (None, None) => redirect_see_other(&format!("{}{}", state.issuer(), finished.landing)),
    };
    response
        .add_cookie(&session_cookie(cookie_value, state.secure_cookies(), lifetime))
        .map_err(PageError::internal)?;
    for cookie in &finished.extra_cookies {
        response.add_cookie(cookie).map_err(PageError::internal)?;
    }
    Ok(response)
}
