//! The InvokeCommand client (docs/protocol.md,
//! "InvokeCommand"): one POST per page, with the
//! module's headers, the token from the shared cache, the tenant limiter in
//! front and the retry rules of [`super::retry`] around it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use exorun_cmdlet::{Backend, Call, CmdletError, PageStream, ResultSize};
use reqwest::header::{
    ACCEPT, ACCEPT_CHARSET, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use url::Url;
use uuid::Uuid;

use super::deadline::{Deadlines, Elapsed};
use super::encoding::encode_body;
use super::errors::ServerError;
use super::limiter::TenantLimiter;
use super::paging::InvokePages;
use super::retry::{RetryPolicy, WaitAllowance, millis_u32, parse_retry_after};
use crate::auth::token::AuthError;
use crate::auth::token_cache::TokenCache;
use crate::http_text::describe_reqwest;

/// The organisation arbitration mailbox an app-only call is routed by.
pub const APP_ANCHOR_MAILBOX: &str = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}";

/// The module's client timeout: one minute more than the server's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(960);

/// Cmdlets the module gives longer timeouts (docs/protocol.md, "Request headers"), seconds + 60.
const LONG_CMDLETS: [(&str, u64); 6] = [
    ("Get-DistributionGroupMember", 3600),
    ("Update-DistributionGroupMember", 3600),
    ("Set-UnifiedGroup", 3600),
    ("Import-TransportRuleCollection", 3600),
    ("Set-OrganizationConfig", 1800),
    ("Update-RoleGroupMember", 1800),
];

/// The client timeout for `cmdlet` (docs/protocol.md, "Request headers").
pub fn timeout_for(cmdlet: &str, default: Duration) -> Duration {
    LONG_CMDLETS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(cmdlet))
        .map(|(_, secs)| Duration::from_secs(secs + 60))
        .unwrap_or(default)
}

/// What the client shares between all calls and pages.
pub(crate) struct ClientInner {
    pub http: reqwest::Client,
    pub tokens: Arc<TokenCache>,
    pub limiter: Arc<TenantLimiter>,
    pub invoke_url: Url,
    /// Origin that nextLinks must stay on.
    pub base_url: Url,
    pub tenant: String,
    pub connection_id: Uuid,
    pub retry: RetryPolicy,
    pub page_size: u64,
    pub timeout: Duration,
    /// Headers identical for every request of this client.
    pub fixed_headers: HeaderMap,
    /// The deadline of every request in flight.
    pub deadlines: Deadlines,
}

/// One call, ready to send any number of times.
pub(crate) struct PreparedCall {
    pub cmdlet: String,
    pub body: Bytes,
    pub read_only: bool,
    pub request_id: Uuid,
    pub result_size: ResultSize,
    pub timeout: Duration,
    /// Fixed headers plus the per-call ones (cmdlet name, request id).
    pub headers: HeaderMap,
}

/// The Exchange Online backend: cheap to clone, safe to share between any
/// number of concurrent runs.
#[derive(Clone)]
pub struct ExchangeClient {
    pub(crate) inner: Arc<ClientInner>,
}

impl fmt::Debug for ExchangeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeClient")
            .field("invoke_url", &self.inner.invoke_url.as_str())
            .field("tenant", &self.inner.tenant)
            .field("connection_id", &self.inner.connection_id)
            .finish_non_exhaustive()
    }
}

static CMDLET_NAME: HeaderName = HeaderName::from_static("x-cmdletname");
static CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
static PREFER: HeaderName = HeaderName::from_static("prefer");

