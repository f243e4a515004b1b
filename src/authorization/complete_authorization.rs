//! What happens to a validated authorization request: sign-in, second factor, consent, or
//! a response (code or error) at the client's redirect URI. One decision
//! ([`continue_authorization`]) for `/authorize` and for every page that resumes a pending
//! request; no page issues a code on its own.

use sea_orm::DatabaseConnection;

use super::authorization_code::issue_authorization_code;
use super::authorize_request::{redirect_with_parameters, AuthorizationRequest};
use super::browser_session::BrowserSession;
use super::client_registry::Client;
use super::consent::{has_consent, record_consent};
use super::pending_authorization::{
    delete_pending_authorization, move_to_step, record_consent_approval, save_pending_authorization, FlowStep,
    NewPendingAuthorization, PendingAuthorization, PendingError,
};
use super::people::{find_person, Person, PersonClaims};
use super::second_factor::{has_second_factor, SecondFactorNeed};
use super::sign_in::{second_factor_owed, SignInPurpose};
use crate::audit::{AuditEvent, AuditLog};
use crate::config::{Lifetimes, MfaConfig};
use crate::keys::KeyRing;
use crate::mfa::MfaError;
use crate::tokens::id_token::read_id_token_hint;

pub struct FlowContext<'a> {
    pub db: &'a DatabaseConnection,
    pub keys: &'a KeyRing,
    pub issuer: &'a str,
    pub lifetimes: &'a Lifetimes,
    pub audit: &'a AuditLog,
    /// The `[mfa]` settings: who needs a second factor.
    pub mfa: &'a MfaConfig,
    /// The address the browser's request came from, and how many sign-ins may be in
    /// progress from one address (`rate_limits.pending_authorizations_per_ip`, 0: any).
    pub client_ip: Option<String>,
    pub pending_per_address: u32,
    pub now: i64,
}

#[derive(Debug)]
pub enum FlowOutcome {
    /// Send the browser to this URL: the client's redirect URI with a code or an error.
    Redirect(String),
    /// The person must sign in first.
    Login(PendingAuthorization),
    /// The person must approve the requested scopes.
    Consent(PendingAuthorization),
    /// The person is signed in with the password only and must prove a second factor
    /// (step-up), or set one up.
    SecondFactor(PendingAuthorization),
    /// The request was finished meanwhile (by another tab, or it expired): nothing to do.
    Finished,
}

/// The response to the client, with `state` and `iss` (RFC 9207) added.
pub fn authorization_response(issuer: &str, request: &AuthorizationRequest, params: &[(&str, &str)]) -> String {
    response_to(issuer, &request.redirect_uri, request.state.as_deref(), params)
}

/// A response at a validated redirect URI, for callers that have no full request yet.
pub fn response_to(issuer: &str, redirect_uri: &str, state: Option<&str>, params: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    all.push(("iss", issuer));
    redirect_with_parameters(redirect_uri, &all)
}

pub fn error_response(issuer: &str, request: &AuthorizationRequest, error: &str, description: &str) -> String {
    authorization_response(issuer, request, &[("error", error), ("error_description", description)])
}

