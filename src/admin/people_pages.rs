//! The people pages, for administrators: in the browser what the admin API offers for a
//! person.
//! - `GET /admin/people?q=TEXT`: everyone who has signed in, most recently signed in first,
//!   searched by username, name or email (case-insensitive substring);
//! - `GET /admin/people/{sub}`: what the directory said at the last sign-in, the second
//!   factor, the live sessions and the personal access tokens;
//! - `POST /admin/people/{sub}/revoke-all`: ends every session, grant and personal access
//!   token (audited `user.everything_revoked`, as `POST /admin/api/users/{sub}/revoke-all`);
//! - `POST /admin/people/{sub}/totp/reset`: removes the second factor (audited
//!   `totp.reset`, as `DELETE /admin/api/users/{sub}/totp`);
//! - `POST /admin/people/{sub}/second-factor-setup-link`: a one-time link for a person
//!   without a second factor to set one up (audited `totp.setup_link_created`, as
//!   `POST /admin/api/users/{sub}/second-factor-setup-link`).
//!
//! The changes are CSRF-protected forms. The first two are answered with a 303 back to the
//! person's page, whose notice is chosen from a fixed list (never text from the address
//! bar); a setup link is shown once on the page that answers its form.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder};
use serde::Deserialize;

use super::access::AdminSession;
use crate::app::state::AppState;
use crate::authorization::browser_session::{describe_user_agent, list_sessions};
use crate::authorization::people::{find_person, PersonClaims};
use crate::authorization::revoke_everything::revoke_everything_by_administrator;
use crate::authorization::second_factor_enrolment::{issue_setup_link, setup_link_url, SetupLinkError};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::http::pages::format_time;
use crate::http::people_pages::{PeoplePage, PersonPage, PersonRow, PersonSummary, SessionRow, SetupLinkRow};
use crate::http::redirect::redirect_see_other;
use crate::http::token_pages::TokenRow;
use crate::mfa::{enrolled_at, has_active_totp, outstanding_setup_link, reset_totp, MfaError};
use crate::storage::entities::users;
use crate::tokens::personal_access_token::list_personal_access_tokens;

/// The most people a search lists.
pub const PEOPLE_LIMIT: usize = 200;
/// How many people are read from the database at a time while searching.
const SEARCH_BATCH: u64 = 500;
/// The longest search text kept, in characters.
const MAX_QUERY_CHARS: usize = 100;

/// The first value of `name` in the request's query string (a repeated or malformed
/// parameter is not an error a person should see).
fn query_value(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The claims stored at the last sign-in; a record that no longer parses still has its
/// username.
fn claims_of(model: &users::Model) -> PersonClaims {
    serde_json::from_str(&model.claims).unwrap_or_else(|_| PersonClaims {
        username: model.username.clone(),
        ..PersonClaims::default()
    })
}

/// Whether the person's username, name or email contains `needle` (already lower-cased);
/// an empty needle matches everyone.
pub fn person_matches(username: &str, claims: &PersonClaims, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let contains = |text: &str| text.to_lowercase().contains(needle);
    contains(username)
        || [&claims.name, &claims.given_name, &claims.family_name, &claims.email]
            .into_iter()
            .flatten()
            .any(|text| contains(text))
}

/// The people matching `needle`, most recently signed in first, at most [`PEOPLE_LIMIT`].
/// Read in batches, so a large table is searched whole without being held in memory.
async fn search_people(
    db: &impl ConnectionTrait,
    needle: &str,
) -> Result<Vec<(users::Model, PersonClaims)>, sea_orm::DbErr> {
    let mut found = Vec::new();
    let mut batches = users::Entity::find()
        .order_by_desc(users::Column::LastLoginAt)
        .order_by_asc(users::Column::Id)
        .paginate(db, SEARCH_BATCH);
    while let Some(models) = batches.fetch_and_next().await? {
        for model in models {
            let claims = claims_of(&model);
            if person_matches(&model.username, &claims, needle) {
                found.push((model, claims));
                if found.len() >= PEOPLE_LIMIT {
                    return Ok(found);
                }
            }
        }
    }
    Ok(found)
}

/// `GET /admin/people[?q=TEXT]`.
pub async fn get_people_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
) -> Result<HttpResponse, PageError> {
    let query: String = query_value(&req, "q")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    let people = search_people(&state.db, &query.to_lowercase())
        .await
        .map_err(|error| PageError::from(error).in_demo(state.config.demo))?
        .into_iter()
        .map(|(model, claims)| PersonRow {
            last_sign_in: format_time(model.last_login_at),
            sub: model.id,
            username: model.username,
            name: claims.name,
            email: claims.email,
        })
        .collect();
    let page = PeoplePage {
        demo: state.config.demo,
        username: admin.username,
        query,
        people,
        limit: PEOPLE_LIMIT,
    };
    Ok(render_page(&mut html_response(StatusCode::OK), &page))
}

fn unknown_person(demo: bool) -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "No such person",
        "Nobody with this id has signed in to Gatehouse. People are listed on the People page of the administration after their first sign-in.",
    )
    .in_demo(demo)
}

