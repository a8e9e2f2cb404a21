use openssl::rsa::Rsa;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Claims {
    sub: String,
    n: u32,
}

fn key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn claims() -> Claims {
    Claims {
        sub: "app".into(),
        n: 7,
    }
}

fn lenient() -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v
}

#[test]
fn rs256_and_ps256_tokens_verify_with_the_public_half() {
    let key = key();
    let encoding = encoding_key(&key).unwrap();
    let decoding = decoding_key(&key).unwrap();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let token = sign(&Header::new(alg), &claims(), &encoding).unwrap();
        let data: TokenData<Claims> = verify(&token, &decoding, &lenient()).unwrap();
        assert_eq!(data.header.alg, alg);
        assert_eq!(data.claims, claims());
    }
}

#[test]
fn a_ps256_signature_uses_a_32_byte_salt_as_rfc_7518_requires() {
    // Checked by OpenSSL directly with the salt length pinned, so a provider
    // that used another salt (OpenSSL's default is the maximum) would fail.
    let key = key();
    let token = sign(
        &Header::new(Algorithm::PS256),
        &claims(),
        &encoding_key(&key).unwrap(),
    )
    .unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = base64_url(signature);
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    verifier
        .set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)
        .unwrap();
    verifier
        .set_rsa_pss_saltlen(openssl::sign::RsaPssSaltlen::custom(32))
        .unwrap();
    verifier
        .set_rsa_mgf1_md(openssl::hash::MessageDigest::sha256())
        .unwrap();
    verifier.update(input.as_bytes()).unwrap();
    assert!(verifier.verify(&signature).unwrap());
}

#[test]
fn a_token_signed_by_another_key_is_an_invalid_signature() {
    let token = sign(
        &Header::new(Algorithm::RS256),
        &claims(),
        &encoding_key(&key()).unwrap(),
    )
    .unwrap();
    let err = verify::<Claims>(&token, &decoding_key(&key()).unwrap(), &lenient()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidSignature);
}

#[test]
fn a_changed_payload_is_an_invalid_signature() {
    let key = key();
    let token = sign(
        &Header::new(Algorithm::RS256),
        &claims(),
        &encoding_key(&key).unwrap(),
    )
    .unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = base64_url_encode(br#"{"sub":"admin","n":7}"#);
    parts[1] = &forged;
    let err =
        verify::<Claims>(&parts.join("."), &decoding_key(&key).unwrap(), &lenient()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidSignature);
}

#[test]
fn algorithms_other_than_rs256_and_ps256_are_refused_without_a_panic() {
    let key = key();
    let encoding = encoding_key(&key).unwrap();
    for alg in [
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let err = sign(&Header::new(alg), &claims(), &encoding).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::UnsupportedAlgorithm, "{alg:?}");
    }
    let hmac = EncodingKey::from_secret(b"shared secret").unwrap();
    let err = sign(&Header::new(Algorithm::HS256), &claims(), &hmac).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::UnsupportedAlgorithm);
}

#[test]
fn an_hs256_token_made_with_the_public_key_as_secret_is_refused() {
    // The classic confusion attack: the verifier must never treat the RSA
    // public key as an HMAC secret.
    let key = key();
    let public_der = key.rsa().unwrap().public_key_to_der_pkcs1().unwrap();
    let header = base64_url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = base64_url_encode(br#"{"sub":"admin","n":1}"#);
    let mac = openssl::sign::Signer::new(
        openssl::hash::MessageDigest::sha256(),
        &PKey::hmac(&public_der).unwrap(),
    )
    .unwrap()
    .sign_oneshot_to_vec(format!("{header}.{payload}").as_bytes())
    .unwrap();
    let token = format!("{header}.{payload}.{}", base64_url_encode(&mac));
    let err = verify::<Claims>(&token, &decoding_key(&key).unwrap(), &lenient()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm);
}

#[test]
fn unverified_claims_read_the_payload_and_garbage_is_an_error() {
    let token = sign(
        &Header::new(Algorithm::RS256),
        &claims(),
        &encoding_key(&key()).unwrap(),
    )
    .unwrap();
    assert_eq!(unverified_claims::<Claims>(&token).unwrap(), claims());
    assert!(unverified_claims::<Claims>("not a token").is_err());
    assert!(unverified_claims::<Claims>("a.b").is_err());
}

fn base64_url(text: &str) -> Vec<u8> {
    openssl::base64::decode_block(&to_standard(text)).unwrap()
}

fn to_standard(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

fn base64_url_encode(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}
