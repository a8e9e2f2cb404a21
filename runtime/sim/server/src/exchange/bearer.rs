//! Checking the `Authorization: Bearer` token of an Exchange request
//! (docs/protocol.md, "Authorization in the simulator", step 1) and the 401
//! challenge that refuses it ("Retries, throttling and 401").

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use crate::bearer_token::{self, TokenFault, VerifiedToken, bearer_token};
use crate::clock;
use crate::directory::{Directory, EXCHANGE_MANAGE_AS_APP};
use crate::entra::resource::{EXCHANGE_APP_ID, EXCHANGE_RESOURCE};
use crate::signing_key::SigningKey;

/// Who called, from a token that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedApp {
    pub app_id: String,
    pub tenant_id: String,
    /// Entra role template IDs (`wids`).
    pub role_template_ids: Vec<String>,
}

/// Why a token was refused: the `x-ms-diagnostics` value of the 401.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub diagnostics: String,
}

impl Rejection {
    fn new(code: u32, reason: &str, category: &str) -> Self {
        Rejection {
            diagnostics: format!("{code};reason=\"{reason}\";error_category=\"{category}\""),
        }
    }

    /// The 401 with the captured `WWW-Authenticate` challenge. The body is
    /// empty, as the real 401s reportedly are.
    pub fn into_response(self) -> Response {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"invalid_token\",Basic Realm=\"\"",
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&self.diagnostics) {
            headers.insert("x-ms-diagnostics", v);
        }
        response
    }
}

/// Validates bearer tokens against the simulator's signing key. Verified
/// claims are cached per token, so that a token's signature is checked
/// once, not on every request.
pub struct BearerValidator {
    cache: Mutex<HashMap<String, VerifiedToken>>,
    capacity: usize,
}

impl BearerValidator {
    pub fn new(capacity: usize) -> Self {
        BearerValidator {
            cache: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Runs the checks in order: present, signature, audience, lifetime,
    /// tenant, role.
    pub fn check(
        &self,
        headers: &HeaderMap,
        url_tenant: &str,
        directory: &Directory,
        key: &SigningKey,
    ) -> Result<AuthenticatedApp, Rejection> {
        let token = bearer_token(headers).ok_or_else(|| {
            // (invented) The text for a missing token is not known.
            Rejection::new(2000000, "The token is missing.", "invalid_token")
        })?;
        let verified = self.verified(token, key)?;

        let aud = verified.audience.trim_end_matches('/');
        if !(aud.eq_ignore_ascii_case(EXCHANGE_RESOURCE)
            || aud.eq_ignore_ascii_case(EXCHANGE_APP_ID))
        {
            // Captured text (docs/protocol.md, "Retries, throttling and 401").
            return Err(Rejection::new(
                2000003,
                &format!(
                    "The audience claim value is invalid '{}'.",
                    verified.audience
                ),
                "invalid_resource",
            ));
        }
        let now = clock::unix_now_f64();
        if verified.expires <= now {
            // (invented) The real expiry text is not known; docs/protocol.md, "Retries, throttling and 401".
            return Err(Rejection::new(
                2000001,
                "The token has expired.",
                "invalid_token",
            ));
        }
        if verified.not_before > now + 300.0 {
            // (invented)
            return Err(Rejection::new(
                2000001,
                "The token is not yet valid.",
                "invalid_token",
            ));
        }
        if !verified
            .tenant_id
            .eq_ignore_ascii_case(directory.tenant_id())
            || !directory.is_exchange_tenant(url_tenant)
        {
            // (invented)
            return Err(Rejection::new(
                2000008,
                &format!(
                    "The token's tenant '{}' does not match the tenant of the request '{url_tenant}'.",
                    verified.tenant_id
                ),
                "invalid_tenant",
            ));
        }
        if !verified.roles.iter().any(|r| r == EXCHANGE_MANAGE_AS_APP) {
            // (invented)
            return Err(Rejection::new(
                2000005,
                "The token does not carry the role 'Exchange.ManageAsApp'.",
                "insufficient_claims",
            ));
        }
        Ok(AuthenticatedApp {
            app_id: verified.app_id,
            tenant_id: verified.tenant_id,
            role_template_ids: verified.wids,
        })
    }

    fn verified(&self, token: &str, key: &SigningKey) -> Result<VerifiedToken, Rejection> {
        {
            let cache = self.cache.lock();
            if let Some(v) = cache.get(token) {
                return Ok(v.clone());
            }
        }
        let verified = verify(token, key)?;
        let mut cache = self.cache.lock();
        if cache.len() >= self.capacity {
            // Dropping everything is crude but bounded; tokens re-verify.
            cache.clear();
        }
        cache.insert(token.to_owned(), verified.clone());
        Ok(verified)
    }
}

/// Verifies with the shared check and words its faults as Exchange does.
fn verify(token: &str, key: &SigningKey) -> Result<VerifiedToken, Rejection> {
    // (invented) texts; no capture shows them.
    bearer_token::verify(token, key).map_err(|fault| match fault {
        TokenFault::Malformed => {
            Rejection::new(2000000, "The token is malformed.", "invalid_token")
        }
        TokenFault::BadSignature => Rejection::new(
            2000002,
            "The token signature is not valid.",
            "invalid_signature",
        ),
    })
}
