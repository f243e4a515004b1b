//! One-time authorization codes: 60 s by default, stored hashed, bound to the client, the
//! redirect URI, the PKCE challenge and the nonce. Redeemed with a conditional update so
//! two concurrent redemptions cannot both win.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::authorize_request::{is_valid_code_verifier, AuthorizationRequest};
use super::browser_session::BrowserSession;
use crate::crypto::{base64url, constant_time_eq, random_token, sha256, sha256_hex};
use crate::storage::entities::authorization_codes;

pub async fn issue_authorization_code(
    db: &impl ConnectionTrait,
    request: &AuthorizationRequest,
    session: &BrowserSession,
    now: i64,
    lifetime: i64,
) -> Result<String, sea_orm::DbErr> {
    let code = random_token(32);
    authorization_codes::Entity::insert(authorization_codes::ActiveModel {
        code_hash: Set(sha256_hex(code.as_bytes())),
        client_id: Set(request.client_id.clone()),
        user_id: Set(session.user_id.clone()),
        sid: Set(session.sid.clone()),
        redirect_uri: Set(request.redirect_uri.clone()),
        scope: Set(request.scope.to_string()),
        nonce: Set(request.nonce.clone()),
        code_challenge: Set(request.code_challenge.clone()),
        code_challenge_method: Set(request.code_challenge_method.clone()),
        auth_time: Set(session.auth_time),
        amr: Set(session.amr.join(" ")),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
        redeemed_at: Set(None),
        grant_id: Set(None),
    })
    .exec(db)
    .await?;
    Ok(code)
}

/// Why a code cannot be redeemed. All of them are `invalid_grant` to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the authorization code is unknown")]
    Unknown,
    #[error("the authorization code was issued to another client")]
    WrongClient,
    #[error("the authorization code has expired")]
    Expired,
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    #[error("the PKCE code_verifier is missing or does not match the code_challenge")]
    PkceMismatch,
    #[error("code_verifier was sent but the authorization request had no code_challenge")]
    UnexpectedVerifier,
    #[error("the authorization code has already been used; the tokens issued for it are revoked")]
    AlreadyUsed { grant_id: Option<String>, user_id: String },
}

/// A code that passed every check and is ours to redeem.
pub type CodeRecord = authorization_codes::Model;

/// Checks a presented code. `Ok` means it may be redeemed; `mark_code_redeemed` decides.
pub async fn check_authorization_code(
    db: &impl ConnectionTrait,
    code: &str,
    client_id: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<CodeRecord, CodeErrorOrDb> {
    let record = authorization_codes::Entity::find_by_id(sha256_hex(code.as_bytes()))
        .one(db)
        .await?
        .ok_or(CodeError::Unknown)?;
    if record.client_id != client_id {
        return Err(CodeError::WrongClient.into());
    }
    if record.redeemed_at.is_some() {
        return Err(CodeError::AlreadyUsed {
            grant_id: record.grant_id.clone(),
            user_id: record.user_id.clone(),
        }
        .into());
    }
    if record.expires_at <= now {
        return Err(CodeError::Expired.into());
    }
    // OpenID Connect requires redirect_uri on the token request whenever it was in the
    // authorization request, which for Gatehouse is always.
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(CodeError::RedirectUriMismatch.into());
    }
    match (&record.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let computed = base64url(&sha256(verifier.as_bytes()));
            if !is_valid_code_verifier(verifier) || !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Err(CodeError::PkceMismatch.into());
            }
        }
        (Some(_), None) => return Err(CodeError::PkceMismatch.into()),
        (None, Some(_)) => return Err(CodeError::UnexpectedVerifier.into()),
        (None, None) => {}
    }
    Ok(record)
}

/// Marks the code used by `grant_id`. False when another redemption got there first.
pub async fn mark_code_redeemed(
    db: &impl ConnectionTrait,
    code_hash: &str,
    grant_id: &str,
    now: i64,
) -> Result<bool, sea_orm::DbErr> {
    let result = authorization_codes::Entity::update_many()
        .col_expr(authorization_codes::Column::RedeemedAt, Some(now).into())
        .col_expr(authorization_codes::Column::GrantId, Some(grant_id.to_string()).into())
        .filter(authorization_codes::Column::CodeHash.eq(code_hash))
        .filter(authorization_codes::Column::RedeemedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The grant recorded on a code (after a concurrent redemption won the race).
pub async fn grant_of_code(db: &impl ConnectionTrait, code_hash: &str) -> Result<Option<String>, sea_orm::DbErr> {
    Ok(authorization_codes::Entity::find_by_id(code_hash.to_string())
        .one(db)
        .await?
        .and_then(|record| record.grant_id))
}

#[derive(Debug, thiserror::Error)]
pub enum CodeErrorOrDb {
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}
