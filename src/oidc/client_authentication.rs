//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! 2.3.1): `client_secret_basic`, `client_secret_post`, or `none` for public clients (which
//! then must use PKCE). A client with an address allowlist is refused from anywhere else.
//! A request that passes is marked as its client's (see `http::rate_limit`): only such
//! requests count against the client's rate limit.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::oauth_error::OAuthError;
use crate::app::state::AppState;
use crate::audit::AuditEvent;
use crate::authorization::authorize_request::RawParameters;
use crate::authorization::client_registry::Client;
use crate::authorization::client_secret::SecretMatch;
use crate::http::rate_limit::mark_authenticated_client;
use crate::http::request_id::note_client_id;

/// Credentials as presented, before they are checked.
#[derive(Debug, PartialEq, Eq)]
pub enum PresentedCredentials {
    Basic { client_id: String, secret: String },
    Post { client_id: String, secret: String },
    PublicClient { client_id: String },
}

/// Reads the Authorization header and the form; more than one method is `invalid_request`.
pub fn presented_credentials(
    authorization: Option<&str>,
    params: &RawParameters,
) -> Result<PresentedCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(value) = authorization {
        let (client_id, secret) = parse_basic(value)
            .ok_or_else(|| OAuthError::invalid_client("the Authorization header is not valid Basic credentials"))?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_client(
                "client_id does not match the Authorization header",
            ));
        }
        return Ok(PresentedCredentials::Basic { client_id, secret });
    }
    let client_id = body_id
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?
        .to_string();
    Ok(match body_secret {
        Some(secret) => PresentedCredentials::Post {
            client_id,
            secret: secret.to_string(),
        },
        None => PresentedCredentials::PublicClient { client_id },
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, per RFC 6749 section 2.3.1.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |part: &str| {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let id = decode(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, decode(secret)?))
}

/// The one answer to every failed client authentication. Unknown client, wrong secret,
/// right secret from an address the client may not use: all the same to the caller, so
/// the answer tells nobody which part was wrong (the allowlist must not become an oracle
/// for guessing a secret from anywhere).
fn authentication_failed() -> OAuthError {
    OAuthError::invalid_client("client authentication failed")
}

/// Authenticates the client of a token, revocation or introspection request, then checks
/// the client's address allowlist against where the request comes from. The secret is
/// checked first in every case (the same work whatever follows), and a failure of either
/// check gets the same answer; the audit trail records an address refusal with whether
/// the credentials were valid.
pub async fn authenticate_client(
    state: &AppState,
    req: &HttpRequest,
    params: &RawParameters,
) -> Result<Arc<Client>, OAuthError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let presented = presented_credentials(authorization, params)?;
    let (client_id, secret) = match &presented {
        PresentedCredentials::Basic { client_id, secret } | PresentedCredentials::Post { client_id, secret } => {
            (client_id, Some(secret))
        }
        PresentedCredentials::PublicClient { client_id } => (client_id, None),
    };
    let client = state.clients.find(&state.db, client_id).await?;
    let Some(client) = client else {
        if let Some(secret) = secret {
            state.clients.check_secret_of_unknown_client(secret);
        }
        return Err(authentication_failed());
    };
    let secret_match = match secret {
        Some(secret) if !client.is_public() => state.clients.check_secret(&client, secret),
        Some(_) => SecretMatch::No,
        None if client.is_public() => SecretMatch::Current,
        None => SecretMatch::No,
    };
    let ip = state.client_ip(req);
    let permitted = match ip {
        Some(ip) => client.allowed_ips.permits(ip),
        // Without a known address only an unrestricted client may go on.
        None => client.allowed_ips.is_unrestricted(),
    };
    if !permitted {
        let ip = ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        tracing::info!(client_id = %client.client_id, %ip, "client refused: address not allowed");
        state.audit.record(
            AuditEvent::ClientAddressRefused {
                client_id: client.client_id.clone(),
                ip,
                credentials: if secret_match.is_match() { "valid" } else { "invalid" },
            },
            state.now(),
        );
        return Err(authentication_failed());
    }
    if !secret_match.is_match() {
        tracing::info!(client_id = %client.client_id, "client authentication failed");
        return Err(authentication_failed());
    }
    if let (SecretMatch::Legacy, Some(secret)) = (secret_match, secret) {
        if let Err(error) = state.clients.upgrade_secret_verifier(&state.db, &client, secret).await {
            // The secret was right; the upgrade is tried again at the next request.
            tracing::warn!(client_id = %client.client_id, error = %error, "could not upgrade a client secret verifier");
        }
    }
    // Proven: from here on the request counts against this client's budget, and its
    // log lines name it.
    mark_authenticated_client(req, &client.client_id, client.is_public());
    note_client_id(&client.client_id);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> RawParameters {
        RawParameters::from_pairs(url::form_urlencoded::parse(query.as_bytes()).into_owned())
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:p%40ss+word"));
        assert_eq!(
            presented_credentials(Some(&header), &params("")).unwrap(),
            PresentedCredentials::Basic {
                client_id: "my app".into(),
                secret: "p@ss word".into()
            }
        );
    }

    #[test]
    fn methods_cannot_be_mixed_and_garbage_is_rejected() {
        let header = format!("Basic {}", STANDARD.encode("app:secret"));
        assert_eq!(
            presented_credentials(Some(&header), &params("client_secret=x"))
                .unwrap_err()
                .error,
            "invalid_request"
        );
        assert_eq!(
            presented_credentials(Some("Basic !!!"), &params("")).unwrap_err().error,
            "invalid_client"
        );
        assert_eq!(
            presented_credentials(Some("Bearer abc"), &params(""))
                .unwrap_err()
                .error,
            "invalid_client"
        );
        assert_eq!(
            presented_credentials(None, &params("")).unwrap_err().error,
            "invalid_client"
        );
        assert_eq!(
            presented_credentials(None, &params("client_id=spa")).unwrap(),
            PresentedCredentials::PublicClient {
                client_id: "spa".into()
            }
        );
    }
}