async fn find_user(state: &AppState, sub: &str) -> Result<users::Model, PageError> {
    let demo = state.config.demo;
    users::Entity::find_by_id(sub.to_string())
        .one(&state.db)
        .await
        .map_err(|error| PageError::from(error).in_demo(demo))?
        .ok_or_else(|| unknown_person(demo))
}

/// What the person's page says above and besides what is stored.
#[derive(Default)]
struct PageMessage {
    notice: Option<String>,
    error: Option<String>,
    /// A setup link just made, shown this once.
    new_setup_link: Option<String>,
}

/// The person's live setup link, with its maker's username when known.
async fn setup_link_row(state: &AppState, sub: &str, now: i64) -> Result<Option<SetupLinkRow>, PageError> {
    let Some(link) = outstanding_setup_link(&state.db, sub, now)
        .await
        .map_err(PageError::internal)?
    else {
        return Ok(None);
    };
    let created_by = match find_person(&state.db, &link.created_by).await? {
        Some(maker) => maker.claims.username,
        None => link.created_by.clone(),
    };
    Ok(Some(SetupLinkRow {
        created_by,
        created: format_time(link.created_at),
        expires: format_time(link.expires_at),
    }))
}

/// The person's page, with `message` above it.
async fn person_page(
    state: &AppState,
    req: &HttpRequest,
    admin: &AdminSession,
    sub: &str,
    status: StatusCode,
    message: PageMessage,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let internal = |error: &dyn std::fmt::Display| PageError::internal(error).in_demo(demo);
    let model = find_user(state, sub).await?;
    let claims = claims_of(&model);
    let now = state.now();
    let second_factor = if has_active_totp(&state.db, sub).await.map_err(|e| internal(&e))? {
        let since = enrolled_at(&state.db, sub).await.map_err(|e| internal(&e))?;
        Some(since.map(format_time).unwrap_or_default())
    } else {
        None
    };
    let sessions = list_sessions(&state.db, sub, now, true)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .map(|session| SessionRow {
            browser: describe_user_agent(session.user_agent.as_deref()),
            ip: session.ip,
            signed_in: format_time(session.created_at),
            last_seen: format_time(session.last_seen_at),
        })
        .collect();
    let setup_link = if second_factor.is_none() {
        setup_link_row(state, sub, now).await.map_err(|e| e.in_demo(demo))?
    } else {
        None
    };
    let tokens = list_personal_access_tokens(&state.db, Some(sub))
        .await
        .map_err(|e| internal(&e))?
        .iter()
        .map(|token| TokenRow::from_token(token, now))
        .collect();
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = PersonPage {
        demo,
        csrf_token: csrf.token,
        username: admin.username.clone(),
        person: PersonSummary {
            sub: model.id,
            username: model.username,
            name: claims.name,
            email: claims.email,
            groups: claims.groups.join(", "),
            first_sign_in: format_time(model.created_at),
            last_sign_in: format_time(model.last_login_at),
        },
        second_factor,
        setup_link,
        new_setup_link: message.new_setup_link,
        sessions,
        tokens,
        notice: message.notice,
        error: message.error,
    };
    let mut builder = html_response(status);
    set_csrf_cookie(&mut builder, csrf.cookie);
    Ok(render_page(&mut builder, &page))
}

fn plural(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// The notice after a change, from the `done` parameter of the redirect (a fixed list; the
/// counts are numbers or nothing).
fn outcome_notice(req: &HttpRequest) -> Option<String> {
    let count = |name: &str| {
        query_value(req, name)
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
    };
    match query_value(req, "done")?.as_str() {
        "everything-revoked" => Some(format!(
            "Ended {}, stopped {} and revoked {}.",
            plural(count("sessions"), "session", "sessions"),
            plural(count("grants"), "application grant", "application grants"),
            plural(count("tokens"), "personal access token", "personal access tokens"),
        )),
        "second-factor-reset" => Some(
            "The second factor was reset: a new authenticator is set up at the next sign-in when one is required."
                .to_string(),
        ),
        "no-second-factor" => Some("There was no second factor to reset.".to_string()),
        _ => None,
    }
}

/// `GET /admin/people/{sub}`.
pub async fn get_person_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    sub: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let message = PageMessage {
        notice: outcome_notice(&req),
        ..PageMessage::default()
    };
    person_page(&state, &req, &admin, &sub, StatusCode::OK, message).await
}

/// `/admin/people/{sub}` with every character outside the unreserved set percent-encoded,
/// so any `sub` stays one path segment; `query` is appended as is.
fn person_location(sub: &str, query: &str) -> String {
    let mut location = String::from("/admin/people/");
    for byte in sub.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            location.push(char::from(byte));
        } else {
            location.push_str(&format!("%{byte:02X}"));
        }
    }
    location.push('?');
    location.push_str(query);
    location
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf_token: String,
}

