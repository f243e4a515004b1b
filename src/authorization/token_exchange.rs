//! The authorization_code grant (RFC 6749 4.1.3): redeem the code once, then mint the ID
//! token, the access token and (for clients that may refresh) a refresh token.

use sea_orm::DatabaseConnection;

use super::authorization_code::{
    check_authorization_code, grant_of_code, mark_code_redeemed, CodeError, CodeErrorOrDb, CodeRecord,
};
use super::client_registry::Client;
use super::people::{find_admitted_person, PersonClaims};
use super::scopes::ScopeSet;
use super::second_factor::acr_for_amr;
use crate::audit::{AuditEvent, AuditLog};
use crate::authorization::released_claims::scoped_claims;
use crate::config::{GrantType, Lifetimes};
use crate::crypto::random_token;
use crate::keys::{KeyRing, SigningAlgorithm};
use crate::tokens::access_token::{sign_access_token, AccessTokenClaims};
use crate::tokens::grants::{create_grant, revoke_grant, NewGrant};
use crate::tokens::id_token::{sign_id_token, IdTokenClaims};
use crate::tokens::refresh_token::{issue_refresh_token, refresh_token_expiry, NewRefreshToken};
use crate::tokens::{left_half_hash, TokenError};

pub struct TokenContext<'a> {
    pub db: &'a DatabaseConnection,
    pub keys: &'a KeyRing,
    pub issuer: &'a str,
    pub lifetimes: &'a Lifetimes,
    pub email_verified: bool,
    pub audit: &'a AuditLog,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    /// When the scope has `openid`.
    pub id_token: Option<String>,
    /// When the client may refresh and asked for (or is set up for) refresh tokens.
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
    /// The person the tokens speak for (for the request's log lines).
    pub sub: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("the person this code was issued for is no longer known or admitted")]
    UnknownPerson,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<CodeErrorOrDb> for ExchangeError {
    fn from(error: CodeErrorOrDb) -> Self {
        match error {
            CodeErrorOrDb::Code(code) => ExchangeError::Code(code),
            CodeErrorOrDb::Database(db) => ExchangeError::Database(db),
        }
    }
}

pub struct CodeRedemption<'a> {
    /// The authenticated client.
    pub client: &'a Client,
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// True when a sign-in with `scope` gives `client` a refresh token: the client may use the
/// refresh_token grant, and asked for `offline_access` or is set up to always get one.
pub fn issues_refresh_token(client: &Client, scope: &ScopeSet) -> bool {
    client.allows_grant(GrantType::RefreshToken) && (scope.contains("offline_access") || client.issue_refresh_tokens)
}

pub async fn exchange_authorization_code(
    ctx: &TokenContext<'_>,
    redemption: CodeRedemption<'_>,
) -> Result<IssuedTokens, ExchangeError> {
    let client_id = redemption.client.client_id.as_str();
    let record = match check_authorization_code(
        ctx.db,
        redemption.code,
        client_id,
        redemption.redirect_uri,
        redemption.code_verifier,
        ctx.now,
    )
    .await
    {
        Ok(record) => record,
        Err(CodeErrorOrDb::Code(CodeError::AlreadyUsed { grant_id, user_id })) => {
            // RFC 6749 4.1.2: a code used twice revokes what the first use issued.
            if let Some(grant_id) = &grant_id {
                revoke_grant(ctx.db, grant_id, ctx.now).await?;
            }
            ctx.audit.record(
                AuditEvent::AuthorizationCodeReplayed {
                    client_id: client_id.to_string(),
                    sub: user_id.clone(),
                },
                ctx.now,
            );
            return Err(CodeError::AlreadyUsed { grant_id, user_id }.into());
        }
        Err(other) => return Err(other.into()),
    };

    // A person the directory refused since the code was issued gets nothing.
    let person = find_admitted_person(ctx.db, &record.user_id)
        .await?
        .ok_or(ExchangeError::UnknownPerson)?;
    let scope = ScopeSet::parse(&record.scope);
    let refresh = issues_refresh_token(redemption.client, &scope);
    // A refresh family lives until its absolute end; otherwise the grant only has to
    // outlive the access token.
    let expires_at = if refresh {
        ctx.now + ctx.lifetimes.refresh_token_absolute
    } else {
        ctx.now + ctx.lifetimes.access_token
    };
    let grant_id = create_grant(
        ctx.db,
        NewGrant {
            client_id: &record.client_id,
            user_id: Some(&record.user_id),
            sid: Some(&record.sid),
            scope: &record.scope,
            expires_at,
        },
        ctx.now,
    )
    .await?;
    if !mark_code_redeemed(ctx.db, &record.code_hash, &grant_id, ctx.now).await? {
        // Another redemption won the race: this is a replay, so both lose.
        revoke_grant(ctx.db, &grant_id, ctx.now).await?;
        let winner = grant_of_code(ctx.db, &record.code_hash).await?;
        if let Some(winner) = &winner {
            revoke_grant(ctx.db, winner, ctx.now).await?;
        }
        ctx.audit.record(
            AuditEvent::AuthorizationCodeReplayed {
                client_id: record.client_id.clone(),
                sub: record.user_id.clone(),
            },
            ctx.now,
        );
        return Err(CodeError::AlreadyUsed {
            grant_id: winner,
            user_id: record.user_id,
        }
        .into());
    }
    let refresh_token = if refresh {
        Some(
            issue_refresh_token(
                ctx.db,
                NewRefreshToken {
                    grant_id: &grant_id,
                    client_id: &record.client_id,
                    user_id: &record.user_id,
                    scope: &scope.to_string(),
                    sid: Some(&record.sid),
                    auth_time: record.auth_time,
                    amr: &record.amr,
                    expires_at: refresh_token_expiry(ctx.now, ctx.lifetimes.refresh_token_idle, expires_at),
                },
                ctx.now,
            )
            .await?,
        )
    } else {
        None
    };
    let minted = mint_person_tokens(
        ctx,
        &PersonTokens {
            sign_in: SignIn::from(&record),
            scope: &scope,
            grant_id: &grant_id,
            nonce: record.nonce.clone(),
            person: &person.claims,
            id_token_alg: redemption.client.id_token_signed_response_alg,
            grant_expires_at: expires_at,
        },
    )?;
    Ok(IssuedTokens {
        access_token: minted.access_token,
        id_token: minted.id_token,
        refresh_token,
        expires_in: minted.expires_in,
        scope: scope.to_string(),
        sub: record.user_id,
    })
}