pub(crate) fn fixed_headers(tenant: &str, connection_id: Uuid) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    h.insert(ACCEPT_CHARSET, HeaderValue::from_static("UTF-8"));
    let anchor = format!("APP:{APP_ANCHOR_MAILBOX}@{tenant}");
    h.insert(
        HeaderName::from_static("x-anchormailbox"),
        HeaderValue::from_str(&anchor)
            .map_err(|_| format!("the tenant '{tenant}' is not a valid header value"))?,
    );
    h.insert(
        HeaderName::from_static("x-responseformat"),
        HeaderValue::from_static("json"),
    );
    h.insert(
        HeaderName::from_static("x-serializationlevel"),
        HeaderValue::from_static("Partial"),
    );
    h.insert(
        HeaderName::from_static("connection-id"),
        HeaderValue::from_str(&connection_id.to_string()).map_err(|e| e.to_string())?,
    );
    Ok(h)
}

impl ExchangeClient {
    /// The InvokeCommand URL calls go to.
    pub fn invoke_url(&self) -> &str {
        self.inner.invoke_url.as_str()
    }

    /// The `connection-id` header of this client.
    pub fn connection_id(&self) -> Uuid {
        self.inner.connection_id
    }

    /// The token cache this client uses (shared process-wide).
    pub fn token_cache(&self) -> &Arc<TokenCache> {
        &self.inner.tokens
    }

    /// The tenant limiter this client uses (shared process-wide).
    pub fn limiter(&self) -> &Arc<TenantLimiter> {
        &self.inner.limiter
    }

    fn prepare(&self, call: &Call) -> Result<PreparedCall, CmdletError> {
        let result_size = ResultSize::from_param(call.get("ResultSize"))?;
        let request_id = Uuid::new_v4();
        let mut headers = self.inner.fixed_headers.clone();
        headers.insert(
            CMDLET_NAME.clone(),
            HeaderValue::from_str(&call.cmdlet).map_err(|_| {
                CmdletError::invalid_parameter(format!(
                    "'{}' is not a valid cmdlet name",
                    call.cmdlet
                ))
            })?,
        );
        headers.insert(
            CLIENT_REQUEST_ID.clone(),
            HeaderValue::from_str(&request_id.to_string())
                .map_err(|e| CmdletError::failed("Internal", e.to_string()))?,
        );
        Ok(PreparedCall {
            cmdlet: call.cmdlet.clone(),
            body: Bytes::from(encode_body(call)),
            read_only: call.is_read_only(),
            request_id,
            result_size,
            timeout: timeout_for(&call.cmdlet, self.inner.timeout),
            headers,
        })
    }
}

#[async_trait]
impl Backend for ExchangeClient {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        let prepared = self.prepare(call)?;
        let remaining = prepared.result_size.cap();
        Ok(Box::new(InvokePages {
            client: Arc::clone(&self.inner),
            call: Arc::new(prepared),
            next: Some(Ok(self.inner.invoke_url.clone())),
            remaining,
        }))
    }
}

/// How one attempt ended, when it did not end the call for good.
enum Attempt {
    /// A 2xx answer's body.
    Done(Bytes),
    /// Throttled: the request was refused before it ran, so it is safe to
    /// send again, reads and writes alike. The server's `Retry-After`.
    Throttled(Option<Duration>),
    /// A failure worth another attempt while attempts remain; `error` is
    /// what the call ends in when they do not.
    Failed {
        retry_after: Option<Duration>,
        error: CmdletError,
    },
    /// Exchange refused the token: refresh it once and send again at once.
    Unauthorized,
}

fn auth_failed(e: &AuthError) -> CmdletError {
    CmdletError::failed("AuthenticationFailed", e.to_string())
}

