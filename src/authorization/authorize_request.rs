//! Parsing and validating an authorization request (OpenID Connect Core 3.1.2.1,
//! RFC 6749 4.1.1, RFC 7636). The client and redirect URI are settled first: until
//! they are, nothing may be sent to the redirect URI.

use serde::{Deserialize, Serialize};

use super::client_registry::Client;
use super::parameter_limits::{parameter_limit, within_limit, SizeProblem, MAX_PARAMETERS};
use super::scopes::{is_valid_scope_parameter, ScopeSet};

/// Raw parameters with the first value of each name, the names seen twice, and the first
/// size problem (see `parameter_limits`): reading stops after [`MAX_PARAMETERS`].
#[derive(Debug, Default)]
pub struct RawParameters {
    values: Vec<(String, String)>,
    duplicated: Vec<String>,
    size_problem: Option<SizeProblem>,
}

impl RawParameters {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> RawParameters {
        let mut raw = RawParameters::default();
        for (index, (name, value)) in pairs.into_iter().enumerate() {
            if index >= MAX_PARAMETERS {
                raw.size_problem.get_or_insert(SizeProblem::TooManyParameters);
                break;
            }
            if raw.size_problem.is_none() {
                raw.size_problem = SizeProblem::of(&name, &value);
            }
            if raw.values.iter().any(|(seen, _)| *seen == name) {
                if !raw.duplicated.contains(&name) {
                    raw.duplicated.push(name);
                }
            } else {
                raw.values.push((name, value));
            }
        }
        raw
    }

    /// The parameter's value; an empty value counts as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.iter().any(|n| n == name)
    }

    pub fn first_duplicate(&self) -> Option<&str> {
        self.duplicated.first().map(String::as_str)
    }

    /// The first value over its limit, or too many parameters: the request is refused.
    pub fn size_problem(&self) -> Option<SizeProblem> {
        self.size_problem
    }

    /// The parameter's value when it fits its limit (what may be echoed back, such as
    /// `state` in an error redirect).
    pub fn get_within_limit(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| within_limit(name, value))
    }
}

/// `name`'s value, or the unredirectable error of one too long to consider.
fn bounded<'r>(raw: &'r RawParameters, name: &'static str) -> Result<Option<&'r str>, UnredirectableError> {
    match raw.get(name) {
        Some(value) if !within_limit(name, value) => Err(UnredirectableError::TooLong {
            name,
            limit: parameter_limit(name).1,
        }),
        value => Ok(value),
    }
}

/// `prompt` values Gatehouse acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated request, kept server-side while the person signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    /// Requested authentication context classes, in order of preference (OpenID Connect
    /// Core 3.1.2.1). Voluntary: values Gatehouse does not know are ignored.
    #[serde(default)]
    pub acr_values: Vec<String>,
}

/// Why a request cannot even be answered at its redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnredirectableError {
    #[error("The request does not say which application is asking (client_id is missing).")]
    MissingClientId,
    #[error("The application that sent you here is not registered with Gatehouse.")]
    UnknownClient,
    #[error("The request does not say where to send you back (redirect_uri is missing).")]
    MissingRedirectUri,
    #[error("The application asked to send you back to an address it has not registered, so Gatehouse will not send you there.")]
    UnregisteredRedirectUri,
    #[error("The request names the {0} parameter more than once.")]
    DuplicatedParameter(&'static str),
    #[error("The {name} parameter is too long (at most {limit} bytes).")]
    TooLong { name: &'static str, limit: usize },
}

/// An error to send back to the (validated) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectableError {
    pub error: &'static str,
    pub description: String,
}

fn redirectable(error: &'static str, description: impl Into<String>) -> RedirectableError {
    RedirectableError {
        error,
        description: description.into(),
    }
}

/// Step one: the client id, before the client is looked up.
pub fn client_id_of(raw: &RawParameters) -> Result<&str, UnredirectableError> {
    if raw.is_duplicated("client_id") {
        return Err(UnredirectableError::DuplicatedParameter("client_id"));
    }
    bounded(raw, "client_id")?.ok_or(UnredirectableError::MissingClientId)
}

/// Step two: the redirect URI, checked by exact match against the client's registration.
pub fn redirect_uri_of<'r>(raw: &'r RawParameters, client: &Client) -> Result<&'r str, UnredirectableError> {
    if raw.is_duplicated("redirect_uri") {
        return Err(UnredirectableError::DuplicatedParameter("redirect_uri"));
    }
    let uri = bounded(raw, "redirect_uri")?.ok_or(UnredirectableError::MissingRedirectUri)?;
    if client.has_redirect_uri(uri) {
        Ok(uri)
    } else {
        Err(UnredirectableError::UnregisteredRedirectUri)
    }
}

