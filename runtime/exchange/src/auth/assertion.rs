//! The signed JWT a certificate app presents instead of a secret
//! (docs/protocol.md, "Client assertion"). A new one is made for every token request: each carries a
//! fresh `jti` and a ten-minute life, so a captured assertion is of little
//! use and never worth caching. `jsonwebtoken` encodes it; exorun-jwt's
//! OpenSSL provider signs it.

use std::time::SystemTime;

use exorun_jwt::{Algorithm, Header};
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
    let header = match profile {
        AssertionProfile::Rs256X5t => {
            let mut header = Header::new(Algorithm::RS256);
            header.x5t = Some(certificate.x5t());
            header
        }
        AssertionProfile::Ps256X5tS256 => {
            let mut header = Header::new(Algorithm::PS256);
            header.x5t_s256 = Some(certificate.x5t_s256());
            header
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
    let token = exorun_jwt::sign(&header, &claims, certificate.signing_key())
        .map_err(|e| AssertionError(e.to_string()))?;
    Ok(ClientAssertion(SecretString::new(token)))
}
