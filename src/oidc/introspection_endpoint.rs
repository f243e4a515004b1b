//! `POST /introspect` (RFC 7662) for resource servers: confidential clients only. Anything
//! not valid right now is `{"active":false}`, with no reason given. A client learns about
//! its own tokens only (access tokens issued to it, its refresh tokens), unless it is
//! registered as a resource server (`introspect_any_token`): then also about access tokens
//! of other clients and personal access tokens. A refresh token is described only to the
//! client it was issued to. A personal access token's address allowlist is returned
//! (`allowed_ips`) for the resource server to apply to the request that carried it. A
//! token that speaks for a person is active only while the directory still admits them.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_authentication::authenticate_client;
use super::form_body::read_protocol_form;
use super::oauth_error::OAuthError;
use crate::app::state::AppState;
use crate::authorization::people::recheck_and_find_person;
use crate::http::request_id::note_sub;
use crate::tokens::introspection::{inspect_token, TokenStatus, TokenTypeHint};

#[derive(Debug, Default, Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// A personal access token's address allowlist, for the resource server to apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<Vec<String>>,
}

pub async fn post_introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = read_protocol_form(&req, &body, "introspection request")?;
    let client = authenticate_client(&state, &req, &params).await?;
    if client.is_public() {
        // A public client proves nothing about itself, and introspection would let anyone
        // test tokens they found.
        return Err(OAuthError::invalid_client(
            "introspection is for confidential clients only",
        ));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = params.get("token_type_hint").and_then(TokenTypeHint::parse);
    let now = state.now();
    let status = inspect_token(&state.db, &state.keys, state.issuer(), token, hint, now).await?;
    // What this client may learn about at all: its own tokens, and as a resource server
    // other clients' access tokens and personal access tokens; never another client's
    // refresh token.
    let visible = match &status {
        TokenStatus::Inactive => false,
        TokenStatus::Access(claims) => claims.client_id == client.client_id || client.introspect_any_token,
        TokenStatus::Refresh(active) => active.record.client_id == client.client_id,
        TokenStatus::Personal(_) => client.introspect_any_token,
    };
    if !visible {
        return Ok(introspection_answer(&Introspection::default()));
    }
    // A token that speaks for a person is only as good as the person: their owner is
    // re-checked in the directory like at every other use, and one the directory refuses
    // makes it (and everything else of theirs) inactive.
    let owner = match &status {
        TokenStatus::Access(claims) if claims.gid.is_some() => Some(claims.sub.as_str()),
        TokenStatus::Refresh(active) => Some(active.record.user_id.as_str()),
        TokenStatus::Personal(pat) => Some(pat.user_id.as_str()),
        _ => None,
    };
    if let Some(sub) = owner {
        note_sub(sub);
    }
    let username = match owner {
        Some(sub) => match recheck_and_find_person(&state.person_checks(), sub).await? {
            Some(person) => Some(person.claims.username),
            None => return Ok(introspection_answer(&Introspection::default())),
        },
        // A client_credentials token names the client: nobody behind it.
        None => None,
    };
    let answer = match status {
        TokenStatus::Inactive => Introspection::default(),
        TokenStatus::Access(claims) => Introspection {
            active: true,
            username,
            scope: Some(claims.scope),
            client_id: Some(claims.client_id),
            token_type: Some("Bearer"),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
            allowed_ips: None,
        },
        TokenStatus::Refresh(active) => Introspection {
            active: true,
            username,
            scope: Some(active.record.scope),
            client_id: Some(active.record.client_id),
            // RFC 7662 2.2: `token_type` is an access token type (RFC 6749 5.1), which a
            // refresh token does not have; so it is left out.
            token_type: None,
            exp: Some(active.exp),
            iat: Some(active.record.created_at),
            sub: Some(active.record.user_id),
            iss: Some(state.issuer().to_string()),
            ..Introspection::default()
        },
        TokenStatus::Personal(pat) => Introspection {
            active: true,
            username,
            scope: Some(pat.scopes.join(" ")),
            token_type: Some("Bearer"),
            exp: Some(pat.expires_at),
            iat: Some(pat.created_at),
            sub: Some(pat.user_id),
            iss: Some(state.issuer().to_string()),
            allowed_ips: (!pat.allowed_ips.is_unrestricted()).then(|| pat.allowed_ips.to_strings()),
            ..Introspection::default()
        },
    };
    Ok(introspection_answer(&answer))
}

fn introspection_answer(answer: &Introspection) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(answer)
}