/// The one decision every path to a code goes through: `/authorize` (single sign-on,
/// `prompt=none`), and every page that completes a step of a pending request (password,
/// second factor, enrolment, step-up, consent). Everything is checked each time, whatever
/// step the request was at: the session (`prompt=login`, `max_age`, `id_token_hint`), the
/// second factor (`require_mfa`, `acr_values`, the `[mfa]` policy), consent. The request
/// then waits at the first step still owed (recorded with the person it waits for), or
/// gets its code. `pending` is the stored request when resuming; `session` the browser's
/// live session, if any.
pub async fn continue_authorization(
    ctx: &FlowContext<'_>,
    client: &Client,
    request: AuthorizationRequest,
    pending: Option<PendingAuthorization>,
    session: Option<&BrowserSession>,
) -> Result<FlowOutcome, sea_orm::DbErr> {
    // Only the sign-in made for this very request satisfies prompt=login and max_age.
    let fresh = matches!((&pending, session), (Some(p), Some(s)) if p.sign_in_sid.as_deref() == Some(s.sid.as_str()));

    let hinted_sub = match &request.id_token_hint {
        None => None,
        Some(hint) => match read_id_token_hint(ctx.keys, hint, ctx.issuer) {
            Ok(claims) => Some(claims.sub),
            Err(_) => {
                return finish_with_error(
                    ctx,
                    &request,
                    pending,
                    "invalid_request",
                    "id_token_hint is not a valid ID token from this issuer",
                )
                .await;
            }
        },
    };

    let needs_login = match session {
        None => true,
        Some(session) => {
            // max_age=0 is equivalent to prompt=login (OpenID Connect Core 3.1.2.1), even
            // within the second the session started.
            let too_old = request
                .max_age
                .is_some_and(|max_age| max_age == 0 || ctx.now - session.auth_time > max_age);
            let other_person = hinted_sub.as_deref().is_some_and(|sub| sub != session.user_id);
            other_person || (!fresh && (request.prompt.login || too_old))
        }
    };
    let session = match session {
        Some(session) if !needs_login => session,
        _ => {
            if request.prompt.none {
                return finish_with_error(ctx, &request, pending, "login_required", "the person is not signed in")
                    .await;
            }
            return wait_at(ctx, &request, pending, FlowStep::Login, None, FlowOutcome::Login).await;
        }
    };

    if !has_second_factor(&session.amr) {
        // The same rule as right after the password (`sign_in::second_factor_owed`).
        let person = find_person(ctx.db, &session.user_id).await?.unwrap_or_else(|| Person {
            id: session.user_id.clone(),
            claims: PersonClaims::default(),
        });
        let purpose = SignInPurpose::Authorization {
            client,
            request: &request,
        };
        let need = second_factor_owed(ctx.db, ctx.mfa, &person, purpose)
            .await
            .map_err(database_error)?;
        if need != SecondFactorNeed::None {
            if request.prompt.none {
                return finish_with_error(
                    ctx,
                    &request,
                    pending,
                    "interaction_required",
                    "the person must prove a second factor",
                )
                .await;
            }
            return wait_at(
                ctx,
                &request,
                pending,
                FlowStep::SecondFactor,
                Some(&session.user_id),
                FlowOutcome::SecondFactor,
            )
            .await;
        }
    }

    // An approval counts for the person who gave it, on this request.
    let approved_here = pending
        .as_ref()
        .is_some_and(|p| p.consent_approved && p.user_id.as_deref() == Some(session.user_id.as_str()));
    let consented = client.first_party
        || approved_here
        || (!request.prompt.consent
            && has_consent(ctx.db, &session.user_id, &client.client_id, &request.scope).await?);
    if !consented {
        if request.prompt.none {
            return finish_with_error(
                ctx,
                &request,
                pending,
                "consent_required",
                "the person has not approved this application",
            )
            .await;
        }
        return wait_at(
            ctx,
            &request,
            pending,
            FlowStep::Consent,
            Some(&session.user_id),
            FlowOutcome::Consent,
        )
        .await;
    }
    issue_code(ctx, &request, pending, session).await
}

/// [`continue_authorization`] for a stored request, from whatever step it waits at.
pub async fn resume_authorization(
    ctx: &FlowContext<'_>,
    client: &Client,
    pending: PendingAuthorization,
    session: Option<&BrowserSession>,
) -> Result<FlowOutcome, sea_orm::DbErr> {
    let request = pending.request.clone();
    continue_authorization(ctx, client, request, Some(pending), session).await
}

