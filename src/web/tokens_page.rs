//! `/account/tokens`: the signed-in person's personal access tokens. They list and revoke
//! their tokens and create new ones; a new token's secret is shown once, on the answer to
//! the form, and stored only as a hash. The `admin` scope is offered to administrators, and
//! granted only from a session signed in with the second factor (administration needs it).

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::authorization::browser_session::BrowserSession;
use crate::authorization::people::find_person;
use crate::authorization::scopes::SUPPORTED_SCOPES;
use crate::authorization::second_factor::has_second_factor;
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::redirect::redirect_found;
use crate::http::token_pages::{CreatedToken, ScopeChoice, TokenFormView, TokenRow, TokensPage};
use crate::tokens::personal_access_token::{
    check_personal_access_token_request, create_personal_access_token_within_limit, list_personal_access_tokens,
    revoke_personal_access_token, PatCreator, PatProblem, PatRequest, PatRevocation, ADMIN_SCOPE,
};

const EXPIRED_FORM: &str = "This form had expired. Please try again.";
const ADMIN_SCOPE_DESCRIPTION: &str = "Use the admin API (administrators only)";

/// The signed-in person, as this page needs them.
struct Viewer {
    session: BrowserSession,
    username: String,
    administrator: bool,
}

impl Viewer {
    fn creator<'a>(&self, state: &'a AppState) -> PatCreator<'a> {
        PatCreator {
            config: &state.config.personal_access_tokens,
            administrator: self.administrator,
            second_factor: has_second_factor(&self.session.amr),
        }
    }
}

/// The signed-in person, or the way to sign in and come back here.
async fn viewer(state: &AppState, req: &HttpRequest) -> Result<Result<Viewer, HttpResponse>, PageError> {
    let Some(session) = state.current_session(req).await? else {
        return Ok(Err(redirect_found(&format!(
            "{}/login?next=/account/tokens",
            state.issuer()
        ))));
    };
    let person = find_person(&state.db, &session.user_id).await?;
    let claims = person.map(|p| p.claims).unwrap_or_default();
    let admin = state.admin_groups().await.map_err(PageError::internal)?;
    Ok(Ok(Viewer {
        administrator: admin.admits(&claims.groups, &claims.group_dns),
        username: claims.username,
        session,
    }))
}

/// What the create form held, as sent.
#[derive(Debug, Default)]
struct TokenFormInput {
    csrf_token: String,
    name: String,
    scopes: Vec<String>,
    lifetime_days: String,
    allowed_ips: String,
}

/// Reads the create form; `scope` repeats, once per ticked box.
fn parse_token_form(body: &[u8]) -> TokenFormInput {
    let mut input = TokenFormInput::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "csrf_token" => input.csrf_token = value.into_owned(),
            "name" => input.name = value.into_owned(),
            "scope" => input.scopes.push(value.into_owned()),
            "lifetime_days" => input.lifetime_days = value.into_owned(),
            "allowed_ips" => input.allowed_ips = value.into_owned(),
            _ => {}
        }
    }
    input
}

fn scope_description(scope: &str) -> &'static str {
    if scope == ADMIN_SCOPE {
        return ADMIN_SCOPE_DESCRIPTION;
    }
    SUPPORTED_SCOPES
        .iter()
        .find(|(name, _)| *name == scope)
        .map_or("", |(_, description)| description)
}

/// The create form: what was entered, or the defaults (`openid` ticked, the default expiry).
fn form_view(state: &AppState, viewer: &Viewer, input: Option<&TokenFormInput>, live_tokens: usize) -> TokenFormView {
    let config = &state.config.personal_access_tokens;
    let creator = viewer.creator(state);
    let checked = |scope: &str| match input {
        Some(input) => input.scopes.iter().any(|s| s == scope),
        None => scope == "openid",
    };
    TokenFormView {
        name: input.map(|i| i.name.clone()).unwrap_or_default(),
        scopes: creator
            .offered_scopes()
            .into_iter()
            .map(|scope| ScopeChoice {
                name: scope.to_string(),
                description: scope_description(scope).to_string(),
                checked: checked(scope),
            })
            .collect(),
        lifetime_days: input.map_or_else(|| config.default_lifetime_days.to_string(), |i| i.lifetime_days.clone()),
        max_lifetime_days: config.max_lifetime_days,
        allowed_ips: input.map(|i| i.allowed_ips.clone()).unwrap_or_default(),
        admin_needs_second_factor: creator.administrator && !creator.second_factor,
        at_limit: live_tokens >= config.max_per_person as usize,
        max_per_person: config.max_per_person,
    }
}

/// What to show besides the list.
#[derive(Default)]
struct Outcome<'a> {
    created: Option<CreatedToken>,
    notice: Option<String>,
    error: Option<String>,
    problems: Vec<String>,
    /// The form as sent, to show again.
    input: Option<&'a TokenFormInput>,
}

async fn tokens_page(
    state: &AppState,
    req: &HttpRequest,
    viewer: &Viewer,
    status: StatusCode,
    outcome: Outcome<'_>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let tokens = list_personal_access_tokens(&state.db, Some(&viewer.session.user_id)).await?;
    let live = tokens.iter().filter(|token| token.is_active(now)).count();
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = TokensPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: viewer.username.clone(),
        tokens: tokens.iter().map(|token| TokenRow::from_token(token, now)).collect(),
        created: outcome.created,
        notice: outcome.notice,
        error: outcome.error,
        problems: outcome.problems,
        form: form_view(state, viewer, outcome.input, live),
    };
    let mut builder = html_response(status);
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

