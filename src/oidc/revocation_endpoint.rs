//! `POST /revoke` (RFC 7009). The client authenticates as at `/token`. A refresh token ends
//! its family (and every access token issued from it); an access token is revoked alone.
//! Unknown, invalid or expired tokens, and tokens of other clients, get the same empty 200
//! as a success, so the endpoint tells nobody anything about a token they do not own.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};

use super::client_authentication::authenticate_client;
use super::form_body::read_protocol_form;
use super::oauth_error::OAuthError;
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::http::request_id::note_sub;
use crate::tokens::introspection::TokenTypeHint;
use crate::tokens::revocation::{revoke_token, Revocation};

pub async fn post_revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = read_protocol_form(&req, &body, "revocation request")?;
    let client = authenticate_client(&state, &req, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // An unknown hint is no hint (RFC 7009 section 2.1 lets the server search further).
    let hint = params.get("token_type_hint").and_then(TokenTypeHint::parse);
    let now = state.now();
    let revocation = revoke_token(
        &state.db,
        &state.keys,
        state.issuer(),
        &client.client_id,
        token,
        hint,
        now,
    )
    .await?;
    if let Some(token_type) = revocation.token_type() {
        let sub = match revocation {
            Revocation::RefreshFamily { sub, .. } => Some(sub),
            Revocation::AccessToken { sub } => sub,
            Revocation::Nothing => None,
        };
        if let Some(sub) = &sub {
            note_sub(sub);
        }
        state.audit.record(
            AuditEvent::TokenRevoked {
                client_id: client.client_id.clone(),
                sub,
                token_type,
            },
            now,
        );
    }
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .finish())
}
