//! `/login/totp` and `/login/totp/enrol`: the second factor after a correct password.
//!
//! Between the password and the second factor the browser is half signed in: it holds a
//! random value in a short-lived HttpOnly cookie whose hash names a server-side challenge
//! bound to the person and to the pending authorization request (see
//! `authorization::second_factor`). A password-only session that an application needs
//! stepped up gets such a challenge too, bound to that session. Only a correct code (or
//! recovery code, or a confirmed enrolment) starts the single sign-on session, with `amr`
//! `["pwd", "otp"]`, under a new cookie value (the old session, if any, is ended).

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::page_support::{csp_for_client, expired_request_page, pending_and_client, resume_request, RequestQuery};
use super::setup_link_page::{clear_setup_cookie, confirm_enrolment_here, enrolment_refusal, setup_link_needed_page};
use super::sign_in_finish::{finish_sign_in, FinishedSignIn};
use crate::app::state::AppState;
use crate::authorization::pending_authorization::FlowStep;
use crate::authorization::people::{find_person, Person};
use crate::authorization::second_factor::{
    find_challenge, finish_challenge, has_second_factor, start_challenge, NewChallenge, SecondFactorChallenge,
    SecondFactorNeed, AMR_OTP, AMR_PASSWORD, SECOND_FACTOR_WINDOW,
};
use crate::authorization::second_factor_enrolment::EnrolmentError;
use crate::http::mfa_pages::{TotpEnrolPage, TotpLoginPage};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::redirect::{redirect_found, redirect_see_other};
use crate::http::request_id::note_sub;
use crate::metrics::SignInOutcome;
use crate::mfa::{
    begin_enrolment, has_active_totp, render_account_label, use_recovery_code, verify_totp, MfaError, MfaLimits,
    TotpSettings,
};

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// `totp` (the default) or `recovery`.
    #[serde(default)]
    method: String,
}

/// The confirmation of an enrolment. The QR code, secret and link come back only to show
/// the same page again after a wrong code; the secret that counts is the stored one.
#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    pub(super) request: String,
    #[serde(default)]
    pub(super) csrf_token: String,
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) qr_png_base64: String,
    #[serde(default)]
    pub(super) secret_grouped: String,
    #[serde(default)]
    pub(super) otpauth_url: String,
}

fn challenge_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-gatehouse_mfa"
    } else {
        "gatehouse_mfa"
    }
}

fn challenge_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(challenge_cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(Duration::seconds(SECOND_FACTOR_WINDOW))
        .finish()
}

fn clear_challenge_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = challenge_cookie(String::new(), secure);
    cookie.make_removal();
    cookie
}

/// The path and query of a second-factor page for `request_id`.
fn page_url(path: &str, request_id: &str) -> String {
    if request_id.is_empty() {
        path.to_string()
    } else {
        format!("{path}?request={request_id}")
    }
}

/// A second-factor failure that is not the person's mistake.
pub(super) fn mfa_failure(error: MfaError) -> PageError {
    PageError::internal(error)
}

/// Codes are typed with spaces at times (`123 456`); they carry no meaning.
pub(super) fn normalized_code(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// After a correct password: the half-signed-in challenge, its cookie, and the way to the
/// code prompt or the enrolment page.
pub async fn begin_second_factor(
    state: &AppState,
    user_id: &str,
    need: SecondFactorNeed,
    request_id: Option<&str>,
    next_path: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let (cookie_value, _) = start_challenge(
        &state.db,
        NewChallenge {
            user_id,
            request_id,
            next_path,
            session_sid: None,
        },
        state.now(),
    )
    .await?;
    let path = match need {
        SecondFactorNeed::Enrol => "/login/totp/enrol",
        SecondFactorNeed::Code | SecondFactorNeed::None => "/login/totp",
    };
    let mut response = redirect_see_other(&format!(
        "{}{}",
        state.issuer(),
        page_url(path, request_id.unwrap_or_default())
    ));
    response
        .add_cookie(&challenge_cookie(cookie_value, state.secure_cookies()))
        .map_err(PageError::internal)?;
    Ok(response)
}

/// The challenge this browser owes for `request_id`, with a cookie to set when it was
/// made just now (a step-up of a password-only session). `None`: nothing is owed here.
async fn owed_challenge(
    state: &AppState,
    req: &HttpRequest,
    request_id: &str,
) -> Result<Option<(SecondFactorChallenge, Option<Cookie<'static>>)>, PageError> {
    let secure = state.secure_cookies();
    let now = state.now();
    if let Some(cookie) = req.cookie(challenge_cookie_name(secure)) {
        if let Some(challenge) = find_challenge(&state.db, cookie.value(), now).await? {
            if challenge.request_id.as_deref().unwrap_or_default() == request_id {
                return Ok(Some((challenge, None)));
            }
        }
    }
    if request_id.is_empty() {
        return Ok(None);
    }
    let Some((pending, _)) = pending_and_client(state, request_id).await? else {
        return Ok(None);
    };
    let Some(session) = state.current_session(req).await? else {
        return Ok(None);
    };
    // A step-up only for a request that waits for this person's second factor.
    if has_second_factor(&session.amr) || !pending.waits_for(FlowStep::SecondFactor, &session.user_id) {
        return Ok(None);
    }
    let (value, challenge) = start_challenge(
        &state.db,
        NewChallenge {
            user_id: &session.user_id,
            request_id: Some(request_id),
            next_path: None,
            session_sid: Some(&session.sid),
        },
        now,
    )
    .await?;
    Ok(Some((challenge, Some(challenge_cookie(value, secure)))))
}

/// Where a browser that owes nothing goes: back to the password for a live request.
async fn nothing_owed(state: &AppState, request_id: &str) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    if !request_id.is_empty() && pending_and_client(state, request_id).await?.is_some() {
        return Ok(redirect_found(&format!(
            "{}/login?request={request_id}",
            state.issuer()
        )));
    }
    Err(expired_request_page().in_demo(demo))
}

