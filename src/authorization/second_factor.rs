//! The second factor in the sign-in flow: the authentication context classes (`acr`) and
//! methods (`amr`) Gatehouse speaks, and the half-signed-in state between a correct
//! password and a correct second factor.
//!
//! That state is a row keyed by the SHA-256 of a random cookie value, bound to the person,
//! to the pending authorization request (or a local path to land on), and, for a step-up,
//! to the password-only session being upgraded. It lives a few minutes and is used once:
//! the single sign-on session only starts after the second factor.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::authorize_request::AuthorizationRequest;
use super::client_registry::Client;
use crate::crypto::{random_token, sha256_hex};
use crate::mfa::{has_active_totp, MfaError, MfaPolicy};
use crate::storage::entities::second_factor_challenges;

/// `acr` of a sign-in with the password only.
pub const ACR_PASSWORD: &str = "urn:gatehouse:pwd";
/// `acr` of a sign-in with the password and a second factor.
pub const ACR_MULTI_FACTOR: &str = "urn:gatehouse:mfa";
/// The OpenID PAPE multi-factor policy, accepted in `acr_values` as a synonym of
/// [`ACR_MULTI_FACTOR`].
pub const ACR_PAPE_MULTI_FACTOR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// What discovery lists as `acr_values_supported`.
pub const SUPPORTED_ACR_VALUES: [&str; 3] = [ACR_PASSWORD, ACR_MULTI_FACTOR, ACR_PAPE_MULTI_FACTOR];

/// `amr` of the password (RFC 8176).
pub const AMR_PASSWORD: &str = "pwd";
/// `amr` of a one-time password: a TOTP code or a recovery code (RFC 8176).
pub const AMR_OTP: &str = "otp";

/// How long a person has, after the password, to give the second factor (or enrol one).
pub const SECOND_FACTOR_WINDOW: i64 = 600;

/// Whether a session with these methods has proven a second factor.
pub fn has_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|method| method == AMR_OTP)
}

/// The `acr` claim for a session with these methods.
pub fn acr_for_amr(amr: &[String]) -> &'static str {
    if has_second_factor(amr) {
        ACR_MULTI_FACTOR
    } else {
        ACR_PASSWORD
    }
}

/// Whether `acr_values` asks for a second factor. The values are a preference order
/// (OpenID Connect Core 3.1.2.1), so the first one Gatehouse knows decides; unknown
/// values are ignored, as the parameter is voluntary.
pub fn acr_values_request_second_factor(acr_values: &[String]) -> bool {
    acr_values
        .iter()
        .find(|value| SUPPORTED_ACR_VALUES.contains(&value.as_str()))
        .is_some_and(|value| value != ACR_PASSWORD)
}

/// What a sign-in still needs after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorNeed {
    /// Nothing: the password is enough.
    None,
    /// A code from the person's authenticator (or a recovery code).
    Code,
    /// The person must set up an authenticator first (policy or client demands one).
    Enrol,
}

/// Whether the application (its registration, or `acr_values` in this request) demands a
/// second factor.
pub fn client_demands_second_factor(client: &Client, request: Option<&AuthorizationRequest>) -> bool {
    client.require_mfa || request.is_some_and(|request| acr_values_request_second_factor(&request.acr_values))
}

/// What the person `user_id` (in `groups`) needs besides the password: under any policy a
/// person with an authenticator is asked for a code; one without enrols when the policy
/// (for everyone, or for one of their groups) or the application demands a second factor.
pub async fn second_factor_need(
    db: &impl ConnectionTrait,
    policy: &MfaPolicy,
    client_demands: bool,
    user_id: &str,
    groups: &[String],
) -> Result<SecondFactorNeed, MfaError> {
    if has_active_totp(db, user_id).await? {
        return Ok(SecondFactorNeed::Code);
    }
    if client_demands || policy.requires_second_factor(groups) {
        Ok(SecondFactorNeed::Enrol)
    } else {
        Ok(SecondFactorNeed::None)
    }
}

/// Half-signed-in: the password was right (or a password-only session exists), the second
/// factor is still owed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorChallenge {
    id_hash: String,
    pub user_id: String,
    pub request_id: Option<String>,
    pub next_path: Option<String>,
    pub session_sid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a new challenge is bound to.
