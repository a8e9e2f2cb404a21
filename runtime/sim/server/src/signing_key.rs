//! The simulator's token-signing key: signs the access tokens the Entra half
//! issues, verifies them in the Exchange half, and is published as a JWKS.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use serde_json::{Value, json};

use crate::certificates::{self, Profile, Thumbprints};
use crate::error::{OpenSslContext, SimError};

/// An RSA 2048 key with a self-signed certificate; its `kid` is the
/// base64url SHA-1 of that certificate, as Entra's keys are named.
pub struct SigningKey {
    key: PKey<Private>,
    certificate_der: Vec<u8>,
    /// `kid` and `x5t` of issued tokens.
    pub kid: String,
}

impl SigningKey {
    pub fn generate(key_dir: Option<&std::path::Path>) -> Result<Self, SimError> {
        let key = certificates::rsa_2048_kept(key_dir, "token-signing")
            .doing("generating the token-signing key")?;
        let cert: X509 = certificates::build(
            "exorun simulator token signing",
            &key,
            Profile::SelfSignedLeaf,
            365,
        )
        .doing("building the token-signing certificate")?;
        let certificate_der = cert.to_der().doing("encoding the signing certificate")?;
        let thumbprints = Thumbprints::of_der(&certificate_der).doing("hashing")?;
        Ok(SigningKey {
            key,
            certificate_der,
            kid: URL_SAFE_NO_PAD.encode(&thumbprints.sha1),
        })
    }

    /// Signs `header.payload` with RS256 and returns the compact JWS.
    pub fn sign_jwt(&self, header: &Value, claims: &Value) -> Option<String> {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).ok()?;
        signer.update(signing_input.as_bytes()).ok()?;
        let signature = signer.sign_to_vec().ok()?;
        Some(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// True when `signature` is this key's RS256 signature of `signing_input`.
    pub fn verify_rs256(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        let Ok(mut verifier) = Verifier::new(MessageDigest::sha256(), &self.key) else {
            return false;
        };
        verifier.update(signing_input).is_ok() && verifier.verify(signature).unwrap_or(false)
    }

    /// The JWKS entry Entra publishes at `…/discovery/v2.0/keys`.
    pub fn jwk(&self, issuer: &str) -> Value {
        let (n, e) = match self.key.rsa() {
            Ok(rsa) => (
                URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
                URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
            ),
            Err(_) => (String::new(), String::new()),
        };
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": n,
            "e": e,
            "x5c": [STANDARD.encode(&self.certificate_der)],
            "issuer": issuer,
        })
    }
}
