//! ID tokens signed in the algorithm each client chose (`id_token_signed_response_alg`):
//! RS256, PS256 or ES256, each with a key ring of its own (README, "Signing keys"). A real
//! relying party (openidconnect) verifies them against the published JWKS, accepting only
//! the client's algorithm; access tokens stay RS256; every algorithm rotates on the schedule
//! and a token signed before a rotation still verifies after it.

use std::time::{Duration, Instant};

use gatehouse::config::{ClientConfig, Config, Secret, SigningAlgorithm};
use openidconnect::core::{CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreTokenResponse};
use openidconnect::{AccessTokenHash, ClientId, ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse, TokenResponse};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::browser::{hidden_field, query_param, Browser};
use crate::support::jwt::decode_jwt_header;
use crate::support::oauth::*;
use crate::support::relying_party::RelyingParty;
use crate::support::second_factor::sign_in_for_administration;
use crate::support::spawn_app::*;

const PS256_ID: &str = "pss-app";
const PS256_SECRET: &str = "pss-app-secret-0123456789abcdef";
const PS256_REDIRECT: &str = "http://127.0.0.1:9/pss";
const ES256_ID: &str = "ecdsa-app";
const ES256_SECRET: &str = "ecdsa-app-secret-0123456789abcdef";
const ES256_REDIRECT: &str = "http://127.0.0.1:9/ecdsa";

/// Long enough that a test never sees a rotation it did not ask for.
const ROTATION_PERIOD: i64 = 100_000;
/// How long an instance may take to follow a change (the reload interval is 1 s).
const PROPAGATION_LIMIT: Duration = Duration::from_secs(8);

/// A client of each algorithm: (client id, secret, redirect URI, algorithm).
const CLIENTS: [(&str, &str, &str, SigningAlgorithm); 3] = [
    (
        FIRST_PARTY_ID,
        FIRST_PARTY_SECRET,
        FIRST_PARTY_REDIRECT,
        SigningAlgorithm::Rs256,
    ),
    (PS256_ID, PS256_SECRET, PS256_REDIRECT, SigningAlgorithm::Ps256),
    (ES256_ID, ES256_SECRET, ES256_REDIRECT, SigningAlgorithm::Es256),
];

fn client(client_id: &str, secret: &str, redirect: &str, algorithm: SigningAlgorithm) -> ClientConfig {
    ClientConfig {
        client_id: client_id.into(),
        name: format!("{client_id} name"),
        secret: Some(Secret::new(secret)),
        redirect_uris: vec![redirect.into()],
        id_token_signed_response_alg: algorithm,
        first_party: true,
        ..ClientConfig::default()
    }
}

fn with_algorithm_clients(config: &mut Config) {
    config
        .clients
        .push(client(PS256_ID, PS256_SECRET, PS256_REDIRECT, SigningAlgorithm::Ps256));
    config
        .clients
        .push(client(ES256_ID, ES256_SECRET, ES256_REDIRECT, SigningAlgorithm::Es256));
    config.keys.rotation_period = ROTATION_PERIOD;
    config.keys.jwks_cache_seconds = 60;
    config.keys.reload_interval = 1;
}

fn core_algorithm(algorithm: SigningAlgorithm) -> CoreJwsSigningAlgorithm {
    match algorithm {
        SigningAlgorithm::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlgorithm::Ps256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        SigningAlgorithm::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    }
}

/// What a sign-in through a client's relying party brought back.
struct SignedIn {
    response: CoreTokenResponse,
    nonce: Nonce,
    id_token: String,
    access_token: String,
}

/// Alice signs in through the relying party of `client_id` (code flow with PKCE).
async fn sign_in_through(app: &TestApp, browser: &Browser, client_id: &str, secret: &str, redirect: &str) -> SignedIn {
    let rp = RelyingParty::discover(app, client_id, Some(secret), redirect).await;
    let start = rp.start(&["profile"], &[]);
    let location = browser.authorize(&start.url, "alice", "alice-password").await;
    assert!(location.starts_with(redirect), "{location}");
    let code = query_param(&location, "code").expect("a code");
    let response = rp
        .exchange(&code, start.pkce_verifier)
        .await
        .expect("the code is redeemed");
    SignedIn {
        id_token: response.id_token().expect("an ID token").to_string(),
        access_token: response.access_token().secret().clone(),
        response,
        nonce: start.nonce,
    }
}

