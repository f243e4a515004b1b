//! An application signing people in through Gatehouse, built on the `openidconnect`
//! crate: discovery, PKCE, code exchange, ID token verification against the JWKS.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};

use super::spawn_app::TestApp;

pub type RpClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub struct RelyingParty {
    pub client: RpClient,
    pub http: reqwest::Client,
    pub metadata: CoreProviderMetadata,
}

pub struct AuthorizationStart {
    pub url: String,
    pub state: String,
    pub nonce: Nonce,
    pub pkce_verifier: PkceCodeVerifier,
}

impl RelyingParty {
    pub async fn discover(app: &TestApp, client_id: &str, secret: Option<&str>, redirect_uri: &str) -> RelyingParty {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self::discover_with(app, client_id, secret, redirect_uri, http).await
    }

    /// [`RelyingParty::discover`] through `http` (one that trusts a test CA, say).
    pub async fn discover_with(
        app: &TestApp,
        client_id: &str,
        secret: Option<&str>,
        redirect_uri: &str,
        http: reqwest::Client,
    ) -> RelyingParty {
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).expect("issuer"), &http)
                .await
                .expect("discovery succeeds");
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(client_id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).expect("redirect uri"));
        RelyingParty { client, http, metadata }
    }

    /// Sends the secret in the body (client_secret_post) instead of HTTP Basic.
    pub fn with_secret_in_body(mut self) -> Self {
        self.client = self.client.set_auth_type(AuthType::RequestBody);
        self
    }

    /// An authorization request with PKCE S256, state, nonce and `scopes` (besides openid).
    pub fn start(&self, scopes: &[&str], extra: &[(&str, &str)]) -> AuthorizationStart {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new((*scope).to_string()));
        }
        for (name, value) in extra {
            request = request.add_extra_param(*name, *value);
        }
        let (url, state, nonce) = request.url();
        AuthorizationStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce,
            pkce_verifier: verifier,
        }
    }

    pub async fn exchange(&self, code: &str, verifier: PkceCodeVerifier) -> Result<CoreTokenResponse, String> {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .expect("token endpoint configured")
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(response) => response.error().to_string(),
                other => format!("{other:?}"),
            })
    }

    /// Verifies the ID token (signature through the JWKS, iss, aud, exp, nonce, at_hash).
    pub fn verify_id_token(&self, response: &CoreTokenResponse, nonce: &Nonce) -> CoreIdTokenClaims {
        let id_token = response.id_token().expect("an ID token is returned");
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, nonce)
            .expect("the ID token verifies")
            .clone();
        let expected_hash = claims.access_token_hash().expect("at_hash is present");
        let signing_alg = id_token.signing_alg().expect("signing algorithm");
        let signing_key = id_token.signing_key(&verifier).expect("signing key in the JWKS");
        let computed = AccessTokenHash::from_token(response.access_token(), signing_alg, signing_key)
            .expect("hash the access token");
        assert_eq!(&computed, expected_hash, "at_hash matches the access token");
        claims
    }

    /// The raw userinfo response (status, JSON body).
    pub async fn userinfo(&self, access_token: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let endpoint = self
            .metadata
            .userinfo_endpoint()
            .expect("userinfo endpoint advertised")
            .url()
            .clone();
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .expect("userinfo");
        let status = response.status();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }
}
