//! The quick start's demo application: a small OpenID Connect relying party that signs
//! people in through Gatehouse (authorization code flow, PKCE S256, state and nonce),
//! verifies the ID token with the provider's JWKS, calls userinfo and shows what it got.
//!
//! Configured by environment variables: DEMO_ISSUER, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET,
//! DEMO_REDIRECT_URI, DEMO_LISTEN (default 127.0.0.1:8081). `scripts/quickstart.sh` sets them.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError};
use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::reqwest;
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use url::Url;

const SESSION_COOKIE: &str = "demo_rp_session";
const LOGIN_COOKIE: &str = "demo_rp_login";
const PENDING_LIFETIME: Duration = Duration::from_secs(600);

/// Discovery plus the RP-initiated logout endpoint, which the core metadata type leaves out.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct LogoutMetadata {
    end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for LogoutMetadata {}

type DemoProviderMetadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type DemoClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Userinfo keeps the `groups` claim, which is not a standard claim.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct GroupsClaim {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
}
impl AdditionalClaims for GroupsClaim {}

struct PendingLogin {
    pkce_verifier: PkceCodeVerifier,
    nonce: Nonce,
    started: Instant,
}

struct SignedIn {
    name: String,
    id_token: String,
    id_token_claims: String,
    userinfo: String,
    access_token: String,
}