/// The relying party's ID token verifier for a confidential client, with `jwks` and only
/// `algorithm` allowed (as a client registered with `id_token_signed_response_alg` does).
fn verifier(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    jwks: CoreJsonWebKeySet,
    algorithm: SigningAlgorithm,
) -> CoreIdTokenVerifier<'static> {
    CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(client_id.to_string()),
        ClientSecret::new(secret.to_string()),
        IssuerUrl::new(app.address.clone()).expect("issuer"),
        jwks,
    )
    .set_allowed_algs(vec![core_algorithm(algorithm)])
}

/// Verifies the ID token's signature, issuer, audience, expiry and nonce, and its `at_hash`
/// against the access token, as the client's relying party does.
fn verify_id_token(signed_in: &SignedIn, verifier: &CoreIdTokenVerifier<'_>) -> Result<String, String> {
    let id_token = signed_in.response.id_token().expect("an ID token");
    let claims = id_token
        .claims(verifier, &signed_in.nonce)
        .map_err(|error| error.to_string())?;
    let signing_alg = id_token.signing_alg().map_err(|error| error.to_string())?;
    let key = id_token.signing_key(verifier).map_err(|error| error.to_string())?;
    let computed = AccessTokenHash::from_token(signed_in.response.access_token(), signing_alg, key)
        .map_err(|error| error.to_string())?;
    if Some(&computed) != claims.access_token_hash() {
        return Err("at_hash does not match the access token".to_string());
    }
    Ok(claims.subject().as_str().to_string())
}

async fn jwks(app: &TestApp) -> (CoreJsonWebKeySet, Value) {
    let response = http_client()
        .get(app.url("/jwks.json"))
        .send()
        .await
        .expect("GET /jwks.json");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("JWKS body");
    (
        serde_json::from_str(&body).expect("a JWKS openidconnect reads"),
        serde_json::from_str(&body).expect("JWKS JSON"),
    )
}

fn header_of(token: &str) -> (String, String) {
    let header = decode_jwt_header(token);
    (
        header["alg"].as_str().expect("alg").to_string(),
        header["kid"].as_str().expect("kid").to_string(),
    )
}

