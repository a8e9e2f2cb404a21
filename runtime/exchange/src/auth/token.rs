//! One client-credentials token request (docs/protocol.md, "Token
//! request") and its answer ("Token response").

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::assertion::{AssertionError, AssertionProfile, CLIENT_ASSERTION_TYPE, make_assertion};
use super::certificate::Certificate;
use super::token_error::{HintContext, TokenError, parse_token_error};
use crate::secret::SecretString;

/// Lifetime assumed when the answer has no `expires_in` (what msal does).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// Refresh this long before expiry when the server gives no `refresh_in`
/// (MSAL's `AccessTokenExpirationBuffer`).
pub const EXPIRY_BUFFER: Duration = Duration::from_secs(300);

static NEXT_TOKEN_ID: AtomicU64 = AtomicU64::new(1);

/// An access token and when to stop using it. The token text is only
/// reachable through [`AccessToken::expose`].
pub struct AccessToken {
    secret: SecretString,
    /// `Bearer <token>`, built once: a real token is ~1.5 KB, and
    /// validating it as a header value on every request is wasted work.
    bearer: Option<reqwest::header::HeaderValue>,
    id: u64,
    expires_at: Instant,
    refresh_at: Instant,
    expires_at_system: SystemTime,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field(
                "expires_at",
                &crate::time_util::format_utc(self.expires_at_system),
            )
            .finish()
    }
}

impl AccessToken {
    /// Builds a token that expires `lifetime` after `now` and should be
    /// refreshed at `refresh_in` if given, else [`EXPIRY_BUFFER`] before
    /// expiry (but never earlier than half its life, for short tokens).
    pub fn new(
        secret: SecretString,
        lifetime: Duration,
        refresh_in: Option<Duration>,
        now: Instant,
    ) -> Self {
        let refresh_in = refresh_in
            .filter(|r| *r < lifetime)
            .unwrap_or_else(|| lifetime.saturating_sub(EXPIRY_BUFFER).max(lifetime / 2));
        let bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
            .ok()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        AccessToken {
            secret,
            bearer,
            id: NEXT_TOKEN_ID.fetch_add(1, Ordering::Relaxed),
            expires_at: now + lifetime,
            refresh_at: now + refresh_in,
            expires_at_system: SystemTime::now() + lifetime,
        }
    }

    /// The bearer token; call only to put it in an `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        self.secret.expose()
    }

    /// The `Authorization` header value (marked sensitive), or `None` when
    /// the token holds bytes a header cannot carry.
    pub(crate) fn bearer_header(&self) -> Option<&reqwest::header::HeaderValue> {
        self.bearer.as_ref()
    }

    /// Unique per acquired token: lets a 401 invalidate only the token that
    /// failed, not a newer one another task already fetched.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    pub fn refresh_at(&self) -> Instant {
        self.refresh_at
    }

    pub fn expires_at_system(&self) -> SystemTime {
        self.expires_at_system
    }

    /// Still fine to hand out without trying a refresh first.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }

    /// Still accepted by the service (with a margin for the request's own
    /// travel time).
    pub fn is_usable(&self, now: Instant) -> bool {
        now + Duration::from_secs(30) < self.expires_at
    }
}

/// Why no token could be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Refused(TokenError),
    #[error("cannot reach the token endpoint {url}: {message}")]
    Transport { url: String, message: String },
    #[error("the token endpoint {url} answered HTTP {status} with no usable token: {detail}")]
    BadResponse {
        url: String,
        status: u16,
        detail: String,
    },
    #[error(transparent)]
    Assertion(#[from] AssertionError),
    /// The managed identity endpoint refused, or cannot be used.
    #[error("managed identity sign-in through {url} failed: {message}")]
    Identity { url: String, message: String },
    /// A token given with `--access-token` cannot be used (any more).
    #[error("{0}")]
    AccessToken(String),
}

impl AuthError {
    /// Worth trying again later (network trouble, 5xx, Entra throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Transport { .. } => true,
            AuthError::BadResponse { status, .. } => *status >= 500 || *status == 429,
            AuthError::Refused(e) => {
                e.status >= 500
                    || e.status == 429
                    || e.error == "temporarily_unavailable"
                    || matches!(e.code, Some(90055 | 90024 | 50196))
            }
            AuthError::Assertion(_) | AuthError::Identity { .. } | AuthError::AccessToken(_) => {
                false
            }
        }
    }
}

