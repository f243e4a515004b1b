//! The authorization_code grant (RFC 6749 4.1.3): redeem the code once, then mint the ID
//! token and the access token.

use sea_orm::DatabaseConnection;

use super::authorization_code::{
    check_authorization_code, grant_of_code, mark_code_redeemed, CodeError, CodeErrorOrDb, CodeRecord,
};
use super::people::find_person;
use super::scopes::ScopeSet;
use super::second_factor::acr_for_amr;
use crate::audit::{AuditEvent, AuditLog};
use crate::authorization::released_claims::scoped_claims;
use crate::config::Lifetimes;
use crate::crypto::random_token;
use crate::keys::KeyRing;
use crate::tokens::access_token::{sign_access_token, AccessTokenClaims};
use crate::tokens::grants::{create_grant, revoke_grant, NewGrant};
use crate::tokens::id_token::{sign_id_token, IdTokenClaims};
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
    pub id_token: String,
    pub expires_in: i64,
    pub scope: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("the person this code was issued for is no longer known")]
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
    pub client_id: &'a str,
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

pub async fn exchange_authorization_code(
    ctx: &TokenContext<'_>,
    redemption: CodeRedemption<'_>,
) -> Result<IssuedTokens, ExchangeError> {
    let record = match check_authorization_code(
        ctx.db,
        redemption.code,
        redemption.client_id,
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
                    client_id: redemption.client_id.to_string(),
                    sub: user_id.clone(),
                },
                ctx.now,
            );
            return Err(CodeError::AlreadyUsed { grant_id, user_id }.into());
        }
        Err(other) => return Err(other.into()),
    };

    let person = find_person(ctx.db, &record.user_id)
        .await?
        .ok_or(ExchangeError::UnknownPerson)?;
    let expires_at = ctx.now + ctx.lifetimes.access_token;
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
    mint_tokens(ctx, &record, &person.claims, &grant_id)
}

fn mint_tokens(
    ctx: &TokenContext<'_>,
    record: &CodeRecord,
    person: &super::people::PersonClaims,
    grant_id: &str,
) -> Result<IssuedTokens, ExchangeError> {
    let scope = ScopeSet::parse(&record.scope);
    let access_claims = AccessTokenClaims {
        iss: ctx.issuer.to_string(),
        sub: record.user_id.clone(),
        aud: record.client_id.clone(),
        client_id: record.client_id.clone(),
        scope: scope.to_string(),
        jti: random_token(16),
        iat: ctx.now,
        exp: ctx.now + ctx.lifetimes.access_token,
        auth_time: Some(record.auth_time),
        sid: Some(record.sid.clone()),
        gid: grant_id.to_string(),
    };
    let access_token = sign_access_token(ctx.keys, &access_claims)?;
    let amr: Vec<String> = record
        .amr
        .split(' ')
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    let id_claims = IdTokenClaims {
        iss: ctx.issuer.to_string(),
        sub: record.user_id.clone(),
        aud: record.client_id.clone(),
        azp: record.client_id.clone(),
        exp: ctx.now + ctx.lifetimes.id_token,
        iat: ctx.now,
        auth_time: record.auth_time,
        nonce: record.nonce.clone(),
        at_hash: Some(left_half_hash(&access_token)),
        acr: Some(acr_for_amr(&amr).to_string()),
        amr,
        sid: record.sid.clone(),
        extra: scoped_claims(person, &scope, ctx.email_verified),
    };
    let id_token = sign_id_token(ctx.keys, &id_claims)?;
    Ok(IssuedTokens {
        access_token,
        id_token,
        expires_in: ctx.lifetimes.access_token,
        scope: scope.to_string(),
    })
}
