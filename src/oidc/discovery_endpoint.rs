//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0) and the JWKS, both
//! served from memory.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::app::state::AppState;
use crate::authorization::scopes::SUPPORTED_SCOPES;
use crate::authorization::second_factor::SUPPORTED_ACR_VALUES;
use crate::config::SigningAlgorithm;
use crate::crypto::sha256_hex;

/// The discovery document for `issuer`, true to what is implemented; `extra_claims` are
/// the claim names configured in `[ldap.extra_claims]`, `algorithms` those with keys in
/// the ring (`[keys] algorithms`).
pub fn discovery_document<'a>(
    issuer: &str,
    extra_claims: impl IntoIterator<Item = &'a str>,
    algorithms: &[SigningAlgorithm],
) -> serde_json::Value {
    let algorithms: Vec<&str> = algorithms.iter().map(|alg| alg.as_str()).collect();
    let client_auth_methods = ["client_secret_basic", "client_secret_post"];
    let scopes: Vec<&str> = SUPPORTED_SCOPES.iter().map(|(name, _)| *name).collect();
    let mut claims = vec![
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "amr",
        "acr",
        "sid",
        "azp",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "email",
        "email_verified",
        "groups",
    ];
    claims.extend(extra_claims);
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": client_auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "acr_values_supported": SUPPORTED_ACR_VALUES,
        "claim_types_supported": ["normal"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false
    })
}

/// How long relying parties may cache the discovery document (it changes only with the
/// configuration).
const DISCOVERY_MAX_AGE_SECONDS: u32 = 300;

pub async fn get_openid_configuration(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let document = state.discovery.current();
    let etag = format!("\"{}\"", &sha256_hex(document.as_bytes())[..32]);
    cached_json(
        &req,
        DISCOVERY_MAX_AGE_SECONDS,
        &etag,
        "application/json",
        document.to_string(),
    )
}

/// The JWKS from memory, cacheable for `keys.jwks_cache_seconds`: the schedule publishes a
/// new key at least that long before it signs.
pub async fn get_jwks(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (jwks, etag) = state.keys.jwks_with_etag();
    let max_age = u32::try_from(state.config.keys.jwks_cache_seconds).unwrap_or(0);
    cached_json(&req, max_age, &etag, "application/jwk-set+json", jwks.to_string())
}

/// `200` with the body, or `304` when `If-None-Match` names `etag` (or `*`).
fn cached_json(req: &HttpRequest, max_age: u32, etag: &str, content_type: &str, body: String) -> HttpResponse {
    let not_modified = if_none_match_hits(req, etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(max_age),
        ]))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    if not_modified {
        return response.finish();
    }
    response.content_type(content_type).body(body)
}

/// RFC 9110 13.1.2: weak comparison, so `W/"x"` matches `"x"`.
fn if_none_match_hits(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        let etag = "\"abc\"";
        let hit = |value: &str| {
            if_none_match_hits(
                &TestRequest::default()
                    .insert_header((header::IF_NONE_MATCH, value))
                    .to_http_request(),
                etag,
            )
        };
        assert!(hit("\"abc\""));
        assert!(hit("W/\"abc\""));
        assert!(hit("\"x\", \"abc\""));
        assert!(hit("*"));
        assert!(!hit("\"abd\""));
        assert!(!hit("abc"));
        assert!(!if_none_match_hits(&TestRequest::default().to_http_request(), etag));
    }
}
