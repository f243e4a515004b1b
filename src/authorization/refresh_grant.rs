//! The refresh_token grant (RFC 6749 section 6): exchange a refresh token exactly once for
//! a new access token, a new refresh token of the same family (rotation) and, for OpenID
//! Connect, a new ID token (OIDC Core 12.2). A token presented again after its exchange is
//! reuse: the whole family is revoked (RFC 9700 section 4.14.2).

use sea_orm::TransactionTrait;

use super::client_registry::Client;
use super::people::{ask_directory_now, PersonCheckError, PersonChecks};
use super::scopes::ScopeSet;
use super::token_exchange::{mint_person_tokens, IssuedTokens, PersonTokens, SignIn, TokenContext};
use crate::audit::AuditEvent;
use crate::directory::DirectoryError;
use crate::tokens::grants::{find_grant, revoke_grant};
use crate::tokens::refresh_token::{
    find_refresh_token, issue_refresh_token, mark_refresh_token_used, refresh_token_expiry, NewRefreshToken,
    RefreshTokenRecord,
};
use crate::tokens::TokenError;

pub struct RefreshRequest<'a> {
    /// The authenticated client.
    pub client: &'a Client,
    pub refresh_token: &'a str,
    /// The optional `scope` parameter: a subset of the family's scope.
    pub scope: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is unknown")]
    Unknown,
    /// Said like `Unknown`: another client learns nothing about the token.
    #[error("the refresh token is unknown")]
    WrongClient,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token has been revoked")]
    Revoked,
    #[error("the refresh token has already been used; every token of its family is revoked")]
    Reused,
    #[error("the person this refresh token was issued for is no longer allowed to sign in")]
    PersonRefused,
    #[error("scope may only name scopes of the original grant")]
    InvalidScope,
    /// The directory could not be asked about the person; the token was not used up.
    #[error("the directory is unavailable")]
    DirectoryUnavailable(#[source] DirectoryError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Token(#[from] TokenError),
}

pub async fn exchange_refresh_token(
    ctx: &TokenContext<'_>,
    checks: &PersonChecks<'_>,
    request: RefreshRequest<'_>,
) -> Result<IssuedTokens, RefreshError> {
    let client = request.client;
    let record = find_refresh_token(ctx.db, request.refresh_token)
        .await?
        .ok_or(RefreshError::Unknown)?;
    if record.client_id != client.client_id {
        return Err(RefreshError::WrongClient);
    }
    if record.used_at.is_some() {
        return Err(family_reused(ctx, &record).await?);
    }
    let grant = find_grant(ctx.db, &record.grant_id)
        .await?
        .ok_or(RefreshError::Revoked)?;
    if grant.revoked_at.is_some() {
        return Err(RefreshError::Revoked);
    }
    if grant.expires_at <= ctx.now || record.expires_at <= ctx.now {
        return Err(RefreshError::Expired);
    }
    let family_scope = ScopeSet::parse(&record.scope);
    let scope = match request.scope {
        None => family_scope.clone(),
        Some(requested) => narrowed_scope(&family_scope, requested)?,
    };
    // Asked every time, whatever `recheck_interval` says: a refresh is the application
    // acting for the person without them, so it must stop the moment they are gone (and
    // then everything of theirs ends, this family included).
    let person = match ask_directory_now(checks, &record.user_id).await {
        Ok(person) => person.claims,
        Err(PersonCheckError::Refused) => return Err(RefreshError::PersonRefused),
        Err(PersonCheckError::DirectoryUnavailable(error)) => return Err(RefreshError::DirectoryUnavailable(error)),
        Err(PersonCheckError::Database(error)) => return Err(error.into()),
    };

    let txn = ctx.db.begin().await?;
    if !mark_refresh_token_used(&txn, &record.token_hash, ctx.now).await? {
        txn.rollback().await?;
        // Another exchange of the same token won the race: one of the two is not the
        // legitimate client.
        return Err(family_reused(ctx, &record).await?);
    }
    let refresh_token = issue_refresh_token(
        &txn,
        NewRefreshToken {
            grant_id: &record.grant_id,
            client_id: &record.client_id,
            user_id: &record.user_id,
            scope: &record.scope,
            sid: record.sid.as_deref(),
            auth_time: record.auth_time,
            amr: &record.amr,
            expires_at: refresh_token_expiry(ctx.now, ctx.lifetimes.refresh_token_idle, grant.expires_at),
        },
        ctx.now,
    )
    .await?;
    let minted = mint_person_tokens(
        ctx,
        &PersonTokens {
            sign_in: SignIn {
                client_id: &record.client_id,
                user_id: &record.user_id,
                sid: record.sid.as_deref(),
                auth_time: record.auth_time,
                amr: &record.amr,
            },
            scope: &scope,
            grant_id: &record.grant_id,
            nonce: None,
            person: &person,
            id_token_alg: client.id_token_signed_response_alg,
            grant_expires_at: grant.expires_at,
        },
    )?;
    txn.commit().await?;
    Ok(IssuedTokens {
        access_token: minted.access_token,
        id_token: minted.id_token,
        refresh_token: Some(refresh_token),
        expires_in: minted.expires_in,
        scope: scope.to_string(),
        sub: record.user_id,
    })
}

/// Revokes the family of a reused token, records it, and returns the error to answer.
async fn family_reused(ctx: &TokenContext<'_>, record: &RefreshTokenRecord) -> Result<RefreshError, sea_orm::DbErr> {
    revoke_grant(ctx.db, &record.grant_id, ctx.now).await?;
    ctx.audit.record(
        AuditEvent::RefreshTokenReused {
            client_id: record.client_id.clone(),
            sub: record.user_id.clone(),
            grant_id: record.grant_id.clone(),
        },
        ctx.now,
    );
    Ok(RefreshError::Reused)
}

/// The requested scope when every scope in it belongs to the family (RFC 6749 section 6).
/// Unknown scopes are not dropped here as at `/authorize`: they were not granted.
fn narrowed_scope(family: &ScopeSet, requested: &str) -> Result<ScopeSet, RefreshError> {
    let names: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if names.is_empty() || !names.iter().all(|name| family.contains(name)) {
        return Err(RefreshError::InvalidScope);
    }
    Ok(ScopeSet::parse(requested))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
        let family = ScopeSet::parse("openid profile offline_access");
        assert_eq!(narrowed_scope(&family, "openid").unwrap().to_string(), "openid");
        assert_eq!(
            narrowed_scope(&family, "profile  openid").unwrap().to_string(),
            "openid profile"
        );
        assert!(matches!(
            narrowed_scope(&family, "openid email"),
            Err(RefreshError::InvalidScope)
        ));
        assert!(matches!(
            narrowed_scope(&family, "openid made-up"),
            Err(RefreshError::InvalidScope)
        ));
        assert!(matches!(narrowed_scope(&family, "  "), Err(RefreshError::InvalidScope)));
    }
}
