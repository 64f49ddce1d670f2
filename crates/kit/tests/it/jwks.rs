//! RS256 and ES256 tokens checked against an identity provider's JWKS, from a file and from a URL
//! served by a real HTTP server that rotates its keys; HS256 refused where only a JWKS is set; the
//! algorithm must match the key's; issuer, audience and expiry hold as for HS256.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use civicgrid_kit::{
    auth::{Authenticator, Claims, expiry_in, issue_token},
    config::AuthSettings,
};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet},
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// The test keys: (kid, algorithm, private key).
fn keys() -> [(&'static str, Algorithm, EncodingKey); 2] {
    let rsa = EncodingKey::from_rsa_pem(&std::fs::read(data("rsa-test-key.pem")).unwrap()).unwrap();
    let ec = EncodingKey::from_ec_pem(&std::fs::read(data("ec-test-key.pem")).unwrap()).unwrap();
    [("rsa-1", Algorithm::RS256, rsa), ("ec-1", Algorithm::ES256, ec)]
}

/// The public JWKS of the keys named in `kids`.
fn jwks(kids: &[&str]) -> String {
    let keys = keys()
        .into_iter()
        .filter(|(kid, _, _)| kids.contains(kid))
        .map(|(kid, alg, key)| {
            let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
            jwk.common.key_id = Some(kid.to_string());
            jwk
        })
        .collect();
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

fn claims(iss: &str) -> Claims {
    Claims {
        sub: "officer-7".into(),
        role: "county_center".into(),
        department_id: String::new(),
        region_scope: "411602".into(),
        exp: expiry_in(Duration::from_secs(600)),
        iss: Some(iss.into()),
        aud: Some("civicgrid".into()),
    }
}

/// A token for `claims` signed by test key `signer`, its header naming `kid` and `alg`.
fn token(signer: &str, kid: &str, alg: Algorithm, claims: &Claims) -> String {
    let (_, _, key) = keys().into_iter().find(|(k, _, _)| *k == signer).unwrap();
    let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn settings(file: Option<PathBuf>, url: Option<String>) -> AuthSettings {
    AuthSettings {
        issuer: Some("https://id.example.gov.cn".into()),
        audience: Some("civicgrid".into()),
        jwks_file: file,
        jwks_url: url,
        ..AuthSettings::default()
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_a_jwks_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&["rsa-1", "ec-1"])).unwrap();
    let auth = Authenticator::new(&settings(Some(file), None)).unwrap();
    assert!(auth.enabled());
    let good = claims("https://id.example.gov.cn");
    for (kid, alg) in [("rsa-1", Algorithm::RS256), ("ec-1", Algorithm::ES256)] {
        let p = auth.authenticate(Some(&bearer(&token(kid, kid, alg, &good)))).unwrap();
        assert_eq!((p.subject.as_str(), p.region_scope.as_str()), ("officer-7", "411602"));
    }
    let refused = |t: String, why: &str| {
        let e = auth.authenticate(Some(&bearer(&t))).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{why}: {e:?}");
        e.message().to_string()
    };
    // Signed by the EC key but claiming the RSA key id and RS256.
    assert!(
        refused(token("ec-1", "rsa-1", Algorithm::ES256, &good), "algorithm of another key").contains("no ES256 key")
    );
    refused(token("rsa-1", "rsa-9", Algorithm::RS256, &good), "unknown key id");
    refused(token("rsa-1", "rsa-1", Algorithm::RS256, &claims("https://evil.example")), "wrong issuer");
    let expired = Claims { exp: expiry_in(Duration::ZERO) - 10, ..good.clone() };
    refused(token("rsa-1", "rsa-1", Algorithm::RS256, &expired), "expired 10 s ago");
    // HS256 is for development set-ups only: not accepted where only a JWKS is configured.
    let hs = issue_token("s3cret", &good).unwrap();
    assert!(refused(hs, "HS256").contains("HS256 tokens are not accepted"));
    // Bad settings name the key.
    let both = settings(Some(dir.path().join("jwks.json")), Some("https://id.example".into()));
    assert!(Authenticator::new(&both).err().unwrap().to_string().contains("auth.jwks_url"));
    let missing = settings(Some(dir.path().join("nope.json")), None);
    assert!(Authenticator::new(&missing).err().unwrap().to_string().contains("auth.jwks_file"));
}

#[tokio::test]
async fn a_jwks_url_is_fetched_and_fetched_again_when_the_provider_rotates_its_keys() {
    // The provider: serves whatever set is in `published`.
    let published = Arc::new(Mutex::new(jwks(&["rsa-1"])));
    let served = published.clone();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let auth = Authenticator::new(&settings(None, Some(url))).unwrap();
    let good = claims("https://id.example.gov.cn");
    let rsa = bearer(&token("rsa-1", "rsa-1", Algorithm::RS256, &good));
    let ec = bearer(&token("ec-1", "ec-1", Algorithm::ES256, &good));
    let accepted = |t: &str| auth.authenticate(Some(t)).is_ok();
    let within = |limit: Duration, t: String, want: bool| {
        let auth = auth.clone();
        async move {
            let start = std::time::Instant::now();
            while auth.authenticate(Some(&t)).is_ok() != want {
                assert!(
                    start.elapsed() < limit,
                    "token still {} after {limit:?}",
                    if want { "refused" } else { "accepted" }
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    within(Duration::from_secs(5), rsa.clone(), true).await;
    assert!(!accepted(&ec), "a key the provider does not publish");
    // The provider rotates: the unknown key id makes the set be fetched again, soon.
    *published.lock().unwrap() = jwks(&["ec-1"]);
    within(Duration::from_secs(15), ec.clone(), true).await;
    assert!(!accepted(&rsa), "the retired key still verifies");
}
