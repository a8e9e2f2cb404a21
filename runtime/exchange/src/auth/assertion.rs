//! The signed JWT a certificate app presents instead of a secret
//! (docs/protocol.md, "Client assertion"). A new one is made for every token request: each carries a
//! fresh `jti` and a ten-minute life, so a captured assertion is of little
//! use and never worth caching.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde::Serialize;

use super::certificate::Certificate;
use crate::secret::SecretString;
use crate::time_util::unix_seconds;

/// `client_assertion_type` for a JWT client assertion.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: what msal uses (`iat + 600`).
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// The two header profiles Entra accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AssertionProfile {
    /// RS256 (RSASSA-PKCS1-v1_5 SHA-256) with `x5t` = SHA-1 thumbprint: what
    /// MSAL has long sent and every tenant accepts.
    #[default]
    Rs256X5t,
    /// PS256 (RSASSA-PSS SHA-256, MGF1-SHA-256, salt 32) with `x5t#S256`:
    /// the direction of the current documentation.
    Ps256X5tS256,
}

/// A signed client assertion; printed as `<redacted>`.
#[derive(Clone, Debug)]
pub struct ClientAssertion(SecretString);

impl ClientAssertion {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    x5t: Option<&'a str>,
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    x5t_s256: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Why an assertion could not be signed (an OpenSSL failure: rare).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign the client assertion: {0}")]
pub struct AssertionError(String);

/// Builds and signs an assertion for `client_id`, addressed to the exact
/// token endpoint `audience`, issued at `now`.
pub fn make_assertion(
    certificate: &Certificate,
    client_id: &str,
    audience: &str,
    profile: AssertionProfile,
    now: SystemTime,
) -> Result<ClientAssertion, AssertionError> {
    let x5t;
    let header = match profile {
        AssertionProfile::Rs256X5t => {
            x5t = certificate.x5t();
            Header {
                alg: "RS256",
                typ: "JWT",
                x5t: Some(&x5t),
                x5t_s256: None,
            }
        }
        AssertionProfile::Ps256X5tS256 => {
            x5t = certificate.x5t_s256();
            Header {
                alg: "PS256",
                typ: "JWT",
                x5t: None,
                x5t_s256: Some(&x5t),
            }
        }
    };
    let iat = unix_seconds(now);
    let claims = Claims {
        aud: audience,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        iat,
        nbf: iat,
        exp: iat + ASSERTION_LIFETIME_SECS,
    };
    let err = |e: &dyn std::fmt::Display| AssertionError(e.to_string());
    let header = serde_json::to_vec(&header).map_err(|e| err(&e))?;
    let claims = serde_json::to_vec(&claims).map_err(|e| err(&e))?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signer =
        Signer::new(MessageDigest::sha256(), certificate.key()).map_err(|e| err(&e))?;
    if profile == AssertionProfile::Ps256X5tS256 {
        signer
            .set_rsa_padding(Padding::PKCS1_PSS)
            .map_err(|e| err(&e))?;
        signer
            .set_rsa_pss_saltlen(RsaPssSaltlen::custom(32))
            .map_err(|e| err(&e))?;
        signer
            .set_rsa_mgf1_md(MessageDigest::sha256())
            .map_err(|e| err(&e))?;
    } else {
        signer
            .set_rsa_padding(Padding::PKCS1)
            .map_err(|e| err(&e))?;
    }
    signer
        .update(signing_input.as_bytes())
        .map_err(|e| err(&e))?;
    let signature = signer.sign_to_vec().map_err(|e| err(&e))?;
    Ok(ClientAssertion(SecretString::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))))
}
