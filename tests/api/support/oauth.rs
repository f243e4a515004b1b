//! Raw protocol requests for the negative tests: authorization requests built parameter by
//! parameter, token requests with exactly the credentials a test chooses, userinfo calls,
//! and checks on the redirects and headers Gatehouse answers with.

use openidconnect::PkceCodeChallenge;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::browser::{query_param, Browser};
use super::spawn_app::{TestApp, FIRST_PARTY_ID, FIRST_PARTY_REDIRECT};

/// The `state` every [`AuthorizeRequest`] starts with.
pub const STATE: &str = "state-1234";

/// A PKCE pair (S256).
pub struct Pkce {
    pub challenge: String,
    pub verifier: String,
}

pub fn new_pkce() -> Pkce {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    Pkce {
        challenge: challenge.as_str().to_string(),
        verifier: verifier.secret().clone(),
    }
}

/// An authorization request, one parameter at a time.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub params: Vec<(String, String)>,
}

impl AuthorizeRequest {
    /// `response_type=code`, `scope=openid`, `state=STATE`, the client and redirect URI.
    pub fn new(client_id: &str, redirect_uri: &str) -> AuthorizeRequest {
        AuthorizeRequest { params: Vec::new() }
            .set("response_type", "code")
            .set("client_id", client_id)
            .set("redirect_uri", redirect_uri)
            .set("scope", "openid")
            .set("state", STATE)
    }

    /// Replaces the parameter, or adds it.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = value.to_string(),
            None => self.params.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// Adds the parameter even if it is already there (to repeat it).
    pub fn append(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.params.retain(|(n, _)| n != name);
        self
    }

    pub fn with_pkce(self, pkce: &Pkce) -> Self {
        self.set("code_challenge", &pkce.challenge)
            .set("code_challenge_method", "S256")
    }

    pub fn url(&self, app: &TestApp) -> String {
        let mut url = url::Url::parse(&app.url("/authorize")).expect("authorize URL");
        url.query_pairs_mut().extend_pairs(&self.params);
        url.to_string()
    }
}

/// A request to the client's redirect URI, taken apart.
#[derive(Debug)]
pub struct Callback {
    /// The URL without its query.
    pub base: String,
    pub code: Option<String>,
    pub error: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
}

pub fn callback(location: &str) -> Callback {
    let mut url = url::Url::parse(location).unwrap_or_else(|e| panic!("{location} is not a URL: {e}"));
    url.set_query(None);
    Callback {
        base: url.to_string(),
        code: query_param(location, "code"),
        error: query_param(location, "error"),
        state: query_param(location, "state"),
        iss: query_param(location, "iss"),
    }
}

/// Asserts an error response at `redirect_uri` carrying `error`, our state and our issuer.
pub fn assert_error_redirect(app: &TestApp, location: &str, redirect_uri: &str, error: &str) {
    let answer = callback(location);
    assert_eq!(
        answer.base, redirect_uri,
        "the error goes to the redirect URI: {location}"
    );
    assert_eq!(answer.error.as_deref(), Some(error), "{location}");
    assert_eq!(answer.state.as_deref(), Some(STATE), "state is returned: {location}");
    assert_eq!(
        answer.iss.as_deref(),
        Some(app.address.as_str()),
        "iss is returned: {location}"
    );
    assert!(answer.code.is_none(), "no code with an error: {location}");
}

/// Asserts a code at `redirect_uri` and returns it.
pub fn expect_code(location: &str, redirect_uri: &str) -> String {
    let answer = callback(location);
    assert_eq!(answer.base, redirect_uri, "{location}");
    assert!(answer.error.is_none(), "unexpected error: {location}");
    answer.code.unwrap_or_else(|| panic!("no code in {location}"))
}

/// GETs `url` with the browser and returns the Location of the 302 it must answer with.
pub async fn redirect_of(browser: &Browser, url: &str) -> String {
    let (status, location, body) = browser.visit(url).await;
    assert_eq!(status, StatusCode::FOUND, "expected a redirect from {url}: {body}");
    location.expect("a redirect has a Location")
}

/// True when `location` is Gatehouse's sign-in page.
pub fn is_login_page(app: &TestApp, location: &str) -> bool {
    location.starts_with(&app.url("/login?request="))
}

pub fn is_consent_page(app: &TestApp, location: &str) -> bool {
    location.starts_with(&app.url("/consent?request="))
}

/// Signs the browser in without any application (the plain `/login` page).
pub async fn sign_in(app: &TestApp, browser: &Browser, username: &str, password: &str) {
    let (status, location, body) = browser.submit_login(&app.url("/login"), username, password).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "sign-in as {username} failed: {body}");
    assert_eq!(location.as_deref(), Some(app.url("/").as_str()));
}

/// Whether the browser has a live session, asked the way an application would: a
/// `prompt=none` request of the first-party client (which needs no consent).
pub async fn is_signed_in(app: &TestApp, browser: &Browser) -> bool {
    let url = AuthorizeRequest::new(FIRST_PARTY_ID, FIRST_PARTY_REDIRECT)
        .set("prompt", "none")
        .url(app);
    let answer = callback(&redirect_of(browser, &url).await);
    assert_eq!(answer.base, FIRST_PARTY_REDIRECT);
    match (answer.code, answer.error.as_deref()) {
        (Some(_), None) => true,
        (None, Some("login_required")) => false,
        other => panic!("prompt=none answered neither a code nor login_required: {other:?}"),
    }
}

/// A raw HTTP answer with a JSON body (or `Null` when the body is not JSON).
#[derive(Debug)]
pub struct JsonReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl JsonReply {
    pub async fn read(response: reqwest::Response) -> JsonReply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        JsonReply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII header"))
    }

    /// The `error` member of an OAuth error body.
    pub fn error(&self) -> Option<&str> {
        self.body["error"].as_str()
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// POSTs a form to `/token`, with HTTP Basic credentials when `basic` is given.
pub async fn token_request(app: &TestApp, basic: Option<(&str, &str)>, fields: &[(&str, &str)]) -> JsonReply {
    let mut request = http_client().post(app.url("/token")).form(fields);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    JsonReply::read(request.send().await.expect("token request")).await
}

/// Redeems `code` with Basic credentials, the redirect URI and (when given) the verifier.
pub async fn redeem_code(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> JsonReply {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(verifier) = verifier {
        fields.push(("code_verifier", verifier));
    }
    token_request(app, basic, &fields).await
}

/// `GET /userinfo` with a bearer token in the Authorization header.
pub async fn userinfo_with_header(app: &TestApp, access_token: &str) -> JsonReply {
    let response = http_client()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo request");
    JsonReply::read(response).await
}

/// All `Set-Cookie` headers naming the cookie `name`.
pub fn set_cookies<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    let prefix = format!("{name}=");
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&prefix))
        .collect()
}

/// The session cookie's name over plain HTTP (the tests' issuer is http://).
pub const SESSION_COOKIE: &str = "gatehouse_session";
