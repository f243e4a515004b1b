//! `POST /token` (RFC 6749 section 3.2): the authorization_code, refresh_token and
//! client_credentials grants.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_authentication::authenticate_client;
use super::form_body::read_protocol_form;
use super::oauth_error::OAuthError;
use crate::app::state::AppState;
use crate::authorization::authorize_request::RawParameters;
use crate::authorization::client_credentials::{issue_client_credentials_token, ClientCredentialsError};
use crate::authorization::client_registry::Client;
use crate::authorization::refresh_grant::{exchange_refresh_token, RefreshError, RefreshRequest};
use crate::authorization::token_exchange::{exchange_authorization_code, CodeRedemption, ExchangeError, IssuedTokens};
use crate::config::GrantType;
use crate::http::request_id::note_sub;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
            id_token: issued.id_token,
            scope: issued.scope,
        }
    }
}

pub async fn post_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = read_protocol_form(&req, &body, "token request")?;
    let client = authenticate_client(&state, &req, &params).await?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            "unsupported_grant_type",
            "supported grant types: authorization_code, refresh_token, client_credentials",
        )
    })?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("this client may not use the {} grant", grant.as_str()),
        ));
    }
    let response = match grant {
        GrantType::AuthorizationCode => authorization_code_grant(&state, &client, &params).await?,
        GrantType::RefreshToken => refresh_token_grant(&state, &client, &params).await?,
        GrantType::ClientCredentials => client_credentials_grant(&state, &client, &params)?,
    };
    state.metrics.token_issued(grant.as_str(), &client.client_id);
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

async fn authorization_code_grant(
    state: &AppState,
    client: &Client,
    params: &RawParameters,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let ctx = state.token_context();
    let issued = exchange_authorization_code(
        &ctx,
        CodeRedemption {
            client,
            code,
            redirect_uri: params.get("redirect_uri"),
            code_verifier: params.get("code_verifier"),
        },
    )
    .await
    .map_err(|error| match error {
        ExchangeError::Code(code_error) => OAuthError::invalid_grant(code_error.to_string()),
        ExchangeError::UnknownPerson => OAuthError::invalid_grant(error.to_string()),
        other => OAuthError::server_error(other),
    })?;
    note_sub(&issued.sub);
    Ok(issued.into())
}

async fn refresh_token_grant(
    state: &AppState,
    client: &Client,
    params: &RawParameters,
) -> Result<TokenResponse, OAuthError> {
    let refresh_token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let ctx = state.token_context();
    let issued = exchange_refresh_token(
        &ctx,
        &state.person_checks(),
        RefreshRequest {
            client,
            refresh_token,
            scope: params.get("scope"),
        },
    )
    .await
    .map_err(|error| match error {
        RefreshError::Reused => {
            state.metrics.refresh_token_reused(&client.client_id);
            OAuthError::invalid_grant(error.to_string())
        }
        RefreshError::Unknown
        | RefreshError::WrongClient
        | RefreshError::Expired
        | RefreshError::Revoked
        | RefreshError::PersonRefused => OAuthError::invalid_grant(error.to_string()),
        RefreshError::InvalidScope => OAuthError::new("invalid_scope", error.to_string()),
        RefreshError::DirectoryUnavailable(cause) => {
            tracing::warn!(error = %cause, "refresh refused: the directory could not be asked");
            OAuthError::new(
                "temporarily_unavailable",
                "the directory is unavailable; the refresh token is still valid, try again later",
            )
        }
        other => OAuthError::server_error(other),
    })?;
    note_sub(&issued.sub);
    Ok(issued.into())
}

fn client_credentials_grant(
    state: &AppState,
    client: &Client,
    params: &RawParameters,
) -> Result<TokenResponse, OAuthError> {
    let issued = issue_client_credentials_token(
        &state.keys,
        state.issuer(),
        state.config.lifetimes.access_token,
        client,
        params.get("scope"),
        state.now(),
    )
    .map_err(|error| match error {
        ClientCredentialsError::NotAllowed => OAuthError::new("unauthorized_client", error.to_string()),
        ClientCredentialsError::InvalidScope(_) => OAuthError::new("invalid_scope", error.to_string()),
        ClientCredentialsError::Token(_) => OAuthError::server_error(error),
    })?;
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: None,
        id_token: None,
        scope: issued.scope,
    })
}
