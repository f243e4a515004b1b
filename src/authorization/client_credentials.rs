//! The client_credentials grant (RFC 6749 section 4.4): a confidential client gets an access
//! token for itself. Nothing is written: the client comes from memory, the token is a
//! self-contained JWT without a grant, and it cannot be refreshed.

use super::client_registry::Client;
use super::scopes::is_valid_scope_parameter;
use crate::config::GrantType;
use crate::crypto::random_token;
use crate::keys::KeyRing;
use crate::tokens::access_token::{sign_access_token, AccessTokenClaims};
use crate::tokens::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum ClientCredentialsError {
    #[error("this client may not use the client_credentials grant")]
    NotAllowed,
    #[error("scope may only name scopes this client is allowed: {0}")]
    InvalidScope(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

#[derive(Debug, Clone)]
pub struct ClientToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// The scopes to grant: those asked for (each one allowed to the client), or without a
/// `scope` parameter every allowed scope. Order follows the request, duplicates dropped.
pub fn client_credentials_scope(
    client: &Client,
    requested: Option<&str>,
) -> Result<Vec<String>, ClientCredentialsError> {
    let Some(requested) = requested else {
        return Ok(client.allowed_scopes.clone());
    };
    let refused = || ClientCredentialsError::InvalidScope(client.allowed_scopes.join(" "));
    if !is_valid_scope_parameter(requested) {
        return Err(refused());
    }
    let mut granted: Vec<String> = Vec::new();
    for name in requested.split(' ').filter(|s| !s.is_empty()) {
        if !client.allowed_scopes.iter().any(|allowed| allowed == name) {
            return Err(refused());
        }
        if !granted.iter().any(|g| g == name) {
            granted.push(name.to_string());
        }
    }
    Ok(granted)
}

/// Signs an access token whose subject is the client itself.
pub fn issue_client_credentials_token(
    keys: &KeyRing,
    issuer: &str,
    lifetime: i64,
    client: &Client,
    requested_scope: Option<&str>,
    now: i64,
) -> Result<ClientToken, ClientCredentialsError> {
    // RFC 6749 section 4.4: confidential clients only.
    if client.is_public() || !client.allows_grant(GrantType::ClientCredentials) {
        return Err(ClientCredentialsError::NotAllowed);
    }
    let scope = client_credentials_scope(client, requested_scope)?.join(" ");
    let claims = AccessTokenClaims {
        iss: issuer.to_string(),
        sub: client.client_id.clone(),
        aud: client.client_id.clone(),
        client_id: client.client_id.clone(),
        scope: scope.clone(),
        jti: random_token(16),
        iat: now,
        exp: now + lifetime,
        auth_time: None,
        sid: None,
        gid: None,
    };
    Ok(ClientToken {
        access_token: sign_access_token(keys, &claims)?,
        expires_in: lifetime,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IpAllowlist, SigningAlgorithm, TokenEndpointAuthMethod};
    use crate::keys::test_keys;

    fn service(auth_method: TokenEndpointAuthMethod, grant_types: Vec<GrantType>) -> Client {
        Client {
            client_id: "reports".into(),
            name: String::new(),
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            auth_method,
            first_party: false,
            require_mfa: false,
            grant_types,
            allowed_scopes: vec!["reports:read".into(), "reports:write".into()],
            allowed_ips: IpAllowlist::default(),
            issue_refresh_tokens: false,
            id_token_signed_response_alg: SigningAlgorithm::Rs256,
            introspect_any_token: false,
            source: "cli".into(),
        }
    }

    #[test]
    fn scopes_come_from_the_allowlist() {
        let client = service(
            TokenEndpointAuthMethod::ClientSecretBasic,
            vec![GrantType::ClientCredentials],
        );
        assert_eq!(
            client_credentials_scope(&client, None).unwrap(),
            ["reports:read", "reports:write"]
        );
        assert_eq!(
            client_credentials_scope(&client, Some("reports:write  reports:write")).unwrap(),
            ["reports:write"]
        );
        assert!(client_credentials_scope(&client, Some("reports:read admin")).is_err());
        assert!(client_credentials_scope(&client, Some("reports:\"read\"")).is_err());
    }

    #[test]
    fn public_clients_and_clients_without_the_grant_are_refused() {
        let keys = crate::keys::KeyRing::from_signing_key(test_keys::first(), 0).unwrap();
        let public = service(TokenEndpointAuthMethod::None, vec![GrantType::ClientCredentials]);
        let sign_in_only = service(TokenEndpointAuthMethod::ClientSecretBasic, GrantType::defaults());
        for client in [public, sign_in_only] {
            assert!(matches!(
                issue_client_credentials_token(&keys, "https://id.example", 60, &client, None, 0),
                Err(ClientCredentialsError::NotAllowed)
            ));
        }
        let allowed = service(
            TokenEndpointAuthMethod::ClientSecretBasic,
            vec![GrantType::ClientCredentials],
        );
        let token = issue_client_credentials_token(&keys, "https://id.example", 60, &allowed, None, 0).unwrap();
        assert_eq!(token.scope, "reports:read reports:write");
        assert_eq!(token.expires_in, 60);
    }
}