/// The person's page again with "expired" when the form's CSRF token does not verify.
async fn refuse_expired_form(
    state: &AppState,
    req: &HttpRequest,
    admin: &AdminSession,
    sub: &str,
) -> Result<HttpResponse, PageError> {
    let message = PageMessage {
        error: Some("This form had expired; nothing was changed. Please try again.".to_string()),
        ..PageMessage::default()
    };
    person_page(state, req, admin, sub, StatusCode::BAD_REQUEST, message).await
}

/// `POST /admin/people/{sub}/revoke-all`.
pub async fn post_revoke_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    sub: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let sub = sub.into_inner();
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return refuse_expired_form(&state, &req, &admin, &sub).await;
    }
    find_user(&state, &sub).await?;
    let now = state.now();
    let revoked = revoke_everything_by_administrator(&state.db, &state.audit, &sub, &admin.sub, now)
        .await
        .map_err(|error| PageError::from(error).in_demo(state.config.demo))?;
    let sessions = revoked.sessions.len() as u64;
    let query = format!(
        "done=everything-revoked&sessions={sessions}&grants={}&tokens={}",
        revoked.grants, revoked.personal_access_tokens
    );
    Ok(redirect_see_other(&person_location(&sub, &query)))
}

/// `POST /admin/people/{sub}/totp/reset`.
pub async fn post_reset_second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    sub: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let sub = sub.into_inner();
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return refuse_expired_form(&state, &req, &admin, &sub).await;
    }
    find_user(&state, &sub).await?;
    let done = match reset_totp(&state.db, &sub, &admin.sub, &state.audit, state.now()).await {
        Ok(()) => {
            tracing::info!(sub = %sub, by = %admin.sub, "an administrator reset a person's second factor");
            "second-factor-reset"
        }
        Err(MfaError::NotEnrolled) => "no-second-factor",
        Err(error) => return Err(PageError::internal(error).in_demo(state.config.demo)),
    };
    Ok(redirect_see_other(&person_location(&sub, &format!("done={done}"))))
}

/// `POST /admin/people/{sub}/second-factor-setup-link`: the link is shown once, on the
/// page that answers (no redirect, so it is never in an address or a history entry).
pub async fn post_create_setup_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    sub: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let sub = sub.into_inner();
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return refuse_expired_form(&state, &req, &admin, &sub).await;
    }
    let (status, message) = match issue_setup_link(&state.db, &sub, &admin.sub, &state.audit, state.now()).await {
        Ok(created) => {
            let notice = if created.replaced {
                "A new setup link was created; the previous one no longer works."
            } else {
                "A setup link was created."
            };
            let message = PageMessage {
                notice: Some(notice.to_string()),
                new_setup_link: Some(setup_link_url(state.issuer(), &created.token)),
                ..PageMessage::default()
            };
            (StatusCode::OK, message)
        }
        Err(SetupLinkError::UnknownPerson) => return Err(unknown_person(state.config.demo)),
        Err(SetupLinkError::AlreadyEnrolled) => {
            let message = PageMessage {
                error: Some(
                    "This person has a second factor already; no link was created. Reset it first if they lost it."
                        .to_string(),
                ),
                ..PageMessage::default()
            };
            (StatusCode::CONFLICT, message)
        }
        Err(SetupLinkError::Mfa(error)) => return Err(PageError::internal(error).in_demo(state.config.demo)),
    };
    person_page(&state, &req, &admin, &sub, status, message).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/people", web::get().to(get_people_page))
        .route("/admin/people/{sub}", web::get().to(get_person_page))
        .route("/admin/people/{sub}/revoke-all", web::post().to(post_revoke_all))
        .route(
            "/admin/people/{sub}/totp/reset",
            web::post().to(post_reset_second_factor),
        )
        .route(
            "/admin/people/{sub}/second-factor-setup-link",
            web::post().to(post_create_setup_link),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(name: Option<&str>, email: Option<&str>) -> PersonClaims {
        PersonClaims {
            username: "bob".to_string(),
            name: name.map(str::to_string),
            email: email.map(str::to_string),
            ..PersonClaims::default()
        }
    }

    #[test]
    fn search_matches_username_name_or_email_ignoring_case() {
        let bob = claims(Some("Bob Ångström"), Some("Bob@Example.org"));
        assert!(person_matches("bob", &bob, ""));
        assert!(person_matches("BobBy", &bob, "bob"));
        assert!(person_matches("x", &bob, "ångström"));
        assert!(person_matches("x", &bob, "@example.org"));
        assert!(!person_matches("x", &bob, "alice"));
        // Wildcards are plain text.
        assert!(!person_matches("bob", &claims(None, None), "b%"));
        assert!(person_matches("b%b", &claims(None, None), "b%"));
    }

    #[test]
    fn the_location_keeps_the_sub_one_path_segment() {
        assert_eq!(
            person_location("a b/c?d", "done=x"),
            "/admin/people/a%20b%2Fc%3Fd?done=x"
        );
        assert_eq!(
            person_location("3f2a-9b.c_~", "done=x"),
            "/admin/people/3f2a-9b.c_~?done=x"
        );
    }
}
