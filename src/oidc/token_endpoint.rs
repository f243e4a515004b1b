//! `POST /token` (RFC 6749 section 3.2). One grant for now: `authorization_code`.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_authentication::authenticate_client;
use super::form_body::{is_form_body, parse_form};
use super::oauth_error::OAuthError;
use crate::app::state::AppState;
use crate::authorization::token_exchange::{exchange_authorization_code, CodeRedemption, ExchangeError};

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    id_token: String,
    scope: String,
}

pub async fn post_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    if !is_form_body(&req) {
        return Err(OAuthError::invalid_request(
            "the token request must be sent as application/x-www-form-urlencoded",
        ));
    }
    let params = parse_form(&body);
    if let Some(name) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!("the {name} parameter is repeated")));
    }
    let client = authenticate_client(&state, &req, &params).await?;
    match params.get("grant_type") {
        None => Err(OAuthError::invalid_request("grant_type is required")),
        Some("authorization_code") => {
            let code = params
                .get("code")
                .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
            let ctx = state.token_context();
            let issued = exchange_authorization_code(
                &ctx,
                CodeRedemption {
                    client_id: &client.client_id,
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
            Ok(HttpResponse::Ok()
                .insert_header(CacheControl(vec![CacheDirective::NoStore]))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(TokenResponse {
                    access_token: issued.access_token,
                    token_type: "Bearer",
                    expires_in: issued.expires_in,
                    id_token: issued.id_token,
                    scope: issued.scope,
                }))
        }
        Some(_) => Err(OAuthError::new(
            "unsupported_grant_type",
            "supported grant types: authorization_code",
        )),
    }
}