impl ClientInner {
    /// POSTs one page, retrying per the policy; returns the 2xx body.
    ///
    /// Throttling is waited out for as long as the call's allowance and the
    /// run's deadline allow; other failures get the module's six attempts.
    pub(crate) async fn send(
        &self,
        call: &PreparedCall,
        url: &Url,
        page_size: u64,
    ) -> Result<Bytes, CmdletError> {
        let prefer = HeaderValue::from_str(&format!("odata.maxpagesize={page_size}"))
            .map_err(|e| CmdletError::failed("Internal", e.to_string()))?;
        let allowance = WaitAllowance::new(&self.retry, exorun_cmdlet::run_deadline());
        let mut refreshed = false;
        let mut failures = 0u32;
        let mut throttled = 0u32;
        loop {
            let wait = match self.attempt(call, url, &prefer, refreshed).await? {
                Attempt::Done(body) => return Ok(body),
                Attempt::Unauthorized => {
                    refreshed = true;
                    Duration::ZERO
                }
                Attempt::Throttled(retry_after) => {
                    throttled += 1;
                    let wait = self.retry.throttle_wait(throttled, retry_after);
                    if !allowance.allows(wait) {
                        return Err(CmdletError::Throttled {
                            retry_after_ms: millis_u32(wait),
                        });
                    }
                    self.retry.jittered(wait)
                }
                Attempt::Failed { retry_after, error } => {
                    failures += 1;
                    if failures >= self.retry.max_attempts.max(1) {
                        return Err(error);
                    }
                    retry_after
                        .filter(|w| *w <= self.retry.max_delay)
                        .unwrap_or_else(|| self.retry.backoff(failures - 1))
                }
            };
            tracing::debug!(
                cmdlet = %call.cmdlet,
                request_id = %call.request_id,
                throttled,
                failures,
                wait_ms = wait.as_millis() as u64,
                "retrying InvokeCommand"
            );
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// One attempt. An `Err` ends the call whatever the retry budget.
    async fn attempt(
        &self,
        call: &PreparedCall,
        url: &Url,
        prefer: &HeaderValue,
        refreshed: bool,
    ) -> Result<Attempt, CmdletError> {
        let mut permit = self.limiter.acquire().await;
        let token = match self.tokens.token().await {
            Ok(t) => t,
            Err(e) if e.is_transient() => {
                return Ok(Attempt::Failed {
                    retry_after: None,
                    error: auth_failed(&e),
                });
            }
            Err(e) => return Err(auth_failed(&e)),
        };
        let mut headers = call.headers.clone();
        headers.insert(PREFER.clone(), prefer.clone());
        let bearer = token.bearer_header().ok_or_else(|| {
            CmdletError::failed(
                "AuthenticationFailed",
                "the access token is not a valid header value",
            )
        })?;
        headers.insert(AUTHORIZATION, bearer.clone());

        // One deadline covers sending and reading the whole answer.
        let deadline = self.deadlines.start(call.timeout);
        let sent = deadline
            .run(
                self.http
                    .post(url.clone())
                    .headers(headers)
                    .body(call.body.clone())
                    .send(),
            )
            .await;
        let response = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                drop(permit);
                let failure = Transport::of(&e);
                return self.transport_failure(call, failure, e.is_connect());
            }
            Err(elapsed) => {
                drop(permit);
                // It may have been sent: a write's outcome is unknown.
                return self.transport_failure(call, Transport::timed_out(elapsed), false);
            }
        };
        let status = response.status().as_u16();
        let retry_after = parse_retry_after(response.headers());
        permit.observe(status, retry_after, response.headers());
        let www_authenticate = response
            .headers()
            .get("x-ms-diagnostics")
            .or_else(|| response.headers().get(reqwest::header::WWW_AUTHENTICATE))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| Url::parse(l).ok())
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")));
        let body = match deadline.run(response.bytes()).await {
            Ok(Ok(b)) => b,
            // The server answered, so the request arrived: a write may have
            // run.
            Ok(Err(e)) => {
                drop(permit);
                return self.transport_failure(call, Transport::of(&e), false);
            }
            Err(elapsed) => {
                drop(permit);
                return self.transport_failure(call, Transport::timed_out(elapsed), false);
            }
        };
        drop(deadline);
        // Throttling may also come as an error text under another status.
        let error = (!(200..300).contains(&status)).then(|| ServerError::parse(status, &body));
        drop(permit);
        if error.as_ref().is_some_and(ServerError::is_throttling) {
            if status != 429 {
                self.limiter.throttled_by(retry_after);
            }
            return Ok(Attempt::Throttled(retry_after));
        }
        match status {
            200..=299 => Ok(Attempt::Done(body)),
            401 if !refreshed => {
                self.tokens.invalidate_if_current(&token);
                tracing::debug!(cmdlet = %call.cmdlet, "401 from Exchange: refreshing the token once");
                Ok(Attempt::Unauthorized)
            }
            401 => Err(CmdletError::failed(
                "Unauthorized",
                format!(
                    "Exchange refused the access token even after a refresh{}",
                    www_authenticate
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                ),
            )),
            301 | 302 | 303 | 307 | 308 => Err(CmdletError::failed(
                "Redirected",
                format!(
                    "Exchange answered {status} to {}; redirects are not followed (the body and token would go to a host the answer chose): set the Exchange URL to that host if it is a Microsoft one",
                    location.as_deref().unwrap_or("an unnamed location")
                ),
            )),
            _ => {
                let err = error.unwrap_or_else(|| ServerError::parse(status, &body));
                if matches!(status, 503 | 504) || err.is_transient() {
                    return Ok(Attempt::Failed {
                        retry_after,
                        error: err.to_cmdlet_error(),
                    });
                }
                Err(err.to_cmdlet_error())
            }
        }
    }

    /// A request that got no (complete) answer. Never-sent requests are
    /// always retried; a write that may have reached the server is not, and
    /// reports `OutcomeUnknown` so nobody runs it twice by accident.
    fn transport_failure(
        &self,
        call: &PreparedCall,
        failure: Transport,
        not_sent: bool,
    ) -> Result<Attempt, CmdletError> {
        let Transport {
            what,
            timeout,
            builder,
        } = failure;
        if builder {
            return Err(CmdletError::failed("InvalidRequest", what));
        }
        if !not_sent && !call.read_only {
            tracing::warn!(cmdlet = %call.cmdlet, request_id = %call.request_id, error = %what, "write sent but no answer: outcome unknown");
            return Err(CmdletError::OutcomeUnknown {
                message: format!(
                    "{} was sent to Exchange but no answer came back ({what}); check whether it took effect before running it again (client-request-id {})",
                    call.cmdlet, call.request_id
                ),
            });
        }
        Ok(Attempt::Failed {
            retry_after: None,
            error: CmdletError::failed(
                if timeout {
                    "Timeout"
                } else {
                    "ConnectionFailed"
                },
                format!(
                    "{} failed after {} attempts: {what}",
                    call.cmdlet, self.retry.max_attempts
                ),
            ),
        })
    }
}