/// The published keys as (kty, alg, kid), in JWKS order.
fn published(document: &Value) -> Vec<(String, String, String)> {
    document["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| {
            (
                key["kty"].as_str().expect("kty").to_string(),
                key["alg"].as_str().expect("alg").to_string(),
                key["kid"].as_str().expect("kid").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_client_gets_id_tokens_in_its_algorithm_that_verify_through_the_jwks() {
    let app = spawn_app_with(with_algorithm_clients).await;
    let browser = Browser::new();
    let (key_set, document) = jwks(&app).await;
    let keys = published(&document);

    for (client_id, secret, redirect, algorithm) in CLIENTS {
        let signed_in = sign_in_through(&app, &browser, client_id, secret, redirect).await;

        // The header names the algorithm and a published key of that algorithm.
        let (alg, kid) = header_of(&signed_in.id_token);
        assert_eq!(alg, algorithm.as_str(), "{client_id}");
        let (kty, published_alg, _) = keys
            .iter()
            .find(|(_, _, published_kid)| *published_kid == kid)
            .unwrap_or_else(|| panic!("{client_id}: kid {kid} is not in the JWKS {keys:?}"));
        assert_eq!(published_alg, algorithm.as_str());
        let expected_kty = if algorithm == SigningAlgorithm::Es256 {
            "EC"
        } else {
            "RSA"
        };
        assert_eq!(kty, expected_kty);

        // The relying party verifies it with the client's algorithm, and only with it.
        let subject = verify_id_token(
            &signed_in,
            &verifier(&app, client_id, secret, key_set.clone(), algorithm),
        )
        .unwrap_or_else(|error| panic!("{client_id}: the ID token does not verify: {error}"));
        assert!(!subject.is_empty());
        for other in SigningAlgorithm::ALL.into_iter().filter(|other| *other != algorithm) {
            assert!(
                verify_id_token(&signed_in, &verifier(&app, client_id, secret, key_set.clone(), other)).is_err(),
                "{client_id}: an {algorithm} ID token passed a verifier that allows only {other}"
            );
        }

        // The access token is RS256 whatever the client's ID token algorithm, and works.
        let (access_alg, access_kid) = header_of(&signed_in.access_token);
        assert_eq!(access_alg, "RS256", "{client_id}");
        assert_eq!(keys[0].2, access_kid, "the RS256 signing key is listed first");
        let reply = userinfo_with_header(&app, &signed_in.access_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{client_id}: {}", reply.body);
    }
}

#[tokio::test]
async fn jwks_publishes_rsa_rs256_rsa_ps256_and_ec_es256_keys() {
    let app = spawn_app_with(with_algorithm_clients).await;
    let (_, document) = jwks(&app).await;
    let keys = document["keys"].as_array().expect("keys");
    // A signing key and a next key per algorithm.
    assert_eq!(keys.len(), 6, "{document}");
    for (kty, alg) in [("RSA", "RS256"), ("RSA", "PS256"), ("EC", "ES256")] {
        let of_alg: Vec<&Value> = keys.iter().filter(|key| key["alg"] == alg).collect();
        assert_eq!(of_alg.len(), 2, "{alg}: {document}");
        for key in of_alg {
            assert_eq!(key["kty"], kty, "{key}");
            assert_eq!(key["use"], "sig", "{key}");
            let mut members: Vec<&str> = key.as_object().expect("object").keys().map(String::as_str).collect();
            members.sort_unstable();
            if kty == "EC" {
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
                assert_eq!(key["crv"], "P-256");
                // 32-byte coordinates: 43 base64url characters.
                assert_eq!(key["x"].as_str().expect("x").len(), 43);
                assert_eq!(key["y"].as_str().expect("y").len(), 43);
            } else {
                assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
                assert_eq!(key["e"], "AQAB");
            }
        }
    }
    // The signing keys come first, RS256 before PS256 before ES256.
    let first_three: Vec<&str> = keys[..3].iter().map(|key| key["alg"].as_str().expect("alg")).collect();
    assert_eq!(first_three, ["RS256", "PS256", "ES256"]);

    // Discovery advertises the three.
    let discovery = JsonReply::read(
        http_client()
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .expect("discovery"),
    )
    .await;
    let algorithms = &discovery.body["id_token_signing_alg_values_supported"];
    for alg in ["RS256", "PS256", "ES256"] {
        assert!(
            algorithms.as_array().expect("a list").iter().any(|value| value == alg),
            "{algorithms}"
        );
    }
}

/// Polls the JWKS until `done` holds; fails after the propagation limit.
async fn wait_for_jwks(
    app: &TestApp,
    what: &str,
    done: impl Fn(&[(String, String, String)]) -> bool,
) -> CoreJsonWebKeySet {
    let started = Instant::now();
    loop {
        let (key_set, document) = jwks(app).await;
        if done(&published(&document)) {
            return key_set;
        }
        assert!(
            started.elapsed() < PROPAGATION_LIMIT,
            "{what}: JWKS still {:?}",
            published(&document)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tokens_of_every_algorithm_signed_before_a_rotation_still_verify_after_it() {
    let app = spawn_app_with(with_algorithm_clients).await;
    let browser = Browser::new();

    // Shortly before the period is over, each client gets an ID token.
    app.clock.advance(ROTATION_PERIOD - 100);
    let mut before = Vec::new();
    for (client_id, secret, redirect, algorithm) in CLIENTS {
        let signed_in = sign_in_through(&app, &browser, client_id, secret, redirect).await;
        let (_, kid) = header_of(&signed_in.id_token);
        before.push((client_id, secret, redirect, algorithm, signed_in, kid));
    }

    // The period is over: every algorithm's next key takes over, the old ones are retired.
    app.clock.advance(110);
    let old_kids: Vec<String> = before.iter().map(|entry| entry.5.clone()).collect();
    let key_set = wait_for_jwks(&app, "rotation of every algorithm", |keys| {
        // Nine keys (current, next, retired per algorithm), none of the old ones signing.
        keys.len() == 9 && keys[..3].iter().all(|(_, _, kid)| !old_kids.contains(kid))
    })
    .await;

    for (client_id, secret, redirect, algorithm, signed_in, old_kid) in &before {
        // The token signed before verifies with the JWKS published after.
        verify_id_token(
            signed_in,
            &verifier(&app, client_id, secret, key_set.clone(), *algorithm),
        )
        .unwrap_or_else(|error| panic!("{client_id}: the old ID token no longer verifies: {error}"));
        // New tokens carry a new kid, in the same algorithm.
        let fresh = sign_in_through(&app, &browser, client_id, secret, redirect).await;
        let (alg, kid) = header_of(&fresh.id_token);
        assert_eq!(alg, algorithm.as_str());
        assert_ne!(&kid, old_kid, "{client_id} still signs with the retired key");
        verify_id_token(&fresh, &verifier(&app, client_id, secret, key_set.clone(), *algorithm))
            .unwrap_or_else(|error| panic!("{client_id}: the new ID token does not verify: {error}"));
    }
}

#[tokio::test]
async fn the_admin_api_lists_each_keys_algorithm_and_revoking_an_es256_key_replaces_it() {
    let app = spawn_app_with(|config| {
        with_algorithm_clients(config);
        config.admin.groups = vec!["admins".into()];
    })
    .await;
    let browser = Browser::new();
    sign_in_for_administration(&app, &browser, "alice", "alice-password").await;
    let session = JsonReply::read(
        browser
            .http
            .get(app.url("/admin/api/session"))
            .send()
            .await
            .expect("session"),
    )
    .await;
    let csrf = session.body["csrf_token"].as_str().expect("csrf_token").to_string();

    let listing = JsonReply::read(browser.http.get(app.url("/admin/api/keys")).send().await.expect("keys")).await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
    let keys = listing.body["keys"].as_array().expect("keys").clone();
    assert_eq!(
        listing.body["algorithms"],
        serde_json::json!(["RS256", "PS256", "ES256"])
    );
    let signing: Vec<(String, String)> = keys
        .iter()
        .filter(|key| key["signing"] == true)
        .map(|key| {
            (
                key["algorithm"].as_str().expect("algorithm").to_string(),
                key["kid"].as_str().expect("kid").to_string(),
            )
        })
        .collect();
    let mut algorithms: Vec<&str> = signing.iter().map(|(alg, _)| alg.as_str()).collect();
    algorithms.sort_unstable();
    assert_eq!(algorithms, ["ES256", "PS256", "RS256"], "{keys:?}");
    let es256_kid = signing
        .iter()
        .find(|(alg, _)| alg == "ES256")
        .map(|(_, kid)| kid.clone())
        .expect("an ES256 signing key");

    // An ES256 token, then its key revoked: the next ES256 key takes over at once.
    let signed_in = sign_in_through(&app, &browser, ES256_ID, ES256_SECRET, ES256_REDIRECT).await;
    assert_eq!(header_of(&signed_in.id_token).1, es256_kid);
    let reply = JsonReply::read(
        browser
            .http
            .post(app.url(&format!("/admin/api/keys/{es256_kid}/revoke")))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .expect("revoke"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["algorithm"], "ES256");
    assert_eq!(reply.body["previous_status"], "current");
    let promoted = reply.body["promoted"]
        .as_str()
        .expect("a new ES256 signing key")
        .to_string();

    let (key_set, document) = jwks(&app).await;
    let keys = published(&document);
    assert!(!keys.iter().any(|(_, _, kid)| *kid == es256_kid), "{keys:?}");
    assert!(keys.contains(&("EC".to_string(), "ES256".to_string(), promoted.clone())));
    let error = verify_id_token(
        &signed_in,
        &verifier(&app, ES256_ID, ES256_SECRET, key_set.clone(), SigningAlgorithm::Es256),
    );
    assert!(error.is_err(), "a token of the revoked key still verifies");
    let fresh = sign_in_through(&app, &browser, ES256_ID, ES256_SECRET, ES256_REDIRECT).await;
    assert_eq!(header_of(&fresh.id_token), ("ES256".to_string(), promoted));
    verify_id_token(
        &fresh,
        &verifier(&app, ES256_ID, ES256_SECRET, key_set, SigningAlgorithm::Es256),
    )
    .expect("the new ES256 key's token verifies");

    // Rotating by hand rotates every algorithm.
    let reply = JsonReply::read(
        browser
            .http
            .post(app.url("/admin/api/keys/rotate"))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .expect("rotate"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rotated: Vec<&str> = reply.body["rotations"]
        .as_array()
        .expect("rotations")
        .iter()
        .map(|step| step["algorithm"].as_str().expect("algorithm"))
        .collect();
    assert_eq!(rotated, ["RS256", "PS256", "ES256"]);
    assert_eq!(reply.body["promoted"].as_array().expect("promoted").len(), 3);
}

/// The kids the admin page lists for `algorithm` with `status` (the `li.key-STATUS` entries).
fn page_kids(body: &str, algorithm: &str, status: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(body);
    let entry = scraper::Selector::parse(&format!("li.key-{status}")).expect("selector");
    let alg = scraper::Selector::parse(".key-algorithm").expect("selector");
    let kid = scraper::Selector::parse(".key-kid").expect("selector");
    document
        .select(&entry)
        .filter(|li| li.select(&alg).any(|a| a.text().collect::<String>() == algorithm))
        .filter_map(|li| li.select(&kid).next().map(|k| k.text().collect::<String>()))
        .collect()
}

#[tokio::test]
async fn the_admin_keys_page_lists_every_algorithm_rotates_and_revokes_with_csrf() {
    let app = spawn_app_with(|config| {
        with_algorithm_clients(config);
        config.admin.groups = vec!["admins".into()];
    })
    .await;

    // Someone signed in who is not an administrator gets no page and changes nothing.
    let bob = Browser::new();
    sign_in(&app, &bob, "bob", "bob-password").await;
    let (status, _, _) = bob.visit(&app.url("/admin/keys")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = bob
        .post_form(&app.url("/admin/keys/rotate"), &[("csrf_token", "x")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let browser = Browser::new();
    sign_in_for_administration(&app, &browser, "alice", "alice-password").await;
    let page = browser.form_page(&app.url("/admin/keys")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.csrf_token.is_empty());
    let mut current = Vec::new();
    for algorithm in ["RS256", "PS256", "ES256"] {
        let signing = page_kids(&page.body, algorithm, "current");
        assert_eq!(signing.len(), 1, "{algorithm}: {}", page.body);
        assert_eq!(page_kids(&page.body, algorithm, "next").len(), 1, "{algorithm}");
        current.push(signing[0].clone());
    }
    let (_, document) = jwks(&app).await;
    let signers: Vec<String> = published(&document)[..3]
        .iter()
        .map(|(_, _, kid)| kid.clone())
        .collect();
    assert_eq!(signers, current);

    // Without the CSRF token: refused, nothing rotated.
    let (status, _, body) = browser
        .post_form(&app.url("/admin/keys/rotate"), &[("csrf_token", "forged")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("expired"), "{body}");
    let (_, document) = jwks(&app).await;
    assert_eq!(
        published(&document)[..3]
            .iter()
            .map(|(_, _, kid)| kid.clone())
            .collect::<Vec<_>>(),
        current
    );

    // "Rotate now": every algorithm's next key signs; the old ones are retired.
    let (status, _, body) = browser
        .post_form(
            &app.url("/admin/keys/rotate"),
            &[("csrf_token", page.csrf_token.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Rotated:"), "{body}");
    for (algorithm, old) in ["RS256", "PS256", "ES256"].iter().zip(&current) {
        assert_eq!(
            page_kids(&body, algorithm, "retired"),
            std::slice::from_ref(old),
            "{algorithm}"
        );
        assert_ne!(
            page_kids(&body, algorithm, "current"),
            std::slice::from_ref(old),
            "{algorithm}"
        );
    }

    // "Revoke" on the PS256 signing key: gone from the JWKS, the next PS256 key signs.
    let ps256 = page_kids(&body, "PS256", "current").pop().expect("a PS256 signing key");
    let csrf = hidden_field(&body, "csrf_token").expect("csrf_token");
    let (status, _, body) = browser
        .post_form(
            &app.url(&format!("/admin/keys/{ps256}/revoke")),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(page_kids(&body, "PS256", "revoked"), std::slice::from_ref(&ps256));
    let promoted = page_kids(&body, "PS256", "current")
        .pop()
        .expect("a new PS256 signing key");
    assert_ne!(promoted, ps256);
    let (_, document) = jwks(&app).await;
    assert!(!published(&document).iter().any(|(_, _, kid)| *kid == ps256));
    let signed_in = sign_in_through(&app, &browser, PS256_ID, PS256_SECRET, PS256_REDIRECT).await;
    assert_eq!(header_of(&signed_in.id_token), ("PS256".to_string(), promoted));

    // A revoked key has no button; an unknown kid is a 404 page.
    assert!(!body.contains(&format!("/admin/keys/{ps256}/revoke")));
    let (status, _, body) = browser
        .post_form(
            &app.url("/admin/keys/no-such-kid/revoke"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