/// Who signed in, and how: what a code or a refresh token records about the sign-in.
pub(super) struct SignIn<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub sid: Option<&'a str>,
    pub auth_time: i64,
    /// Space-separated.
    pub amr: &'a str,
}

impl<'a> From<&'a CodeRecord> for SignIn<'a> {
    fn from(record: &'a CodeRecord) -> Self {
        SignIn {
            client_id: &record.client_id,
            user_id: &record.user_id,
            sid: Some(&record.sid),
            auth_time: record.auth_time,
            amr: &record.amr,
        }
    }
}

pub(super) struct PersonTokens<'a> {
    pub sign_in: SignIn<'a>,
    /// The scope of these tokens (narrower than the family's after a refresh that asked).
    pub scope: &'a ScopeSet,
    pub grant_id: &'a str,
    /// The authorization request's nonce; never in a refreshed ID token (OIDC Core 12.2).
    pub nonce: Option<String>,
    pub person: &'a PersonClaims,
    pub id_token_alg: SigningAlgorithm,
    /// When the grant ends: no access token of it outlives that (a refresh family's
    /// absolute end caps the last access tokens too).
    pub grant_expires_at: i64,
}

pub(super) struct MintedTokens {
    pub access_token: String,
    pub id_token: Option<String>,
    /// Seconds the access token is valid.
    pub expires_in: i64,
}

/// Signs the access token and, when the scope has `openid`, the ID token.
pub(super) fn mint_person_tokens(
    ctx: &TokenContext<'_>,
    tokens: &PersonTokens<'_>,
) -> Result<MintedTokens, TokenError> {
    let record = &tokens.sign_in;
    let access_expires_at = (ctx.now + ctx.lifetimes.access_token).min(tokens.grant_expires_at);
    let access_claims = AccessTokenClaims {
        iss: ctx.issuer.to_string(),
        sub: record.user_id.to_string(),
        aud: record.client_id.to_string(),
        client_id: record.client_id.to_string(),
        scope: tokens.scope.to_string(),
        jti: random_token(16),
        iat: ctx.now,
        exp: access_expires_at,
        auth_time: Some(record.auth_time),
        sid: record.sid.map(str::to_string),
        gid: Some(tokens.grant_id.to_string()),
    };
    let access_token = sign_access_token(ctx.keys, &access_claims)?;
    if !tokens.scope.contains("openid") {
        return Ok(MintedTokens {
            access_token,
            id_token: None,
            expires_in: access_expires_at - ctx.now,
        });
    }
    let amr: Vec<String> = record
        .amr
        .split(' ')
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let id_claims = IdTokenClaims {
        iss: ctx.issuer.to_string(),
        sub: record.user_id.to_string(),
        aud: record.client_id.to_string(),
        azp: record.client_id.to_string(),
        exp: ctx.now + ctx.lifetimes.id_token,
        iat: ctx.now,
        auth_time: record.auth_time,
        nonce: tokens.nonce.clone(),
        at_hash: Some(left_half_hash(&access_token)),
        acr: Some(acr_for_amr(&amr).to_string()),
        amr,
        sid: record.sid.unwrap_or_default().to_string(),
        extra: scoped_claims(tokens.person, tokens.scope, ctx.email_verified),
    };
    let id_token = sign_id_token(ctx.keys, tokens.id_token_alg, &id_claims)?;
    Ok(MintedTokens {
        access_token,
        id_token: Some(id_token),
        expires_in: access_expires_at - ctx.now,
    })
}