#[derive(Debug, Clone, Default)]
pub struct NewChallenge<'a> {
    pub user_id: &'a str,
    pub request_id: Option<&'a str>,
    pub next_path: Option<&'a str>,
    pub session_sid: Option<&'a str>,
}

/// Starts a challenge; returns the cookie value (for the browser only) and the challenge.
pub async fn start_challenge(
    db: &impl ConnectionTrait,
    new: NewChallenge<'_>,
    now: i64,
) -> Result<(String, SecondFactorChallenge), sea_orm::DbErr> {
    let cookie_value = random_token(32);
    let challenge = SecondFactorChallenge {
        id_hash: sha256_hex(cookie_value.as_bytes()),
        user_id: new.user_id.to_string(),
        request_id: new.request_id.map(str::to_string),
        next_path: new.next_path.map(str::to_string),
        session_sid: new.session_sid.map(str::to_string),
        created_at: now,
        expires_at: now + SECOND_FACTOR_WINDOW,
    };
    // Stale challenges of anyone are cleared on the way, so the table stays small.
    second_factor_challenges::Entity::delete_many()
        .filter(second_factor_challenges::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    second_factor_challenges::Entity::insert(second_factor_challenges::ActiveModel {
        id_hash: Set(challenge.id_hash.clone()),
        user_id: Set(challenge.user_id.clone()),
        request_id: Set(challenge.request_id.clone()),
        next_path: Set(challenge.next_path.clone()),
        session_sid: Set(challenge.session_sid.clone()),
        created_at: Set(now),
        expires_at: Set(challenge.expires_at),
    })
    .exec(db)
    .await?;
    Ok((cookie_value, challenge))
}

/// The live challenge behind a cookie value, if any.
pub async fn find_challenge(
    db: &impl ConnectionTrait,
    cookie_value: &str,
    now: i64,
) -> Result<Option<SecondFactorChallenge>, sea_orm::DbErr> {
    let Some(model) = second_factor_challenges::Entity::find_by_id(sha256_hex(cookie_value.as_bytes()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if model.expires_at <= now {
        second_factor_challenges::Entity::delete_by_id(model.id_hash)
            .exec(db)
            .await?;
        return Ok(None);
    }
    Ok(Some(SecondFactorChallenge {
        id_hash: model.id_hash,
        user_id: model.user_id,
        request_id: model.request_id,
        next_path: model.next_path,
        session_sid: model.session_sid,
        created_at: model.created_at,
        expires_at: model.expires_at,
    }))
}

/// Ends a challenge (after success, or when replaced). True when this call removed it, so
/// two concurrent completions cannot both start a session.
pub async fn finish_challenge(
    db: &impl ConnectionTrait,
    challenge: &SecondFactorChallenge,
) -> Result<bool, sea_orm::DbErr> {
    let result = second_factor_challenges::Entity::delete_by_id(challenge.id_hash.clone())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn acr_follows_the_methods() {
        assert_eq!(acr_for_amr(&strings(&["pwd"])), ACR_PASSWORD);
        assert_eq!(acr_for_amr(&strings(&["pwd", "otp"])), ACR_MULTI_FACTOR);
        assert!(!has_second_factor(&strings(&["pwd"])));
        assert!(has_second_factor(&strings(&["pwd", "otp"])));
    }

    #[test]
    fn the_first_known_acr_value_decides() {
        assert!(acr_values_request_second_factor(&strings(&[ACR_MULTI_FACTOR])));
        assert!(acr_values_request_second_factor(&strings(&[ACR_PAPE_MULTI_FACTOR])));
        assert!(acr_values_request_second_factor(&strings(&[
            "urn:unknown",
            ACR_MULTI_FACTOR
        ])));
        assert!(!acr_values_request_second_factor(&strings(&[
            ACR_PASSWORD,
            ACR_MULTI_FACTOR
        ])));
        assert!(!acr_values_request_second_factor(&strings(&["urn:unknown"])));
        assert!(!acr_values_request_second_factor(&[]));
    }
}
