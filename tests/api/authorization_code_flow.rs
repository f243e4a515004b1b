//! The authorization code flow end to end, through a real relying party.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use reqwest::StatusCode;

use crate::support::browser::{query_param, Browser};
use crate::support::jwt::{decode_jwt_header, decode_jwt_payload};
use crate::support::relying_party::RelyingParty;
use crate::support::spawn_app::*;

#[tokio::test]
async fn discovery_describes_what_is_implemented() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.address);
    for (field, expected) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks.json"),
        ("end_session_endpoint", "/logout"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ] {
        assert_eq!(doc[field], app.url(expected), "{field}");
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    let methods = doc["token_endpoint_auth_methods_supported"].as_array().unwrap();
    assert!(methods.contains(&"client_secret_basic".into()) && methods.contains(&"none".into()));

    let jwks: serde_json::Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    assert!(key.get("d").is_none(), "no private part is published");
}

#[tokio::test]
async fn a_person_signs_in_through_a_relying_party_and_sso_serves_the_next_one() {
    let app = spawn_app().await;
    let rp = RelyingParty::discover(&app, CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET), CONFIDENTIAL_REDIRECT).await;
    let start = rp.start(&["profile", "email", "groups"], &[]);
    let browser = Browser::new();
    let callback = browser.authorize(&start.url, "alice", "alice-password").await;

    assert!(callback.starts_with(CONFIDENTIAL_REDIRECT), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some(start.state.as_str()));
    assert_eq!(query_param(&callback, "iss").as_deref(), Some(app.address.as_str()));
    let code = query_param(&callback, "code").expect("a code");

    let tokens = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("the code is redeemed");
    let claims = rp.verify_id_token(&tokens, &start.nonce);
    let sub = claims.subject().to_string();
    assert!(!sub.contains("uid="), "sub is the stable id, not the DN: {sub}");
    assert_eq!(claims.preferred_username().unwrap().as_str(), "alice");
    assert_eq!(claims.email().unwrap().as_str(), "alice@example.org");
    assert!(claims.auth_time().is_some());
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(amr, vec!["pwd".to_string()]);

    // The raw payload carries the claims openidconnect has no field for.
    let payload = decode_jwt_payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(payload["azp"], CONFIDENTIAL_ID);
    assert!(payload["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(payload["groups"], serde_json::json!(["admins", "staff"]));

    // The access token is an RFC 9068 JWT.
    let access_token = tokens.access_token().secret().clone();
    let header = decode_jwt_header(&access_token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    let at = decode_jwt_payload(&access_token);
    for claim in ["iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"] {
        assert!(at.get(claim).is_some(), "access token lacks {claim}");
    }
    assert_eq!(at["client_id"], CONFIDENTIAL_ID);
    assert_eq!(at["sub"], sub.as_str());

    let (status, userinfo) = rp.userinfo(&access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(userinfo["sub"], sub.as_str());
    assert_eq!(userinfo["email"], "alice@example.org");
    assert_eq!(userinfo["groups"], serde_json::json!(["admins", "staff"]));

    // Single sign-on: another application gets a code without any form.
    let other = RelyingParty::discover(&app, FIRST_PARTY_ID, Some(FIRST_PARTY_SECRET), FIRST_PARTY_REDIRECT).await;
    let second = other.start(&["profile"], &[]);
    let (status, location, _) = browser.visit(&second.url).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(
        location.starts_with(FIRST_PARTY_REDIRECT),
        "SSO went straight back: {location}"
    );
    let tokens = other
        .exchange(&query_param(&location, "code").unwrap(), second.pkce_verifier)
        .await
        .unwrap();
    let second_claims = other.verify_id_token(&tokens, &second.nonce);
    assert_eq!(second_claims.subject().as_str(), sub);
    assert_eq!(
        second_claims.auth_time(),
        claims.auth_time(),
        "same session, same auth_time"
    );
}
