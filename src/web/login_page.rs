//! `/login`: the sign-in form, checked against the directory. On success a single sign-on
//! session starts and a pending authorization request (if any) continues.

use crate::http::csrf::set_csrf_cookie;
use crate::http::request_id::{note_client_id, note_sub};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::authorization::pending_authorization::{move_to_step, FlowStep, PendingAuthorization};
use crate::authorization::people::{record_sign_in, PersonClaims};
use crate::authorization::second_factor::{SecondFactorNeed, AMR_PASSWORD};
use crate::authorization::sign_in::{second_factor_owed, SignInPurpose};
use crate::directory::{Directory, DirectoryError, MAX_USERNAME_BYTES};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::LoginPage;
use crate::http::rate_limit::too_many_attempts_page;
use crate::metrics::SignInOutcome;
use crate::ratelimit::{SignInAttempts, LOGIN_FAILURES_RULE};

use super::page_support::{csp_for_client, expired_request_page, pending_and_client, RequestQuery};
use super::sign_in_finish::{finish_sign_in, FinishedSignIn};
use super::totp_page::{begin_second_factor, mfa_failure};

pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";
const DIRECTORY_UNAVAILABLE: &str =
    "The directory that checks passwords is unavailable right now. Please try again in a moment.";

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// What the sign-in form shows besides the CSRF token.
struct LoginFormView<'a> {
    pending: Option<&'a PendingAuthorization>,
    client: Option<&'a crate::authorization::client_registry::Client>,
    username: String,
    error: Option<&'a str>,
    next: String,
}

/// Administration always needs the second factor: an administrator signing in for the
/// admin pages goes through it (or enrols) whatever the policy.
async fn is_administrator(state: &AppState, claims: &PersonClaims) -> Result<bool, PageError> {
    let admin = state.admin_groups().await.map_err(PageError::internal)?;
    Ok(admin.admits(&claims.groups, &claims.group_dns))
}

/// `next` when it is a path on this server (`/admin`), never another site (`//evil`,
/// `/\evil`, `https://...`): it is where a person lands after signing in.
fn local_path(next: &str) -> Option<&str> {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic());
    safe.then_some(next)
}

pub async fn get_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RequestQuery>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let (pending, client) = match query.request.as_deref().filter(|r| !r.is_empty()) {
        Some(id) => match pending_and_client(&state, id).await.map_err(|e| e.in_demo(demo))? {
            Some(found) => (Some(found.0), Some(found.1)),
            None => return Err(expired_request_page().in_demo(demo)),
        },
        None => (None, None),
    };
    let username = pending
        .as_ref()
        .and_then(|p| p.request.login_hint.clone())
        .unwrap_or_default();
    let next = query
        .next
        .as_deref()
        .and_then(local_path)
        .unwrap_or_default()
        .to_string();
    let view = LoginFormView {
        pending: pending.as_ref(),
        client: client.as_deref(),
        username,
        error: None,
        next,
    };
    Ok(login_form(&state, &req, view, StatusCode::OK))
}

fn login_form(state: &AppState, req: &HttpRequest, view: LoginFormView<'_>, status: StatusCode) -> HttpResponse {
    let LoginFormView {
        pending,
        client,
        username,
        error,
        next,
    } = view;
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = LoginPage {
        demo: state.config.demo,
        request_id: pending.map(|p| p.id.clone()).unwrap_or_default(),
        csrf_token: csrf.token,
        client_name: client
            .map(|c| c.display_name().to_string())
            .unwrap_or_else(|| "Gatehouse".into()),
        username,
        error: error.map(str::to_string),
        next,
    };
    let mut builder = html_response(status);
    builder.insert_header(("Content-Security-Policy", csp_for_client(client)));
    set_csrf_cookie(&mut builder, csrf.cookie);
    render_page(&mut builder, &page)
}