/// Keeps the request (stored now if it was not yet) at `step`, for `user_id`.
async fn wait_at(
    ctx: &FlowContext<'_>,
    request: &AuthorizationRequest,
    pending: Option<PendingAuthorization>,
    step: FlowStep,
    user_id: Option<&str>,
    outcome: fn(PendingAuthorization) -> FlowOutcome,
) -> Result<FlowOutcome, sea_orm::DbErr> {
    let pending = match pending {
        Some(mut pending) => {
            move_to_step(ctx.db, &mut pending, step, user_id).await?;
            pending
        }
        None => {
            let new = NewPendingAuthorization {
                request,
                step,
                user_id,
                client_ip: ctx.client_ip.as_deref(),
                per_address_cap: ctx.pending_per_address,
                now: ctx.now,
                lifetime: ctx.lifetimes.login,
            };
            match save_pending_authorization(ctx.db, new).await {
                Ok(pending) => pending,
                Err(PendingError::TooManyFromAddress) => {
                    tracing::info!(
                        client_id = %request.client_id,
                        "too many sign-ins in progress from one address; request refused"
                    );
                    return Ok(FlowOutcome::Redirect(error_response(
                        ctx.issuer,
                        request,
                        "temporarily_unavailable",
                        "too many sign-ins are in progress from this address; try again later",
                    )));
                }
                Err(PendingError::Database(error)) => return Err(error),
            }
        }
    };
    Ok(outcome(pending))
}

/// The flow speaks `DbErr`; a second-factor lookup only fails in the database.
fn database_error(error: MfaError) -> sea_orm::DbErr {
    match error {
        MfaError::Database(error) => error,
        other => sea_orm::DbErr::Custom(other.to_string()),
    }
}

/// The person's answer on the consent page. It completes the consent step only: the
/// request must wait for exactly this person's consent, and an approval is recorded on the
/// request, which then goes through the whole decision again ([`continue_authorization`]),
/// so no check is skipped on the way to the code.
pub async fn decide_consent(
    ctx: &FlowContext<'_>,
    client: &Client,
    mut pending: PendingAuthorization,
    session: &BrowserSession,
    approved: bool,
) -> Result<FlowOutcome, sea_orm::DbErr> {
    if !pending.waits_for(FlowStep::Consent, &session.user_id) {
        // Not this page's step (or not this person's request): the decision says where
        // the request stands.
        return resume_authorization(ctx, client, pending, Some(session)).await;
    }
    let request = pending.request.clone();
    if !approved {
        ctx.audit.record(
            AuditEvent::ConsentDenied {
                sub: session.user_id.clone(),
                client_id: request.client_id.clone(),
            },
            ctx.now,
        );
        return finish_with_error(
            ctx,
            &request,
            Some(pending),
            "access_denied",
            "the person declined the request",
        )
        .await;
    }
    if !record_consent_approval(ctx.db, &mut pending, &session.user_id).await? {
        return Ok(FlowOutcome::Finished);
    }
    record_consent(ctx.db, &session.user_id, &request.client_id, &request.scope, ctx.now).await?;
    ctx.audit.record(
        AuditEvent::ConsentGranted {
            sub: session.user_id.clone(),
            client_id: request.client_id.clone(),
            scope: request.scope.to_string(),
        },
        ctx.now,
    );
    resume_authorization(ctx, client, pending, Some(session)).await
}

async fn issue_code(
    ctx: &FlowContext<'_>,
    request: &AuthorizationRequest,
    pending: Option<PendingAuthorization>,
    session: &BrowserSession,
) -> Result<FlowOutcome, sea_orm::DbErr> {
    // The request is taken first: of two concurrent completions only one gets a code.
    if let Some(pending) = pending {
        if !delete_pending_authorization(ctx.db, &pending.id).await? {
            return Ok(FlowOutcome::Finished);
        }
    }
    let code = issue_authorization_code(ctx.db, request, session, ctx.now, ctx.lifetimes.authorization_code).await?;
    Ok(FlowOutcome::Redirect(authorization_response(
        ctx.issuer,
        request,
        &[("code", &code)],
    )))
}

async fn finish_with_error(
    ctx: &FlowContext<'_>,
    request: &AuthorizationRequest,
    pending: Option<PendingAuthorization>,
    error: &str,
    description: &str,
) -> Result<FlowOutcome, sea_orm::DbErr> {
    if let Some(pending) = pending {
        if !delete_pending_authorization(ctx.db, &pending.id).await? {
            return Ok(FlowOutcome::Finished);
        }
    }
    Ok(FlowOutcome::Redirect(error_response(
        ctx.issuer,
        request,
        error,
        description,
    )))
}
