//! `/account`: the signed-in person's second factor: status, enrolment, reset (with a
//! current code or a recovery code), new recovery codes (with a current code).

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::setup_link_page::{clear_setup_cookie, confirm_enrolment_here, enrolment_refusal, setup_link_needed_page};
use super::totp_page::{
    enrol_page, mfa_failure, new_enrolment, normalized_code, EnrolForm, EnrolPrompt, EnrolmentView,
};
use crate::app::state::AppState;
use crate::authorization::browser_session::{end_session, start_session, BrowserSession};
use crate::authorization::people::{find_person, Person};
use crate::authorization::second_factor::{AMR_OTP, AMR_PASSWORD};
use crate::authorization::second_factor_enrolment::EnrolmentError;
use crate::http::mfa_pages::{AccountPage, RecoveryCodesPage};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::redirect::{redirect_found, redirect_see_other};
use crate::http::session_cookie::session_cookie;
use crate::mfa::{
    has_active_totp, regenerate_recovery_codes, remaining_recovery_codes, reset_totp, use_recovery_code, verify_totp,
    MfaError, MfaLimits, MfaPolicy, TotpSettings,
};

#[derive(Deserialize)]
pub struct AccountCodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
}

const EXPIRED_FORM: &str = "This form had expired. Please try again.";

/// The live session, or the way to sign in and come back here.
async fn signed_in(state: &AppState, req: &HttpRequest) -> Result<Result<BrowserSession, HttpResponse>, PageError> {
    match state.current_session(req).await? {
        Some(session) => Ok(Ok(session)),
        None => Ok(Err(redirect_found(&format!("{}/login?next=/account", state.issuer())))),
    }
}

/// The signed-in person as recorded at their sign-in.
async fn session_person(state: &AppState, session: &BrowserSession) -> Result<Person, PageError> {
    find_person(&state.db, &session.user_id)
        .await?
        .ok_or_else(|| PageError::expired_sign_in().in_demo(state.config.demo))
}

struct AccountMessage<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
    status: StatusCode,
}

async fn account_page(
    state: &AppState,
    req: &HttpRequest,
    session: &BrowserSession,
    message: AccountMessage<'_>,
) -> Result<HttpResponse, PageError> {
    let person = find_person(&state.db, &session.user_id).await?;
    let groups = person.as_ref().map(|p| p.claims.groups.clone()).unwrap_or_default();
    let enrolled = has_active_totp(&state.db, &session.user_id)
        .await
        .map_err(mfa_failure)?;
    let remaining = if enrolled {
        remaining_recovery_codes(&state.db, &session.user_id)
            .await
            .map_err(mfa_failure)?
    } else {
        0
    };
    let group_dns = person.as_ref().map(|p| p.claims.group_dns.clone()).unwrap_or_default();
    let administrator = state
        .admin_groups()
        .await
        .map_err(PageError::internal)?
        .admits(&groups, &group_dns);
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = AccountPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: person.as_ref().map(|p| p.claims.username.clone()).unwrap_or_default(),
        name: person.and_then(|p| p.claims.name),
        totp_enrolled: enrolled,
        remaining_recovery_codes: remaining,
        required: MfaPolicy::from(&state.config.mfa).requires_second_factor(&groups),
        administrator,
        notice: message.notice.map(str::to_string),
        error: message.error.map(str::to_string),
    };
    let mut builder = html_response(message.status);
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

pub async fn get_account(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let message = AccountMessage {
        notice: None,
        error: None,
        status: StatusCode::OK,
    };
    account_page(&state, &req, &session, message).await
}

/// The answer to a wrong code on the account page (or a server failure).
async fn refused(
    state: &AppState,
    req: &HttpRequest,
    session: &BrowserSession,
    error: MfaError,
) -> Result<HttpResponse, PageError> {
    if !error.is_person_error() {
        return Err(mfa_failure(error));
    }
    let status = match error {
        MfaError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::OK,
    };
    let message = AccountMessage {
        notice: None,
        error: Some(error.person_message()),
        status,
    };
    account_page(state, req, session, message).await
}

/// A TOTP code: digits only, as many as the settings say. Anything else is taken for a
/// recovery code.
fn looks_like_totp(code: &str, digits: u32) -> bool {
    code.len() == digits as usize && code.bytes().all(|b| b.is_ascii_digit())
}

async fn check_totp(state: &AppState, user_id: &str, code: &str) -> Result<(), MfaError> {
    let settings = TotpSettings::from(&state.config.mfa);
    let limits = MfaLimits::from(&state.config.mfa);
    verify_totp(
        &state.db,
        &state.master_key,
        &settings,
        &limits,
        user_id,
        code,
        &state.audit,
        state.now(),
    )
    .await
}