/// The person a challenge is for (recorded at the password step just before it).
async fn challenger(state: &AppState, challenge: &SecondFactorChallenge) -> Result<Person, PageError> {
    find_person(&state.db, &challenge.user_id)
        .await?
        .ok_or_else(|| expired_request_page().in_demo(state.config.demo))
}

async fn username_of(state: &AppState, user_id: &str) -> Result<(String, Option<String>), PageError> {
    Ok(find_person(&state.db, user_id)
        .await?
        .map(|person| (person.claims.username, person.claims.email))
        .unwrap_or_default())
}

struct CodePrompt<'a> {
    request_id: &'a str,
    user_id: &'a str,
    error: Option<&'a str>,
    status: StatusCode,
    cookie: Option<Cookie<'static>>,
}

async fn code_page(state: &AppState, req: &HttpRequest, prompt: CodePrompt<'_>) -> Result<HttpResponse, PageError> {
    let client = match prompt.request_id {
        "" => None,
        id => pending_and_client(state, id).await?.map(|(_, client)| client),
    };
    let (username, _) = username_of(state, prompt.user_id).await?;
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = TotpLoginPage {
        demo: state.config.demo,
        request_id: prompt.request_id.to_string(),
        csrf_token: csrf.token,
        client_name: client
            .as_ref()
            .map(|c| c.display_name().to_string())
            .unwrap_or_else(|| "Gatehouse".into()),
        username,
        digits: state.config.mfa.digits,
        error: prompt.error.map(str::to_string),
    };
    let mut builder = html_response(prompt.status);
    builder.insert_header(("Content-Security-Policy", csp_for_client(client.as_deref())));
    for cookie in [csrf.cookie, prompt.cookie].into_iter().flatten() {
        builder.cookie(cookie);
    }
    Ok(render_page(&mut builder, &page))
}

pub async fn get_login_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> Result<HttpResponse, PageError> {
    let request_id = query.request.clone().unwrap_or_default();
    let Some((challenge, cookie)) = owed_challenge(&state, &req, &request_id).await? else {
        return nothing_owed(&state, &request_id).await;
    };
    if !has_active_totp(&state.db, &challenge.user_id)
        .await
        .map_err(mfa_failure)?
    {
        let mut response = redirect_found(&format!(
            "{}{}",
            state.issuer(),
            page_url("/login/totp/enrol", &request_id)
        ));
        if let Some(cookie) = cookie {
            response.add_cookie(&cookie).map_err(PageError::internal)?;
        }
        return Ok(response);
    }
    let prompt = CodePrompt {
        request_id: &request_id,
        user_id: &challenge.user_id,
        error: None,
        status: StatusCode::OK,
        cookie,
    };
    code_page(&state, &req, prompt).await
}