/// Step three: everything else. Errors from here on go to the redirect URI.
pub fn validate_request(
    raw: &RawParameters,
    client: &Client,
    redirect_uri: &str,
) -> Result<AuthorizationRequest, RedirectableError> {
    // Before anything else: nothing over its limit is stored or echoed.
    if let Some(problem) = raw.size_problem() {
        return Err(redirectable("invalid_request", problem.to_string()));
    }
    if let Some(name) = raw.first_duplicate() {
        return Err(redirectable(
            "invalid_request",
            format!("the {name} parameter is repeated"),
        ));
    }
    if raw.get("request").is_some() {
        return Err(redirectable(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if raw.get("request_uri").is_some() {
        return Err(redirectable(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if raw.get("registration").is_some() {
        return Err(redirectable(
            "registration_not_supported",
            "registration is not supported",
        ));
    }
    match raw.get("response_type") {
        None => return Err(redirectable("invalid_request", "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(redirectable(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    match raw.get("response_mode") {
        None | Some("query") => {}
        Some(_) => return Err(redirectable("invalid_request", "only response_mode=query is supported")),
    }
    let scope_text = raw.get("scope").unwrap_or("");
    if !is_valid_scope_parameter(scope_text) {
        return Err(redirectable(
            "invalid_scope",
            "the scope parameter contains invalid characters",
        ));
    }
    if !scope_text.split(' ').any(|s| s == "openid") {
        return Err(redirectable("invalid_scope", "the openid scope is required"));
    }
    let scope = ScopeSet::parse(scope_text);

    let prompt = parse_prompt(raw.get("prompt"))?;
    let max_age = match raw.get("max_age") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Some(seconds),
            _ => {
                return Err(redirectable(
                    "invalid_request",
                    "max_age must be a non-negative integer",
                ))
            }
        },
    };

    let code_challenge = raw.get("code_challenge").map(str::to_string);
    let code_challenge_method = match (&code_challenge, raw.get("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(redirectable(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ))
        }
        (Some(_), Some("S256")) => Some("S256".to_string()),
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(redirectable(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(redirectable(
                "invalid_request",
                "unsupported code_challenge_method; use S256",
            ))
        }
    };
    if let Some(challenge) = &code_challenge {
        if !is_valid_s256_challenge(challenge) {
            return Err(redirectable(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            ));
        }
    } else if client.is_public() {
        return Err(redirectable(
            "invalid_request",
            "PKCE (code_challenge with S256) is required for this client",
        ));
    }

    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope,
        state: raw.get("state").map(str::to_string),
        nonce: raw.get("nonce").map(str::to_string),
        code_challenge,
        code_challenge_method,
        prompt,
        max_age,
        login_hint: raw.get("login_hint").map(str::to_string),
        id_token_hint: raw.get("id_token_hint").map(str::to_string),
        acr_values: raw
            .get("acr_values")
            .map(|text| text.split(' ').filter(|v| !v.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

fn parse_prompt(text: Option<&str>) -> Result<Prompt, RedirectableError> {
    let mut prompt = Prompt::default();
    let Some(text) = text else {
        return Ok(prompt);
    };
    let mut count = 0;
    for value in text.split(' ').filter(|v| !v.is_empty()) {
        count += 1;
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // One account per browser session: choosing an account means signing in
            // again, as whoever the person picks (OpenID Connect Core 3.1.2.1).
            "select_account" => prompt.login = true,
            other => {
                return Err(redirectable(
                    "invalid_request",
                    format!("unsupported prompt value `{other}`"),
                ))
            }
        }
    }
    if prompt.none && count > 1 {
        return Err(redirectable(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

/// 43 base64url characters: the encoding of a 32-byte SHA-256 digest.
fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A PKCE code verifier per RFC 7636 section 4.1: 43 to 128 unreserved characters.
pub fn is_valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `redirect_uri` with `params` appended to its query (existing query parameters kept).
pub fn redirect_with_parameters(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return redirect_uri.to_string();
    }
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut pairs = url.query_pairs_mut();
                for (name, value) in params {
                    pairs.append_pair(name, value);
                }
            }
            url.to_string()
        }
        // Registered URIs are validated as absolute URLs, so this is not expected; fall
        // back to plain concatenation rather than losing the response.
        Err(_) => {
            let query = serde_urlencoded::to_string(params).unwrap_or_default();
            let separator = if redirect_uri.contains('?') { '&' } else { '?' };
            format!("{redirect_uri}{separator}{query}")
        }
    }
}

#[cfg(test)]
mod tests;