struct Demo {
    issuer: String,
    client: DemoClient,
    http: reqwest::Client,
    end_session_endpoint: Option<Url>,
    post_logout_redirect_uri: String,
    pending: Mutex<HashMap<String, PendingLogin>>,
    sessions: Mutex<HashMap<String, SignedIn>>,
    logouts: Mutex<HashMap<String, Instant>>,
}

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("environment variable {0} is not set")]
    MissingSetting(&'static str),
    #[error("{0} is not a valid URL: {1}")]
    InvalidUrl(&'static str, String),
    #[error("provider discovery failed: {0}")]
    Discovery(String),
    #[error("this sign-in was not started here, or it expired; please start again")]
    UnknownState,
    #[error("Gatehouse answered with an error: {0}")]
    Provider(String),
    #[error("the callback carries no authorization code")]
    MissingCode,
    #[error("the token request failed: {0}")]
    TokenExchange(String),
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
    #[error("the userinfo request failed: {0}")]
    UserInfo(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ResponseError for DemoError {
    fn status_code(&self) -> StatusCode {
        match self {
            DemoError::UnknownState | DemoError::Provider(_) | DemoError::MissingCode => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let body = format!(
            "<h2>Sign-in failed</h2><p class=error>{}</p><p><a href=\"/\">Back</a></p>",
            escape(&self.to_string())
        );
        page(self.status_code(), "Sign-in failed", &body)
    }
}

/// An error and its causes on one line (the causes carry the useful detail, such as which
/// field of a response did not parse).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn escape(text: &str) -> String {
    text.chars().fold(String::with_capacity(text.len()), |mut out, c| {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
        out
    })
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>{}</title><style>\
             body{{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}}\
             pre{{background:#f4f4f6;padding:1rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}}\
             a.button{{display:inline-block;background:#2456d3;color:#fff;padding:.6rem 1.2rem;border-radius:6px;text-decoration:none}}\
             .note{{background:#eef6ee;padding:.5rem 1rem}} .error{{color:#b00020}}</style></head><body>\
             <h1>Demo application</h1>{}</body></html>",
            escape(title),
            body
        ))
}

fn redirect(location: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut response = HttpResponse::Found();
    response.insert_header((header::LOCATION, location));
    for cookie in cookies {
        response.cookie(cookie);
    }
    response.finish()
}

fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

async fn get_home(demo: web::Data<Demo>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let signed_out = query
        .get("state")
        .is_some_and(|state| lock(&demo.logouts).remove(state).is_some());
    let notice = if signed_out {
        "<p class=note>You are signed out, at Gatehouse too.</p>"
    } else {
        ""
    };
    let sessions = lock(&demo.sessions);
    let session = req.cookie(SESSION_COOKIE).and_then(|c| sessions.get(c.value()));
    let body = match session {
        None => format!(
            "{notice}<p>This is a tiny OpenID Connect application (<code>examples/demo_rp.rs</code>). It sends you to \
             Gatehouse at <code>{}</code> to sign in with the authorization code flow and PKCE, then shows the verified \
             ID token, the userinfo answer and the access token it received.</p>\
             <p><a class=button href=\"/login\">Sign in with Gatehouse</a></p>",
            escape(&demo.issuer)
        ),
        Some(s) => format!(
            "<p>Signed in as <strong>{}</strong>. <a href=\"/logout\">Sign out</a></p>\
             <h2>ID token claims</h2><p>Signature checked with the provider's JWKS; issuer, audience, expiry, nonce and at_hash checked.</p>\
             <pre>{}</pre><h2>Userinfo</h2><pre>{}</pre><h2>Access token</h2><pre>{}</pre><h2>Raw ID token</h2><pre>{}</pre>",
            escape(&s.name),
            escape(&s.id_token_claims),
            escape(&s.userinfo),
            escape(&s.access_token),
            escape(&s.id_token)
        ),
    };
    page(StatusCode::OK, "Demo application", &body)
}

async fn get_login(demo: web::Data<Demo>) -> HttpResponse {
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = demo
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(["profile", "email", "groups"].map(|s| Scope::new(s.into())))
        .set_pkce_challenge(pkce_challenge)
        .url();
    let mut pending = lock(&demo.pending);
    pending.retain(|_, login| login.started.elapsed() < PENDING_LIFETIME);
    pending.insert(
        state.secret().clone(),
        PendingLogin {
            pkce_verifier,
            nonce,
            started: Instant::now(),
        },
    );
    // The state also goes into a cookie, so that a callback only completes in the browser that started it.
    let mut login_cookie = cookie(LOGIN_COOKIE, state.secret().clone());
    login_cookie.set_max_age(actix_web::cookie::time::Duration::seconds(600));
    redirect(url.as_str(), vec![login_cookie])
}

async fn get_callback(
    demo: web::Data<Demo>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, DemoError> {
    let state = query.get("state").ok_or(DemoError::UnknownState)?;
    let login = lock(&demo.pending).remove(state).ok_or(DemoError::UnknownState)?;
    if req.cookie(LOGIN_COOKIE).is_none_or(|c| c.value() != state) || login.started.elapsed() >= PENDING_LIFETIME {
        return Err(DemoError::UnknownState);
    }
    if let Some(error) = query.get("error") {
        let description = query
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(DemoError::Provider(format!("{error}{description}")));
    }
    // RFC 9207: when the provider names itself, it must be the one we sent the person to.
    if query.get("iss").is_some_and(|iss| iss != &demo.issuer) {
        return Err(DemoError::Provider("the callback came from another issuer".into()));
    }
    let code = query.get("code").ok_or(DemoError::MissingCode)?;

    let token = demo
        .client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| DemoError::TokenExchange(e.to_string()))?
        .set_pkce_verifier(login.pkce_verifier)
        .request_async(&demo.http)
        .await
        .map_err(|e| DemoError::TokenExchange(describe(&e)))?;
    let id_token = token
        .id_token()
        .ok_or(DemoError::InvalidIdToken("the token response has none".into()))?;
    let verifier = demo.client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &login.nonce)
        .map_err(|e| DemoError::InvalidIdToken(e.to_string()))?;
    if let Some(expected) = claims.access_token_hash() {
        let invalid = |e: &dyn std::fmt::Display| DemoError::InvalidIdToken(e.to_string());
        let alg = id_token.signing_alg().map_err(|e| invalid(&e))?;
        let key = id_token.signing_key(&verifier).map_err(|e| invalid(&e))?;
        let actual = AccessTokenHash::from_token(token.access_token(), alg, key).map_err(|e| invalid(&e))?;
        if &actual != expected {
            return Err(DemoError::InvalidIdToken(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    // The signature is verified, so the payload can be shown exactly as issued, with
    // every claim (groups, amr, sid, ...) and not only the ones openidconnect models.
    let raw_id_token = id_token.to_string();
    let id_token_claims = raw_id_token
        .split('.')
        .nth(1)
        .and_then(|payload| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .ok_or(DemoError::InvalidIdToken("the payload is not JSON".into()))?;

    let userinfo: UserInfoClaims<GroupsClaim, CoreGenderClaim> = demo
        .client
        .user_info(token.access_token().clone(), Some(claims.subject().clone()))
        .map_err(|e| DemoError::UserInfo(e.to_string()))?
        .request_async(&demo.http)
        .await
        .map_err(|e| DemoError::UserInfo(describe(&e)))?;
    let userinfo = serde_json::to_string_pretty(&userinfo).map_err(|e| DemoError::UserInfo(e.to_string()))?;

    let name = claims
        .preferred_username()
        .map_or_else(|| claims.subject().to_string(), |u| u.to_string());
    let session_id = CsrfToken::new_random().secret().clone();
    let signed_in = SignedIn {
        name,
        id_token: raw_id_token,
        id_token_claims,
        userinfo,
        access_token: token.access_token().secret().clone(),
    };
    lock(&demo.sessions).insert(session_id.clone(), signed_in);
    let mut done = cookie(LOGIN_COOKIE, String::new());
    done.make_removal();
    Ok(redirect("/", vec![cookie(SESSION_COOKIE, session_id), done]))
}

async fn get_logout(demo: web::Data<Demo>, req: HttpRequest) -> HttpResponse {
    let Some(session) = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| lock(&demo.sessions).remove(c.value()))
    else {
        return redirect("/", vec![]);
    };
    let mut forget = cookie(SESSION_COOKIE, String::new());
    forget.make_removal();
    let Some(mut end_session) = demo.end_session_endpoint.clone() else {
        return redirect("/", vec![forget]);
    };
    let state = CsrfToken::new_random().secret().clone();
    let mut logouts = lock(&demo.logouts);
    logouts.retain(|_, started| started.elapsed() < PENDING_LIFETIME);
    logouts.insert(state.clone(), Instant::now());
    end_session
        .query_pairs_mut()
        .append_pair("id_token_hint", &session.id_token)
        .append_pair("post_logout_redirect_uri", &demo.post_logout_redirect_uri)
        .append_pair("state", &state);
    redirect(end_session.as_str(), vec![forget])
}

fn setting(name: &'static str) -> Result<String, DemoError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(DemoError::MissingSetting(name))
}

async fn run() -> Result<(), DemoError> {
    let issuer = setting("DEMO_ISSUER")?;
    let client_id = setting("DEMO_CLIENT_ID")?;
    let client_secret = setting("DEMO_CLIENT_SECRET")?;
    let redirect_uri = setting("DEMO_REDIRECT_URI")?;
    let listen = std::env::var("DEMO_LISTEN").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let redirect_url = RedirectUrl::new(redirect_uri.clone())
        .map_err(|e| DemoError::InvalidUrl("DEMO_REDIRECT_URI", e.to_string()))?;
    // After signing out, the provider sends the person back to this application's home page.
    let post_logout_redirect_uri = Url::parse(&redirect_uri)
        .and_then(|u| u.join("/"))
        .map_err(|e| DemoError::InvalidUrl("DEMO_REDIRECT_URI", e.to_string()))?
        .to_string();
    let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|e| DemoError::InvalidUrl("DEMO_ISSUER", e.to_string()))?;

    // Never follow redirects: the OpenID Connect client must see every answer as it is.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DemoError::Discovery(e.to_string()))?;
    // The provider may still be starting: retry discovery for about ten seconds.
    let mut attempt = 0;
    let metadata = loop {
        attempt += 1;
        match DemoProviderMetadata::discover_async(issuer_url.clone(), &http).await {
            Ok(metadata) => break metadata,
            Err(e) if attempt >= 20 => return Err(DemoError::Discovery(format!("{issuer}: {}", describe(&e)))),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    let end_session_endpoint = match &metadata.additional_metadata().end_session_endpoint {
        Some(url) => Some(Url::parse(url).map_err(|e| DemoError::InvalidUrl("end_session_endpoint", e.to_string()))?),
        None => None,
    };
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id),
        Some(ClientSecret::new(client_secret)),
    )
    .set_redirect_uri(redirect_url);

    let demo = web::Data::new(Demo {
        issuer,
        client,
        http,
        end_session_endpoint,
        post_logout_redirect_uri,
        pending: Mutex::new(HashMap::new()),
        sessions: Mutex::new(HashMap::new()),
        logouts: Mutex::new(HashMap::new()),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(demo.clone())
            .route("/", web::get().to(get_home))
            .route("/login", web::get().to(get_login))
            .route("/callback", web::get().to(get_callback))
            .route("/logout", web::get().to(get_logout))
    })
    .workers(1)
    .shutdown_timeout(2)
    .bind(&listen)?;
    println!("demo_rp: listening on http://{listen}");
    server.run().await?;
    Ok(())
}

#[actix_web::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo_rp: {e}");
            ExitCode::FAILURE
        }
    }
}