pub async fn post_login_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((challenge, cookie)) = owed_challenge(&state, &req, &form.request).await? else {
        return nothing_owed(&state, &form.request).await;
    };
    note_sub(&challenge.user_id);
    let again = |error: &'static str, status: StatusCode, cookie: Option<Cookie<'static>>| CodePrompt {
        request_id: &form.request,
        user_id: &challenge.user_id,
        error: Some(error),
        status,
        cookie,
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let prompt = again(
            "This form had expired. Please enter the code again.",
            StatusCode::BAD_REQUEST,
            cookie,
        );
        return code_page(&state, &req, prompt).await;
    }
    let code = normalized_code(&form.code);
    if code.is_empty() {
        return code_page(&state, &req, again("Enter the code.", StatusCode::OK, cookie)).await;
    }
    let now = state.now();
    let limits = MfaLimits::from(&state.config.mfa);
    let checked = if form.method == "recovery" {
        use_recovery_code(&state.db, &limits, &challenge.user_id, &code, &state.audit, now).await
    } else {
        let settings = TotpSettings::from(&state.config.mfa);
        verify_totp(
            &state.db,
            &state.master_key,
            &settings,
            &limits,
            &challenge.user_id,
            &code,
            &state.audit,
            now,
        )
        .await
    };
    match checked {
        Ok(()) => complete_second_factor(&state, &req, challenge, None).await,
        Err(error) if error.is_person_error() => {
            let (status, outcome) = match error {
                MfaError::LockedOut { .. } => (StatusCode::TOO_MANY_REQUESTS, SignInOutcome::RateLimited),
                _ => (StatusCode::OK, SignInOutcome::SecondFactorFailed),
            };
            state.metrics.sign_in(outcome);
            let mut response = code_page(&state, &req, again(error.person_message(), status, cookie)).await?;
            if let Some(seconds) = error.retry_after(now) {
                if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&seconds.to_string()) {
                    response
                        .headers_mut()
                        .insert(actix_web::http::header::RETRY_AFTER, value);
                }
            }
            Ok(response)
        }
        Err(error) => Err(mfa_failure(error)),
    }
}

/// The second factor is proven: the challenge is used up, the single sign-on session
/// starts (replacing any earlier one, so a planted session id never gains the second
/// factor), and the sign-in continues. With `recovery_codes` (an enrolment), they are
/// shown first, and the setup link cookie goes (its link is spent).
async fn complete_second_factor(
    state: &AppState,
    req: &HttpRequest,
    challenge: SecondFactorChallenge,
    recovery_codes: Option<Vec<String>>,
) -> Result<HttpResponse, PageError> {
    if !finish_challenge(&state.db, &challenge).await? {
        return Err(expired_request_page().in_demo(state.config.demo));
    }
    let (username, _) = username_of(state, &challenge.user_id).await?;
    let landing = challenge.next_path.as_deref().unwrap_or("/");
    let secure = state.secure_cookies();
    let mut extra_cookies = vec![clear_challenge_cookie(secure)];
    if recovery_codes.is_some() {
        extra_cookies.push(clear_setup_cookie(secure));
    }
    finish_sign_in(
        state,
        req,
        FinishedSignIn {
            user_id: &challenge.user_id,
            username: &username,
            amr: &[AMR_PASSWORD, AMR_OTP],
            stepped_up_sid: challenge.session_sid.as_deref(),
            request_id: challenge.request_id.as_deref().unwrap_or_default(),
            landing,
            recovery_codes,
            extra_cookies,
        },
    )
    .await
}

/// What the enrolment page shows, made fresh or carried over from the form.
pub(super) struct EnrolmentView {
    pub qr_png_base64: String,
    pub secret_grouped: String,
    pub otpauth_url: String,
}

impl EnrolmentView {
    /// The values posted back with a wrong code, when they look like what was shown.
    pub(super) fn from_form(form: &EnrolForm) -> Option<EnrolmentView> {
        let qr_ok = !form.qr_png_base64.is_empty()
            && form
                .qr_png_base64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        let secret_ok = form
            .secret_grouped
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b) || b == b' ');
        let url_ok = form.otpauth_url.starts_with("otpauth://totp/");
        (qr_ok && secret_ok && url_ok).then(|| EnrolmentView {
            qr_png_base64: form.qr_png_base64.clone(),
            secret_grouped: form.secret_grouped.clone(),
            otpauth_url: form.otpauth_url.clone(),
        })
    }
}

/// A new (not yet active) secret for `user_id`, ready to show.
pub(super) async fn new_enrolment(state: &AppState, user_id: &str) -> Result<(EnrolmentView, String), PageError> {
    let (username, email) = username_of(state, user_id).await?;
    let label = render_account_label(&state.config.mfa.account_label, &username, email.as_deref());
    let settings = TotpSettings::from(&state.config.mfa);
    let enrolment = begin_enrolment(&state.db, &state.master_key, &settings, user_id, &label, state.now())
        .await
        .map_err(mfa_failure)?;
    Ok((
        EnrolmentView {
            secret_grouped: enrolment.grouped(),
            qr_png_base64: enrolment.qr_png_base64.clone(),
            otpauth_url: enrolment.otpauth_url.clone(),
        },
        label,
    ))
}

pub(super) struct EnrolPrompt<'a> {
    pub action: &'a str,
    pub request_id: &'a str,
    pub user_id: &'a str,
    pub label: String,
    pub view: EnrolmentView,
    pub error: Option<&'a str>,
    pub cookie: Option<Cookie<'static>>,
}

