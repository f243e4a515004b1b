//! `/login/totp/setup?token=...`: a second-factor setup link, opened by the person it was
//! made for. The token goes into a short-lived HttpOnly cookie (never into a page or a
//! later URL) and the browser goes on to sign in, then to set up the authenticator; the
//! enrolment pages ask `authorization::second_factor_enrolment` whether the link counts
//! for the person who signed in, and the link is spent when the enrolment is confirmed.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::app::state::AppState;
use crate::authorization::people::Person;
use crate::authorization::second_factor_enrolment::{
    confirm_permitted_enrolment, decide_enrolment, EnrolmentContext, EnrolmentDecision, EnrolmentError,
    SetupLinkProblem,
};
use crate::http::page_response::PageError;
use crate::http::redirect::redirect_see_other;
use crate::mfa::{find_setup_link, plausible_setup_token, TotpSettings};
use crate::settings::admin_groups::AdminGroups;

/// How long the browser keeps the link's token: enough to sign in and scan a QR code.
const SETUP_COOKIE_SECONDS: i64 = 30 * 60;
/// Where the browser signs in after opening a link, and lands to set up the authenticator.
const AFTER_LINK: &str = "/login?next=%2Faccount%2Ftotp%2Fenrol";

#[derive(Deserialize)]
pub struct SetupLinkQuery {
    #[serde(default)]
    token: String,
}

fn setup_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-gatehouse_totp_setup"
    } else {
        "gatehouse_totp_setup"
    }
}

fn setup_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(setup_cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(Duration::seconds(SETUP_COOKIE_SECONDS))
        .finish()
}

/// The removal of the setup link cookie, sent once the link is spent.
pub(super) fn clear_setup_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = setup_cookie(String::new(), secure);
    cookie.make_removal();
    cookie
}

/// The setup link token this browser brought, if any.
pub(super) fn setup_token(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(setup_cookie_name(secure))
        .map(|cookie| cookie.value().to_string())
        .filter(|value| !value.is_empty())
}

/// The page an administrator gets instead of an enrolment without a setup link.
pub(super) fn setup_link_needed_page(problem: SetupLinkProblem, demo: bool) -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Administrators set up their second factor with a setup link from another administrator",
        problem.person_message(),
    )
    .in_demo(demo)
}

/// What deciding an enrolment in this browser needs, read once per request.
struct EnrolmentInputs {
    admin_groups: AdminGroups,
    settings: TotpSettings,
    token: Option<String>,
}

impl EnrolmentInputs {
    async fn read(state: &AppState, req: &HttpRequest) -> Result<EnrolmentInputs, PageError> {
        Ok(EnrolmentInputs {
            admin_groups: state.admin_groups().await.map_err(PageError::internal)?,
            settings: TotpSettings::from(&state.config.mfa),
            token: setup_token(req, state.secure_cookies()),
        })
    }

    fn context<'a>(&'a self, state: &'a AppState) -> EnrolmentContext<'a> {
        EnrolmentContext {
            db: &state.db,
            master_key: &state.master_key,
            settings: &self.settings,
            admin_groups: &self.admin_groups,
            audit: &state.audit,
            now: state.now(),
        }
    }
}

/// Whether `person` may set up an authenticator now in this browser: `None`, or the page
/// that says why not (shown instead of a new secret).
pub(super) async fn enrolment_refusal(
    state: &AppState,
    req: &HttpRequest,
    person: &Person,
) -> Result<Option<PageError>, PageError> {
    let inputs = EnrolmentInputs::read(state, req).await?;
    match decide_enrolment(&inputs.context(state), person, inputs.token.as_deref())
        .await
        .map_err(PageError::internal)?
    {
        EnrolmentDecision::Allowed(_) => Ok(None),
        EnrolmentDecision::SetupLinkNeeded(problem) => {
            tracing::info!(sub = %person.id, ?problem, "an administrator without a setup link was not offered enrolment");
            Ok(Some(setup_link_needed_page(problem, state.config.demo)))
        }
    }
}

/// Confirms `person`'s pending enrolment with `code`, if they may enrol in this browser
/// (see `authorization::second_factor_enrolment::confirm_permitted_enrolment`).
pub(super) async fn confirm_enrolment_here(
    state: &AppState,
    req: &HttpRequest,
    person: &Person,
    code: &str,
) -> Result<Result<Vec<String>, EnrolmentError>, PageError> {
    let inputs = EnrolmentInputs::read(state, req).await?;
    Ok(confirm_permitted_enrolment(&inputs.context(state), person, inputs.token.as_deref(), code).await)
}

/// `GET /login/totp/setup?token=...`.
pub async fn get_second_factor_setup(
    state: web::Data<AppState>,
    query: web::Query<SetupLinkQuery>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let live = if plausible_setup_token(&query.token) {
        find_setup_link(&state.db, &query.token, state.now())
            .await
            .map_err(|e| PageError::internal(e).in_demo(demo))?
            .is_some()
    } else {
        false
    };
    if !live {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This setup link is not valid",
            "The link is wrong, was used already, was replaced by a newer one, or has expired. Ask an administrator \
             for a new one.",
        )
        .in_demo(demo));
    }
    let mut response = redirect_see_other(&format!("{}{AFTER_LINK}", state.issuer()));
    response
        .add_cookie(&setup_cookie(query.token.clone(), state.secure_cookies()))
        .map_err(PageError::internal)?;
    Ok(response)
}