/// `GET /account/tokens`.
pub async fn get_account_tokens(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let viewer = match viewer(&state, &req).await? {
        Ok(viewer) => viewer,
        Err(redirect) => return Ok(redirect),
    };
    tokens_page(&state, &req, &viewer, StatusCode::OK, Outcome::default()).await
}

/// `POST /account/tokens`: creates a token and shows its secret once; a mistake shows the
/// form again with what was entered and every problem.
pub async fn post_account_tokens(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let viewer = match viewer(&state, &req).await? {
        Ok(viewer) => viewer,
        Err(redirect) => return Ok(redirect),
    };
    let input = parse_token_form(&body);
    if !state.csrf.verify(&req, state.secure_cookies(), &input.csrf_token) {
        let outcome = Outcome {
            problems: vec![EXPIRED_FORM.to_string()],
            input: Some(&input),
            ..Outcome::default()
        };
        return tokens_page(&state, &req, &viewer, StatusCode::BAD_REQUEST, outcome).await;
    }
    let now = state.now();
    let user_id = viewer.session.user_id.clone();
    let existing = list_personal_access_tokens(&state.db, Some(&user_id)).await?;
    let request = PatRequest {
        name: &input.name,
        scopes: &input.scopes,
        lifetime_days: &input.lifetime_days,
        allowed_ips: &input.allowed_ips,
    };
    let planned = match check_personal_access_token_request(&request, &viewer.creator(&state), &existing, now) {
        Ok(planned) => planned,
        Err(problems) => {
            let outcome = Outcome {
                problems: problems.iter().map(ToString::to_string).collect(),
                input: Some(&input),
                ..Outcome::default()
            };
            return tokens_page(&state, &req, &viewer, StatusCode::BAD_REQUEST, outcome).await;
        }
    };
    let limit = state.config.personal_access_tokens.max_per_person;
    let Some((secret, token)) =
        create_personal_access_token_within_limit(&state.db, planned.for_user(&user_id), limit, now).await?
    else {
        let outcome = Outcome {
            problems: vec![PatProblem::TooManyTokens(limit).to_string()],
            input: Some(&input),
            ..Outcome::default()
        };
        return tokens_page(&state, &req, &viewer, StatusCode::BAD_REQUEST, outcome).await;
    };
    tracing::info!(sub = %user_id, token_id = %token.id, "personal access token created");
    state.audit.record(
        AuditEvent::PersonalAccessTokenCreated {
            sub: user_id,
            token_id: token.id.clone(),
            name: token.name.clone(),
            scope: token.scopes.join(" "),
        },
        now,
    );
    let outcome = Outcome {
        created: Some(CreatedToken {
            name: token.name,
            secret,
        }),
        ..Outcome::default()
    };
    tokens_page(&state, &req, &viewer, StatusCode::OK, outcome).await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /account/tokens/{id}/revoke`: the token stops working at once.
pub async fn post_account_token_revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, PageError> {
    let viewer = match viewer(&state, &req).await? {
        Ok(viewer) => viewer,
        Err(redirect) => return Ok(redirect),
    };
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        let outcome = Outcome {
            error: Some(EXPIRED_FORM.to_string()),
            ..Outcome::default()
        };
        return tokens_page(&state, &req, &viewer, StatusCode::BAD_REQUEST, outcome).await;
    }
    let now = state.now();
    let user_id = &viewer.session.user_id;
    let (status, outcome) = match revoke_personal_access_token(&state.db, &id, Some(user_id), now).await? {
        PatRevocation::Revoked(token) => {
            tracing::info!(sub = %user_id, token_id = %token.id, "personal access token revoked by its owner");
            state.audit.record(
                AuditEvent::PersonalAccessTokenRevoked {
                    sub: user_id.clone(),
                    token_id: token.id.clone(),
                    by: user_id.clone(),
                },
                now,
            );
            let notice = format!(
                "The token \u{201c}{}\u{201d} was revoked: it no longer works.",
                token.name
            );
            (
                StatusCode::OK,
                Outcome {
                    notice: Some(notice),
                    ..Outcome::default()
                },
            )
        }
        PatRevocation::AlreadyRevoked(token) => {
            let notice = format!("The token \u{201c}{}\u{201d} was already revoked.", token.name);
            (
                StatusCode::OK,
                Outcome {
                    notice: Some(notice),
                    ..Outcome::default()
                },
            )
        }
        PatRevocation::NotFound => (
            StatusCode::NOT_FOUND,
            Outcome {
                error: Some("There is no such token among yours.".to_string()),
                ..Outcome::default()
            },
        ),
    };
    tokens_page(&state, &req, &viewer, status, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_keeps_repeated_scopes_and_typed_text() {
        let input = parse_token_form(
            b"csrf_token=abc&name=ci+bot&scope=openid&scope=email&lifetime_days=7&allowed_ips=10.0.0.0%2F8%0D%0A192.0.2.1",
        );
        assert_eq!(input.csrf_token, "abc");
        assert_eq!(input.name, "ci bot");
        assert_eq!(input.scopes, ["openid", "email"]);
        assert_eq!(input.lifetime_days, "7");
        assert_eq!(input.allowed_ips, "10.0.0.0/8\r\n192.0.2.1");
    }
}