pub(super) async fn enrol_page(
    state: &AppState,
    req: &HttpRequest,
    prompt: EnrolPrompt<'_>,
) -> Result<HttpResponse, PageError> {
    let (username, email) = username_of(state, prompt.user_id).await?;
    let label = if prompt.label.is_empty() {
        render_account_label(&state.config.mfa.account_label, &username, email.as_deref())
    } else {
        prompt.label
    };
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = TotpEnrolPage {
        demo: state.config.demo,
        action: prompt.action.to_string(),
        request_id: prompt.request_id.to_string(),
        csrf_token: csrf.token,
        username,
        account_label: label,
        qr_png_base64: prompt.view.qr_png_base64,
        secret_grouped: prompt.view.secret_grouped,
        otpauth_url: prompt.view.otpauth_url,
        digits: state.config.mfa.digits,
        error: prompt.error.map(str::to_string),
    };
    let mut builder = html_response(StatusCode::OK);
    for cookie in [csrf.cookie, prompt.cookie].into_iter().flatten() {
        builder.cookie(cookie);
    }
    Ok(render_page(&mut builder, &page))
}

pub async fn get_login_totp_enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> Result<HttpResponse, PageError> {
    let request_id = query.request.clone().unwrap_or_default();
    let Some((challenge, cookie)) = owed_challenge(&state, &req, &request_id).await? else {
        return nothing_owed(&state, &request_id).await;
    };
    if has_active_totp(&state.db, &challenge.user_id)
        .await
        .map_err(mfa_failure)?
    {
        // Enrolment never replaces a second factor without proving the current one.
        let mut response = redirect_found(&format!("{}{}", state.issuer(), page_url("/login/totp", &request_id)));
        if let Some(cookie) = cookie {
            response.add_cookie(&cookie).map_err(PageError::internal)?;
        }
        return Ok(response);
    }
    let person = challenger(&state, &challenge).await?;
    if let Some(refusal) = enrolment_refusal(&state, &req, &person).await? {
        return Err(refusal);
    }
    let (view, label) = new_enrolment(&state, &challenge.user_id).await?;
    let prompt = EnrolPrompt {
        action: "/login/totp/enrol",
        request_id: &request_id,
        user_id: &challenge.user_id,
        label,
        view,
        error: None,
        cookie,
    };
    enrol_page(&state, &req, prompt).await
}

pub async fn post_login_totp_enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((challenge, _)) = owed_challenge(&state, &req, &form.request).await? else {
        return nothing_owed(&state, &form.request).await;
    };
    if has_active_totp(&state.db, &challenge.user_id)
        .await
        .map_err(mfa_failure)?
    {
        return Ok(redirect_see_other(&format!(
            "{}{}",
            state.issuer(),
            page_url("/login/totp", &form.request)
        )));
    }
    let person = challenger(&state, &challenge).await?;
    let csrf_ok = state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token);
    let confirmed = if csrf_ok {
        confirm_enrolment_here(&state, &req, &person, &normalized_code(&form.code)).await?
    } else {
        Err(EnrolmentError::Mfa(MfaError::WrongCode))
    };
    match confirmed {
        Ok(codes) => complete_second_factor(&state, &req, challenge, Some(codes)).await,
        Err(EnrolmentError::SetupLinkNeeded(problem)) => Err(setup_link_needed_page(problem, state.config.demo)),
        Err(EnrolmentError::Mfa(error)) if error.is_person_error() => {
            if csrf_ok {
                state.metrics.sign_in(match error {
                    MfaError::LockedOut { .. } => SignInOutcome::RateLimited,
                    _ => SignInOutcome::SecondFactorFailed,
                });
            }
            let message = if !csrf_ok {
                "This form had expired. Please enter the code again."
            } else if matches!(error, MfaError::NotEnrolled) {
                "This setup was replaced by a newer one. Scan the new QR code."
            } else {
                error.person_message()
            };
            let view = match EnrolmentView::from_form(&form).filter(|_| !matches!(error, MfaError::NotEnrolled)) {
                Some(view) => (view, String::new()),
                None => new_enrolment(&state, &challenge.user_id).await?,
            };
            let prompt = EnrolPrompt {
                action: "/login/totp/enrol",
                request_id: &form.request,
                user_id: &challenge.user_id,
                label: view.1,
                view: view.0,
                error: Some(message),
                cookie: None,
            };
            enrol_page(&state, &req, prompt).await
        }
        Err(EnrolmentError::Mfa(error)) => Err(mfa_failure(error)),
    }
}

/// `/login/continue?request=…`: resumes a pending request once the person is signed in
/// (after the recovery codes were shown).
pub async fn get_login_continue(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let request_id = query.request.clone().unwrap_or_default();
    let (pending, client) = pending_and_client(&state, &request_id)
        .await
        .map_err(|e| e.in_demo(demo))?
        .ok_or_else(|| expired_request_page().in_demo(demo))?;
    let session = state.current_session(&req).await?;
    resume_request(&state, &req, pending, &client, session.as_ref(), false).await
}