#[derive(Deserialize)]
struct Success {
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_in: Option<serde_json::Value>,
}

/// `3599` or `"3599"` (v1 answers use strings) as seconds.
fn seconds(v: Option<&serde_json::Value>) -> Option<Duration> {
    let secs = match v? {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

/// Parses a 2xx answer into a token issued at `now`.
pub(crate) fn parse_token_response(body: &[u8], now: Instant) -> Result<AccessToken, String> {
    let success: Success =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_owned())?;
    let token = success
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the answer has no access_token".to_owned())?;
    let lifetime = seconds(success.expires_in.as_ref()).unwrap_or(DEFAULT_LIFETIME);
    let refresh_in = seconds(success.refresh_in.as_ref());
    Ok(AccessToken::new(
        SecretString::new(token),
        lifetime,
        refresh_in,
        now,
    ))
}

/// Everything needed to ask Entra for a token, for one app and scope.
pub(crate) struct ClientCredentials {
    pub http: reqwest::Client,
    pub token_url: String,
    pub tenant: String,
    pub client_id: String,
    pub scope: String,
    pub certificate: Arc<Certificate>,
    pub profile: AssertionProfile,
}

impl ClientCredentials {
    /// Signs a fresh assertion and exchanges it for a token.
    pub async fn acquire(&self) -> Result<AccessToken, AuthError> {
        let assertion = make_assertion(
            &self.certificate,
            &self.client_id,
            &self.token_url,
            self.profile,
            SystemTime::now(),
        )?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", &self.scope)
            .append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE)
            .append_pair("client_assertion", assertion.expose())
            .append_pair("grant_type", "client_credentials")
            .finish();
        let transport = |e: reqwest::Error| AuthError::Transport {
            url: self.token_url.clone(),
            message: crate::http_text::describe_reqwest(&e),
        };
        let started = Instant::now();
        let response = self
            .http
            .post(&self.token_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            let token =
                parse_token_response(&body, started).map_err(|detail| AuthError::BadResponse {
                    url: self.token_url.clone(),
                    status,
                    detail,
                })?;
            tracing::debug!(
                client_id = %self.client_id,
                scope = %self.scope,
                expires_in_s = token.expires_at().saturating_duration_since(started).as_secs(),
                "acquired an access token"
            );
            return Ok(token);
        }
        let ctx = HintContext {
            thumbprint: &self.certificate.thumbprint_sha1_hex(),
            client_id: &self.client_id,
            tenant: &self.tenant,
        };
        match parse_token_error(status, &body, &ctx) {
            Some(e) => Err(AuthError::Refused(e)),
            None => Err(AuthError::BadResponse {
                url: self.token_url.clone(),
                status,
                detail: crate::http_text::snippet(&body),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_is_read_as_number_or_string() {
        let now = Instant::now();
        let t = parse_token_response(br#"{"access_token":"x","expires_in":3599}"#, now).unwrap();
        assert_eq!(t.expires_at() - now, Duration::from_secs(3599));
        assert_eq!(t.refresh_at() - now, Duration::from_secs(3299));
        let t = parse_token_response(br#"{"access_token":"x","expires_in":"3599"}"#, now).unwrap();
        assert_eq!(t.expires_at() - now, Duration::from_secs(3599));
    }

    #[test]
    fn refresh_in_sets_the_refresh_time() {
        let now = Instant::now();
        let t = parse_token_response(
            br#"{"access_token":"x","expires_in":3599,"refresh_in":1800}"#,
            now,
        )
        .unwrap();
        assert_eq!(t.refresh_at() - now, Duration::from_secs(1800));
    }

    #[test]
    fn a_missing_lifetime_defaults_to_ten_minutes() {
        let now = Instant::now();
        let t = parse_token_response(br#"{"access_token":"x"}"#, now).unwrap();
        assert_eq!(t.expires_at() - now, DEFAULT_LIFETIME);
        assert_eq!(t.refresh_at() - now, Duration::from_secs(300));
    }

    #[test]
    fn short_tokens_refresh_at_half_life() {
        let now = Instant::now();
        let t = parse_token_response(br#"{"access_token":"x","expires_in":60}"#, now).unwrap();
        assert_eq!(t.refresh_at() - now, Duration::from_secs(30));
    }

    #[test]
    fn an_answer_without_a_token_is_refused() {
        assert_eq!(
            parse_token_response(br#"{"expires_in":1}"#, Instant::now()).unwrap_err(),
            "the answer has no access_token"
        );
    }
}
