use super::*;
use crate::config::TokenEndpointAuthMethod;

fn client(method: TokenEndpointAuthMethod) -> Client {
    Client {
        client_id: "app".into(),
        name: "App".into(),
        secret_hash: None,
        redirect_uris: vec!["https://app.example/cb?x=1".into()],
        post_logout_redirect_uris: vec![],
        auth_method: method,
        first_party: false,
        require_mfa: false,
        grant_types: crate::config::GrantType::defaults(),
        allowed_scopes: vec![],
        allowed_ips: crate::config::IpAllowlist::default(),
        issue_refresh_tokens: false,
        id_token_signed_response_alg: crate::config::SigningAlgorithm::Rs256,
        introspect_any_token: false,
        source: "cli".into(),
    }
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn raw(query: &str) -> RawParameters {
    RawParameters::from_pairs(url::form_urlencoded::parse(query.as_bytes()).into_owned())
}

fn validate(query: &str, method: TokenEndpointAuthMethod) -> Result<AuthorizationRequest, RedirectableError> {
    let raw = raw(query);
    let client = client(method);
    let uri = redirect_uri_of(&raw, &client).unwrap().to_string();
    validate_request(&raw, &client, &uri)
}

const BASE: &str = "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&response_type=code";

#[test]
fn a_complete_request_is_accepted() {
    let query = format!(
        "{BASE}&scope=openid+email+bogus&state=s1&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=consent&max_age=60&unknown=ignored"
    );
    let request = validate(&query, TokenEndpointAuthMethod::None).unwrap();
    assert_eq!(request.scope.to_string(), "openid email");
    assert_eq!(request.state.as_deref(), Some("s1"));
    assert!(request.prompt.consent);
    assert_eq!(request.max_age, Some(60));
    assert_eq!(request.code_challenge_method.as_deref(), Some("S256"));
}

#[test]
fn client_and_redirect_uri_problems_are_not_redirectable() {
    assert_eq!(
        client_id_of(&raw("scope=openid")),
        Err(UnredirectableError::MissingClientId)
    );
    assert_eq!(
        client_id_of(&raw("client_id=a&client_id=b")),
        Err(UnredirectableError::DuplicatedParameter("client_id"))
    );
    let c = client(TokenEndpointAuthMethod::ClientSecretBasic);
    assert_eq!(
        redirect_uri_of(&raw("client_id=app"), &c),
        Err(UnredirectableError::MissingRedirectUri)
    );
    for uri in [
        "https://app.example/cb",
        "https://app.example/cb?x=1&y=2",
        "https://evil.example/cb?x=1",
    ] {
        let query = format!(
            "redirect_uri={}",
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        );
        assert_eq!(
            redirect_uri_of(&raw(&query), &c),
            Err(UnredirectableError::UnregisteredRedirectUri)
        );
    }
}

#[test]
fn redirectable_errors_use_the_rfc_codes() {
    let confidential = TokenEndpointAuthMethod::ClientSecretBasic;
    let cases = [
        (
            "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&scope=openid",
            "invalid_request",
        ),
        (&format!("{BASE}&scope=profile")[..], "invalid_scope"),
        (
            "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&response_type=token&scope=openid",
            "unsupported_response_type",
        ),
        (&format!("{BASE}&scope=openid&prompt=none+login")[..], "invalid_request"),
        (&format!("{BASE}&scope=openid&max_age=-1")[..], "invalid_request"),
        (
            &format!("{BASE}&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=plain")[..],
            "invalid_request",
        ),
        (
            &format!("{BASE}&scope=openid&code_challenge={CHALLENGE}")[..],
            "invalid_request",
        ),
        (
            &format!("{BASE}&scope=openid&code_challenge=short&code_challenge_method=S256")[..],
            "invalid_request",
        ),
        (&format!("{BASE}&scope=openid&request=eyJ")[..], "request_not_supported"),
        (&format!("{BASE}&scope=openid&state=a&state=b")[..], "invalid_request"),
        (
            &format!("{BASE}&scope=openid&response_mode=fragment")[..],
            "invalid_request",
        ),
    ];
    for (query, expected) in cases {
        let error = validate(query, confidential).unwrap_err();
        assert_eq!(error.error, expected, "{query}");
    }
}

#[test]
fn public_clients_must_use_pkce() {
    let error = validate(&format!("{BASE}&scope=openid"), TokenEndpointAuthMethod::None).unwrap_err();
    assert_eq!(error.error, "invalid_request");
    assert!(validate(
        &format!("{BASE}&scope=openid"),
        TokenEndpointAuthMethod::ClientSecretPost
    )
    .is_ok());
}

#[test]
fn code_verifier_rules() {
    assert!(is_valid_code_verifier(&"a".repeat(43)));
    assert!(is_valid_code_verifier(&"a-._~".repeat(20)));
    assert!(!is_valid_code_verifier(&"a".repeat(42)));
    assert!(!is_valid_code_verifier(&"a".repeat(129)));
    assert!(!is_valid_code_verifier(&format!("{}+", "a".repeat(43))));
}

#[test]
fn redirects_keep_the_registered_query() {
    let url = redirect_with_parameters("https://app.example/cb?x=1", &[("code", "a b"), ("state", "s&t")]);
    assert_eq!(url, "https://app.example/cb?x=1&code=a+b&state=s%26t");
}

#[test]
fn over_long_parameters_are_refused_before_anything_is_kept() {
    let state = "s".repeat(2049);
    let error = validate(
        &format!("{BASE}&scope=openid&state={state}"),
        TokenEndpointAuthMethod::ClientSecretBasic,
    )
    .unwrap_err();
    assert_eq!(error.error, "invalid_request");
    assert_eq!(
        error.description,
        "the state parameter is too long (at most 2048 bytes)"
    );
    assert_eq!(raw(&format!("state={state}")).get_within_limit("state"), None);
    assert_eq!(raw("state=short").get_within_limit("state"), Some("short"));

    let at_limit = "s".repeat(2048);
    let request = validate(
        &format!("{BASE}&scope=openid&state={at_limit}"),
        TokenEndpointAuthMethod::ClientSecretBasic,
    )
    .unwrap();
    assert_eq!(request.state.as_deref(), Some(at_limit.as_str()));

    // A repeated parameter's later values are measured too.
    let repeated = raw(&format!("nonce=a&nonce={}", "n".repeat(600)));
    assert!(repeated.size_problem().is_some());
}

#[test]
fn a_flood_of_parameters_is_one_problem_and_stops_the_reading() {
    let query: Vec<String> = (0..10_000).map(|i| format!("p{i}=v")).collect();
    let flood = raw(&query.join("&"));
    assert_eq!(
        flood.size_problem(),
        Some(crate::authorization::parameter_limits::SizeProblem::TooManyParameters)
    );
    assert!(flood.get("p100").is_none(), "reading stopped at the limit");
}

#[test]
fn an_over_long_client_id_or_redirect_uri_is_not_redirectable() {
    let long_id = format!("client_id={}", "a".repeat(129));
    assert_eq!(
        client_id_of(&raw(&long_id)),
        Err(UnredirectableError::TooLong {
            name: "client_id",
            limit: 128
        })
    );
    let long_uri = format!("redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D{}", "1".repeat(2100));
    assert_eq!(
        redirect_uri_of(&raw(&long_uri), &client(TokenEndpointAuthMethod::None)),
        Err(UnredirectableError::TooLong {
            name: "redirect_uri",
            limit: 2048
        })
    );
}