pub async fn post_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let form = form.into_inner();
    let (pending, client) = if form.request.is_empty() {
        (None, None)
    } else {
        match pending_and_client(&state, &form.request)
            .await
            .map_err(|e| e.in_demo(demo))?
        {
            Some((pending, client)) => {
                note_client_id(&client.client_id);
                (Some(pending), Some(client))
            }
            None => return Err(expired_request_page().in_demo(demo)),
        }
    };
    let username = form.username.trim().to_string();
    let next = local_path(&form.next).unwrap_or_default().to_string();
    // No real name is longer; a longer one is not sent back with the form.
    let shown_username = if username.len() <= MAX_USERNAME_BYTES && !username.chars().any(char::is_control) {
        username.clone()
    } else {
        String::new()
    };
    let again = |error: &str, status: StatusCode| {
        let view = LoginFormView {
            pending: pending.as_ref(),
            client: client.as_deref(),
            username: shown_username.clone(),
            error: Some(error),
            next: next.clone(),
        };
        login_form(&state, &req, view, status)
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return Ok(again(
            "This form had expired. Please enter your password again.",
            StatusCode::BAD_REQUEST,
        ));
    }
    if username.is_empty() || form.password.is_empty() {
        return Ok(again("Enter your username and password.", StatusCode::OK));
    }
    if username.len() > MAX_USERNAME_BYTES || username.chars().any(char::is_control) {
        // Not shown back, not looked up, not logged: no real name looks like this.
        return Ok(again(
            "That username is not valid. Check it and try again.",
            StatusCode::BAD_REQUEST,
        ));
    }

    // Failed passwords are counted per person (the directory entry the name finds), in the
    // database so the limit holds on every instance; the attempt is reserved before the
    // password is sent to the directory. Over the limit even the right password waits.
    let now = state.now();
    let attempts = SignInAttempts::new(
        &state.db,
        &state.attempt_keys,
        state.rate_limits.login_failure_policy(),
        &username,
        now,
    );
    let outcome = state
        .directory
        .authenticate_user_gated(&username, &form.password, &attempts)
        .await;
    if let Some(error) = attempts.take_failure() {
        return Err(PageError::internal(error).in_demo(demo));
    }
    let reserved = attempts.reserved();
    let entry = reserved.as_ref().and_then(|r| r.entry.clone());
    let user = match outcome {
        Ok(user) => user,
        Err(DirectoryError::AttemptRefused { retry_after }) => {
            state.metrics.sign_in(SignInOutcome::RateLimited);
            state.metrics.rate_limited(LOGIN_FAILURES_RULE);
            state.audit.record(
                AuditEvent::RateLimited {
                    limit: LOGIN_FAILURES_RULE,
                    key: attempts.attempt_key(),
                },
                now,
            );
            return Ok(too_many_attempts_page(retry_after, demo));
        }
        Err(error) if error.is_invalid_credentials() => {
            state.metrics.sign_in(SignInOutcome::WrongPassword);
            state.audit.record(
                AuditEvent::SignInFailed {
                    username: entry.as_ref().and_then(|(_, name)| name.clone()),
                    sub: entry.map(|(id, _)| id),
                    attempt_key: attempts.attempt_key(),
                    reason: "invalid_credentials",
                },
                now,
            );
            return Ok(again(INVALID_CREDENTIALS, StatusCode::OK));
        }
        Err(error) if error.person_message().is_some() => {
            // The password was right: not a guess, so it does not count.
            state.metrics.sign_in(SignInOutcome::AccountRefused);
            attempts.not_judged().await?;
            let sub = entry.as_ref().map(|(id, _)| id.as_str()).unwrap_or("-");
            tracing::info!(sub, reason = %error, "sign-in refused by account state");
            state.audit.record(
                AuditEvent::SignInFailed {
                    username: entry.as_ref().and_then(|(_, name)| name.clone()),
                    sub: entry.map(|(id, _)| id),
                    attempt_key: attempts.attempt_key(),
                    reason: "account_state",
                },
                now,
            );
            let message = error.person_message().unwrap_or(INVALID_CREDENTIALS);
            return Ok(again(message, StatusCode::OK));
        }
        Err(error) => {
            state.metrics.sign_in(SignInOutcome::DirectoryUnavailable);
            attempts.not_judged().await?;
            tracing::error!(error = %error, "directory error during sign-in");
            return Ok(again(DIRECTORY_UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE));
        }
    };

    attempts.succeeded().await?;
    let person = record_sign_in(&state.db, &user, now).await?;
    note_sub(&person.id);
    let purpose = match (&pending, &client) {
        (Some(pending), Some(client)) => SignInPurpose::Authorization {
            client,
            request: &pending.request,
        },
        _ => SignInPurpose::Landing {
            administration: next.starts_with("/admin") && is_administrator(&state, &person.claims).await?,
        },
    };
    let need = second_factor_owed(&state.db, &state.config.mfa, &person, purpose)
        .await
        .map_err(mfa_failure)?;
    if need != SecondFactorNeed::None {
        // The password was right; the session starts only after the second factor.
        tracing::info!(sub = %person.id, "password accepted, second factor owed");
        if let Some(mut pending) = pending {
            move_to_step(&state.db, &mut pending, FlowStep::SecondFactor, Some(&person.id)).await?;
        }
        let request_id = (!form.request.is_empty()).then_some(form.request.as_str());
        let next_path = (!next.is_empty()).then_some(next.as_str());
        return begin_second_factor(&state, &person.id, need, request_id, next_path).await;
    }
    let landing = if next.is_empty() { "/" } else { next.as_str() };
    finish_sign_in(
        &state,
        &req,
        FinishedSignIn {
            user_id: &person.id,
            username: &person.claims.username,
            amr: &[AMR_PASSWORD],
            stepped_up_sid: None,
            request_id: pending.as_ref().map_or("", |p| p.id.as_str()),
            landing,
            recovery_codes: None,
            extra_cookies: Vec::new(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/admin"), Some("/admin"));
        assert_eq!(local_path("/admin/ldap"), Some("/admin/ldap"));
        for unsafe_target in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "admin",
            "",
            "/a b",
        ] {
            assert_eq!(local_path(unsafe_target), None, "{unsafe_target}");
        }
    }
}
