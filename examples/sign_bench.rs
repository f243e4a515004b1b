//! RS256 signing throughput on one core: the key ring's `JwtSigner` (key parsed once)
//! against `jsonwebtoken::encode` (key parsed on every call), plus verification.
//!
//! cargo run --release --example sign_bench [-- <tokens>]

use std::time::{Duration, Instant};

use gatehouse::keys::{generate_signing_key, JwtSigner, KeyRing, SigningAlgorithm};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::Serialize;

const ISSUER: &str = "https://id.example.test";

#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

fn claims(i: usize) -> AccessTokenClaims<'static> {
    AccessTokenClaims {
        iss: ISSUER,
        sub: "b4f1c0de-5e1f-4a2b-9c3d-7e8f9a0b1c2d",
        aud: "https://api.example.test",
        client_id: "example-app",
        scope: "openid profile email",
        iat: 1_800_000_000,
        exp: 1_800_000_600,
        jti: format!("jti-{i:08}"),
    }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 5_000,
    };

    let started = Instant::now();
    let key = generate_signing_key(SigningAlgorithm::Rs256, 2048).await?;
    println!("RSA-2048 key generation (rsa crate): {:?}", started.elapsed());

    let started = Instant::now();
    let signer = JwtSigner::from_pkcs8_der(SigningAlgorithm::Rs256, &key.pkcs8_der)?;
    println!("PKCS#8 parse into an aws-lc-rs RsaKeyPair: {:?}", started.elapsed());

    let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_der(&key.pkcs8_der)?.to_pkcs1_der()?;
    let encoding_key = jsonwebtoken::EncodingKey::from_rsa_der(pkcs1.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("at+jwt".to_string());
    header.kid = Some(key.kid.clone());

    // Warm up both paths once.
    signer.sign("at+jwt", &claims(0))?;
    jsonwebtoken::encode(&header, &claims(0), &encoding_key)?;

    let started = Instant::now();
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        tokens.push(signer.sign("at+jwt", &claims(i))?);
    }
    let ours = started.elapsed();

    let started = Instant::now();
    let mut encoded = Vec::with_capacity(count);
    for i in 0..count {
        encoded.push(jsonwebtoken::encode(&header, &claims(i), &encoding_key)?);
    }
    let theirs = started.elapsed();

    let ring = KeyRing::from_signing_key(&key, 1_800_000_000)?;
    let started = Instant::now();
    for token in &tokens {
        ring.verify::<serde_json::Value>(token, Some("at+jwt"), ISSUER, None, 1_800_000_001)?;
    }
    let verified = started.elapsed();
    // jsonwebtoken's tokens carry the same header and verify with the same ring.
    for token in encoded.iter().take(10) {
        ring.verify::<serde_json::Value>(token, Some("at+jwt"), ISSUER, None, 1_800_000_001)?;
    }

    println!("{count} RS256 tokens, one thread:");
    println!(
        "  JwtSigner (parsed once):     {:>8.0} tokens/s",
        per_second(count, ours)
    );
    println!(
        "  jsonwebtoken::encode:        {:>8.0} tokens/s",
        per_second(count, theirs)
    );
    println!(
        "  KeyRing::verify:             {:>8.0} tokens/s",
        per_second(count, verified)
    );
    println!(
        "  speed-up of JwtSigner:       {:>8.2}x",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );

    // The ID token algorithms a client may choose instead.
    for algorithm in [SigningAlgorithm::Ps256, SigningAlgorithm::Es256] {
        let key = generate_signing_key(algorithm, 2048).await?;
        let signer = JwtSigner::from_pkcs8_der(algorithm, &key.pkcs8_der)?;
        let ring = KeyRing::from_signing_keys(&[&generate_signing_key(SigningAlgorithm::Rs256, 2048).await?, &key], 0)?;
        let started = Instant::now();
        let tokens: Vec<String> = (0..count)
            .map(|i| signer.sign("JWT", &claims(i)))
            .collect::<Result<_, _>>()?;
        let signed = started.elapsed();
        let started = Instant::now();
        for token in &tokens {
            ring.verify::<serde_json::Value>(token, Some("JWT"), ISSUER, None, 1_800_000_001)?;
        }
        let verified = started.elapsed();
        println!(
            "  {algorithm} JwtSigner:             {:>8.0} tokens/s, verify {:>8.0} tokens/s",
            per_second(count, signed),
            per_second(count, verified)
        );
    }
    Ok(())
}