pub async fn post_account_totp_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountCodeForm>,
) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let message = AccountMessage {
            notice: None,
            error: Some(EXPIRED_FORM),
            status: StatusCode::BAD_REQUEST,
        };
        return account_page(&state, &req, &session, message).await;
    }
    let code = normalized_code(&form.code);
    let proven = if looks_like_totp(&code, state.config.mfa.digits) {
        check_totp(&state, &session.user_id, &code).await
    } else {
        let limits = MfaLimits::from(&state.config.mfa);
        use_recovery_code(&state.db, &limits, &session.user_id, &code, &state.audit, state.now()).await
    };
    if let Err(error) = proven {
        return refused(&state, &req, &session, error).await;
    }
    match reset_totp(&state.db, &session.user_id, &session.user_id, &state.audit, state.now()).await {
        Ok(()) | Err(MfaError::NotEnrolled) => {}
        Err(error) => return Err(mfa_failure(error)),
    }
    let message = AccountMessage {
        notice: Some("Your authenticator app was removed."),
        error: None,
        status: StatusCode::OK,
    };
    account_page(&state, &req, &session, message).await
}

pub async fn post_account_recovery_codes(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountCodeForm>,
) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let message = AccountMessage {
            notice: None,
            error: Some(EXPIRED_FORM),
            status: StatusCode::BAD_REQUEST,
        };
        return account_page(&state, &req, &session, message).await;
    }
    if let Err(error) = check_totp(&state, &session.user_id, &normalized_code(&form.code)).await {
        return refused(&state, &req, &session, error).await;
    }
    let codes = regenerate_recovery_codes(&state.db, &session.user_id, &state.audit, state.now())
        .await
        .map_err(mfa_failure)?;
    let page = RecoveryCodesPage {
        demo: state.config.demo,
        intro: "Your new recovery codes replace the old ones.".into(),
        codes,
        continue_url: "/account".into(),
    };
    Ok(render_page(&mut html_response(StatusCode::OK), &page))
}

pub async fn get_account_totp_enrol(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if has_active_totp(&state.db, &session.user_id)
        .await
        .map_err(mfa_failure)?
    {
        return Ok(redirect_found(&format!("{}/account", state.issuer())));
    }
    let person = session_person(&state, &session).await?;
    if let Some(refusal) = enrolment_refusal(&state, &req, &person).await? {
        return Err(refusal);
    }
    let (view, label) = new_enrolment(&state, &session.user_id).await?;
    let prompt = EnrolPrompt {
        action: "/account/totp/enrol",
        request_id: "",
        user_id: &session.user_id,
        label,
        view,
        error: None,
        cookie: None,
    };
    enrol_page(&state, &req, prompt).await
}

pub async fn post_account_totp_enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, PageError> {
    let session = match signed_in(&state, &req).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if has_active_totp(&state.db, &session.user_id)
        .await
        .map_err(mfa_failure)?
    {
        return Ok(redirect_see_other(&format!("{}/account", state.issuer())));
    }
    let form = form.into_inner();
    let person = session_person(&state, &session).await?;
    let csrf_ok = state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token);
    let confirmed = if csrf_ok {
        confirm_enrolment_here(&state, &req, &person, &normalized_code(&form.code)).await?
    } else {
        Err(EnrolmentError::Mfa(MfaError::WrongCode))
    };
    let codes = match confirmed {
        Ok(codes) => codes,
        Err(EnrolmentError::SetupLinkNeeded(problem)) => {
            return Err(setup_link_needed_page(problem, state.config.demo));
        }
        Err(EnrolmentError::Mfa(error)) if error.is_person_error() => {
            let message = if csrf_ok { error.person_message() } else { EXPIRED_FORM };
            let (view, label) =
                match EnrolmentView::from_form(&form).filter(|_| !matches!(error, MfaError::NotEnrolled)) {
                    Some(view) => (view, String::new()),
                    None => new_enrolment(&state, &session.user_id).await?,
                };
            let prompt = EnrolPrompt {
                action: "/account/totp/enrol",
                request_id: "",
                user_id: &session.user_id,
                label,
                view,
                error: Some(message),
                cookie: None,
            };
            return enrol_page(&state, &req, prompt).await;
        }
        Err(EnrolmentError::Mfa(error)) => return Err(mfa_failure(error)),
    };
    // The person just proved the new factor: the session is replaced by one that says so
    // (a new cookie value, so the old one cannot carry the second factor).
    let now = state.now();
    end_session(&state.db, &session.sid, now).await?;
    let lifetime = state.config.lifetimes.session;
    let origin = super::sessions_page::session_origin(&state, &req);
    let (cookie_value, _) = start_session(
        &state.db,
        &session.user_id,
        &[AMR_PASSWORD, AMR_OTP],
        now,
        lifetime,
        &origin,
    )
    .await?;
    let page = RecoveryCodesPage {
        demo: state.config.demo,
        intro: "Your authenticator app is set up.".into(),
        codes,
        continue_url: "/account".into(),
    };
    let mut builder = html_response(StatusCode::OK);
    builder.cookie(session_cookie(cookie_value, state.secure_cookies(), lifetime));
    builder.cookie(clear_setup_cookie(state.secure_cookies()));
    Ok(render_page(&mut builder, &page))
}

#[cfg(test)]
mod tests {
    use super::looks_like_totp;

    #[test]
    fn totp_codes_are_told_from_recovery_codes() {
        assert!(looks_like_totp("123456", 6));
        assert!(!looks_like_totp("12345", 6));
        assert!(!looks_like_totp("abcd-efgh-ijkl", 6));
        assert!(looks_like_totp("12345678", 8));
    }
}
