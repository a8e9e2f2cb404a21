//! The simulator's token-signing key: signs the access tokens the Entra half
//! issues, verifies them in the Exchange half, and is published as a JWKS.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{Value, json};

use crate::certificates::{self, Profile, Thumbprints};
use crate::error::{OpenSslContext, SimError};

/// An RSA 2048 key with a self-signed certificate; its `kid` is the
/// base64url SHA-1 of that certificate, as Entra's keys are named.
pub struct SigningKey {
    key: PKey<Private>,
    encoding: exorun_jwt::EncodingKey,
    decoding: exorun_jwt::DecodingKey,
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
        let jwt_error = |e: exorun_jwt::Error| {
            SimError::Internal(format!("preparing the token-signing key: {e}"))
        };
        let encoding = exorun_jwt::encoding_key(&key).map_err(jwt_error)?;
        let decoding = exorun_jwt::decoding_key(&key).map_err(jwt_error)?;
        Ok(SigningKey {
            key,
            encoding,
            decoding,
            certificate_der,
            kid: URL_SAFE_NO_PAD.encode(&thumbprints.sha1),
        })
    }

    /// Signs `claims` with RS256 as a compact JWS whose header names this
    /// key (`kid` and `x5t`), as Entra's access tokens do.
    pub fn sign_jwt<T: serde::Serialize>(&self, claims: &T) -> Result<String, exorun_jwt::Error> {
        let mut header = exorun_jwt::Header::new(exorun_jwt::Algorithm::RS256);
        header.x5t = Some(self.kid.clone());
        header.kid = Some(self.kid.clone());
        exorun_jwt::sign(&header, claims, &self.encoding)
    }

    /// The public half, for checking the tokens this key signed.
    pub fn decoding_key(&self) -> &exorun_jwt::DecodingKey {
        &self.decoding
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