/// What went wrong on the wire, whichever layer noticed.
struct Transport {
    what: String,
    timeout: bool,
    builder: bool,
}

impl Transport {
    fn of(e: &reqwest::Error) -> Transport {
        Transport {
            what: describe_reqwest(e),
            timeout: e.is_timeout(),
            builder: e.is_builder(),
        }
    }

    fn timed_out(elapsed: Elapsed) -> Transport {
        Transport {
            what: format!("no complete answer within {} s", elapsed.0.as_secs()),
            timeout: true,
            builder: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_cmdlets_get_the_module_timeouts() {
        assert_eq!(
            timeout_for("get-distributiongroupmember", DEFAULT_TIMEOUT),
            Duration::from_secs(3660)
        );
        assert_eq!(
            timeout_for("Set-OrganizationConfig", DEFAULT_TIMEOUT),
            Duration::from_secs(1860)
        );
        assert_eq!(timeout_for("Get-Mailbox", DEFAULT_TIMEOUT), DEFAULT_TIMEOUT);
    }

    #[test]
    fn fixed_headers_carry_the_app_anchor_and_connection_id() {
        let id = Uuid::nil();
        let h = fixed_headers("contoso.onmicrosoft.com", id).unwrap();
        assert_eq!(
            h["x-anchormailbox"],
            "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com"
        );
        assert_eq!(h["connection-id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(h["x-responseformat"], "json");
        assert_eq!(h["x-serializationlevel"], "Partial");
    }
}
