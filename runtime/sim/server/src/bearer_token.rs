//! Reading an `Authorization: Bearer` access token that this simulator
//! issued: the part Exchange (`exchange::bearer`) and Microsoft Graph
//! (`graph::caller`) share. Each resource then checks audience, lifetime,
//! tenant and roles itself, because each words its refusals its own way
//! (Exchange in `x-ms-diagnostics`, Graph in a JSON error body).

use axum::http::{HeaderMap, header};

use crate::signing_key::SigningKey;

/// The claims the resources check, read from a token whose signature has
/// been verified.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedToken {
    pub app_id: String,
    pub tenant_id: String,
    pub audience: String,
    pub roles: Vec<String>,
    pub wids: Vec<String>,
    pub not_before: f64,
    pub expires: f64,
}

/// Why a token could not be read as one of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenFault {
    /// Not a JWS, or its claims are not an access token's.
    Malformed,
    /// Another algorithm, another key, or a signature that does not verify.
    BadSignature,
}

/// The token of `Authorization: Bearer {token}` (scheme in any case), or
/// `None` when the header is missing, empty or of another scheme.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// Checks a token's signature against the simulator's key and reads its
/// claims. Expiry, audience and roles are left to the caller, which
/// refuses each in its own words.
pub(crate) fn verify(token: &str, key: &SigningKey) -> Result<VerifiedToken, TokenFault> {
    let mut validation = exorun_jwt::Validation::new(exorun_jwt::Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    // One parse: a header that is not a JWS header is malformed, another
    // algorithm or a signature by another key is a bad signature.
    let verified = exorun_jwt::verify::<BearerClaims>(token, key.decoding_key(), &validation)
        .map_err(|e| match e.kind() {
            exorun_jwt::ErrorKind::InvalidSignature | exorun_jwt::ErrorKind::InvalidAlgorithm => {
                TokenFault::BadSignature
            }
            _ => TokenFault::Malformed,
        })?;
    if verified.header.kid.as_deref() != Some(&key.kid) {
        return Err(TokenFault::BadSignature);
    }
    let claims = verified.claims;
    Ok(VerifiedToken {
        app_id: claims.appid,
        tenant_id: claims.tid,
        audience: claims.aud,
        roles: claims.roles,
        wids: claims.wids,
        not_before: claims.nbf,
        expires: claims.exp,
    })
}

/// The claims of an access token this simulator issued; read only after
/// the signature has been checked.
#[derive(serde::Deserialize)]
struct BearerClaims {
    #[serde(default)]
    appid: String,
    #[serde(default)]
    tid: String,
    #[serde(default)]
    aud: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    wids: Vec<String>,
    #[serde(default)]
    nbf: f64,
    exp: f64,
}
