//! Signing a person in: what a correct password still leads to (a second factor, or the
//! session), and starting the single sign-on session once every factor is proven. The
//! login and second-factor pages both finish here, then hand a pending request to the one
//! decision of `complete_authorization::continue_authorization`.

use sea_orm::DatabaseConnection;

use super::authorize_request::AuthorizationRequest;
use super::browser_session::{end_session, start_session, BrowserSession, SessionOrigin};
use super::client_registry::Client;
use super::people::Person;
use super::second_factor::{client_demands_second_factor, second_factor_need, SecondFactorNeed};
use crate::audit::{AuditEvent, AuditLog};
use crate::config::MfaConfig;
use crate::mfa::{MfaError, MfaPolicy};

/// What the person is signing in for.
#[derive(Debug, Clone, Copy)]
pub enum SignInPurpose<'a> {
    /// A pending authorization request of `client`.
    Authorization {
        client: &'a Client,
        request: &'a AuthorizationRequest,
    },
    /// A page of Gatehouse itself; `administration` when it is the admin area and the
    /// person administers Gatehouse (administration always needs the second factor).
    Landing { administration: bool },
}

/// What a person who gave the right password still owes: under any policy a person with
/// an authenticator is asked for a code; one without sets one up when the `[mfa]` policy
/// (for everyone or one of their groups), the application (`require_mfa`, `acr_values`)
/// or administration demands a second factor.
pub async fn second_factor_owed(
    db: &DatabaseConnection,
    mfa: &MfaConfig,
    person: &Person,
    purpose: SignInPurpose<'_>,
) -> Result<SecondFactorNeed, MfaError> {
    let demanded = match purpose {
        SignInPurpose::Authorization { client, request } => client_demands_second_factor(client, Some(request)),
        SignInPurpose::Landing { administration } => administration,
    };
    second_factor_need(db, &MfaPolicy::from(mfa), demanded, &person.id, &person.claims.groups).await
}

/// A sign-in with every factor proven.
pub struct ProvenSignIn<'a> {
    pub user_id: &'a str,
    /// For the audit trail: the username as the directory spells it.
    pub username: &'a str,
    /// The methods proven (`pwd`, `otp`...).
    pub amr: &'a [&'a str],
    /// Sessions this one replaces (the browser's previous one, a password-only session
    /// being stepped up): they end, so a planted session id never gains anything.
    pub replaces: Vec<String>,
    pub origin: &'a SessionOrigin,
    pub lifetime: i64,
}

/// Starts the single sign-on session of a proven sign-in (ending those it replaces) and
/// records it. Returns the cookie value (for the browser only) and the session.
pub async fn start_signed_in_session(
    db: &DatabaseConnection,
    audit: &AuditLog,
    sign_in: ProvenSignIn<'_>,
    now: i64,
) -> Result<(String, BrowserSession), sea_orm::DbErr> {
    for sid in &sign_in.replaces {
        end_session(db, sid, now).await?;
    }
    let started = start_session(db, sign_in.user_id, sign_in.amr, now, sign_in.lifetime, sign_in.origin).await?;
    audit.record(
        AuditEvent::SignInSucceeded {
            username: sign_in.username.to_string(),
            sub: sign_in.user_id.to_string(),
        },
        now,
    );
    Ok(started)
}
