//! The client assertion: exact header and claims, and a signature that
//! verifies with the certificate's public key.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use exorun_exchange::{AssertionProfile, make_assertion};
use openssl::hash::MessageDigest;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::{Value, json};

const AUD: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";

fn parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
    let p: Vec<&str> = jwt.split('.').collect();
    assert_eq!(p.len(), 3);
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
    let sig = URL_SAFE_NO_PAD.decode(p[2]).unwrap();
    (header, claims, sig, format!("{}.{}", p[0], p[1]))
}

#[test]
fn rs256_assertion_has_x5t_and_the_documented_claims() {
    let cert = common::certificate();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let a = make_assertion(&cert, "app-1", AUD, AssertionProfile::Rs256X5t, now).unwrap();
    let (header, claims, sig, input) = parts(a.expose());
    let x5t = URL_SAFE_NO_PAD.encode(openssl::sha::sha1(cert.der()));
    assert_eq!(header, json!({"alg":"RS256","typ":"JWT","x5t": x5t}));
    assert_eq!(x5t.len(), 27);
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&jti).unwrap().get_version_num(), 4);
    assert_eq!(
        claims,
        json!({"aud": AUD, "iss": "app-1", "sub": "app-1", "jti": jti,
               "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_000_600})
    );
    let public = cert.x509().public_key().unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    v.set_rsa_padding(Padding::PKCS1).unwrap();
    v.update(input.as_bytes()).unwrap();
    assert!(v.verify(&sig).unwrap());
}

#[test]
fn ps256_assertion_has_x5t_s256_and_a_pss_signature() {
    let cert = common::certificate();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let a = make_assertion(&cert, "app-1", AUD, AssertionProfile::Ps256X5tS256, now).unwrap();
    let (header, _claims, sig, input) = parts(a.expose());
    let x5t = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(cert.der()));
    assert_eq!(header, json!({"alg":"PS256","typ":"JWT","x5t#S256": x5t}));
    assert_eq!(x5t.len(), 43);
    let public = cert.x509().public_key().unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    v.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
    v.set_rsa_pss_saltlen(RsaPssSaltlen::custom(32)).unwrap();
    v.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
    v.update(input.as_bytes()).unwrap();
    assert!(v.verify(&sig).unwrap());
}

#[test]
fn every_assertion_has_a_fresh_jti() {
    let cert = common::certificate();
    let now = std::time::SystemTime::now();
    let a = make_assertion(&cert, "app", AUD, AssertionProfile::Rs256X5t, now).unwrap();
    let b = make_assertion(&cert, "app", AUD, AssertionProfile::Rs256X5t, now).unwrap();
    assert_ne!(parts(a.expose()).1["jti"], parts(b.expose()).1["jti"]);
    assert_eq!(format!("{a:?}"), "ClientAssertion(<redacted>)");
}
