//! `Connect-ExchangeOnline -ManagedIdentity`: the token comes from the
//! platform's identity endpoint, never from a certificate exorun holds
//! (docs/credentials.md, "Managed identity").
//!
//! Two protocols, chosen as Azure's own libraries choose them:
//!
//! - **App Service, Functions, Automation**: `IDENTITY_ENDPOINT` (a plain
//!   HTTP URL on loopback) and the secret `IDENTITY_HEADER`, sent back as
//!   `X-IDENTITY-HEADER`; `api-version=2019-08-01`; the answer gives
//!   `expires_on` in Unix seconds.
//! - **Virtual machines (IMDS)**: `GET /metadata/identity/oauth2/token` at
//!   `169.254.169.254` with `Metadata: true`; `api-version=2018-02-01`; the
//!   answer gives `expires_in`. `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves
//!   the host, as azure-identity allows.
//!
//! A user-assigned identity is named by its client id (`client_id=`).
//! Both endpoints are plain HTTP; exorun sends to one only on loopback or
//! the link-local IMDS address, where the token never crosses a network.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::token::{AccessToken, AuthError};
use crate::secret::SecretString;
use crate::time_util::unix_seconds;

/// The environment variables of the App Service protocol.
pub const IDENTITY_ENDPOINT_ENV: &str = "IDENTITY_ENDPOINT";
pub const IDENTITY_HEADER_ENV: &str = "IDENTITY_HEADER";
/// Moves IMDS off `169.254.169.254` (azure-identity's name for it).
pub const IMDS_HOST_ENV: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// Where IMDS answers on every Azure VM.
pub const IMDS_DEFAULT_HOST: &str = "http://169.254.169.254";

/// How long one request to the identity endpoint may take by default.
pub const DEFAULT_IDENTITY_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the platform hands out tokens.
#[derive(Clone, PartialEq, Eq)]
pub enum IdentityEndpoint {
    /// App Service, Functions, Automation.
    AppService { url: String, header: SecretString },
    /// The VM instance metadata service; `base` is scheme and host.
    Imds { base: String },
}

impl fmt::Debug for IdentityEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityEndpoint::AppService { url, .. } => f
                .debug_struct("AppService")
                .field("url", url)
                .field("header", &"<redacted>")
                .finish(),
            IdentityEndpoint::Imds { base } => f.debug_struct("Imds").field("base", base).finish(),
        }
    }
}

impl IdentityEndpoint {
    /// What the environment says: the App Service pair when both are set,
    /// else IMDS (at its override, or its fixed address).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (var(IDENTITY_ENDPOINT_ENV), var(IDENTITY_HEADER_ENV)) {
            (Some(url), Some(header)) => IdentityEndpoint::AppService {
                url: url.trim().to_owned(),
                header: SecretString::new(header),
            },
            _ => IdentityEndpoint::Imds {
                base: var(IMDS_HOST_ENV)
                    .map(|h| h.trim().trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| IMDS_DEFAULT_HOST.to_owned()),
            },
        }
    }

    /// The URL a token request goes to, without its query.
    pub fn token_url(&self) -> String {
        match self {
            IdentityEndpoint::AppService { url, .. } => url.clone(),
            IdentityEndpoint::Imds { base } => format!("{base}/metadata/identity/oauth2/token"),
        }
    }

    /// Refuses an endpoint a token could leak from: plain HTTP anywhere but
    /// loopback and the link-local IMDS address, or not HTTP at all.
    pub fn check(&self) -> Result<(), String> {
        let text = self.token_url();
        let url = url::Url::parse(&text)
            .map_err(|e| format!("the managed identity endpoint '{text}' is not a URL: {e}"))?;
        match url.scheme() {
            "https" => Ok(()),
            "http" => {
                let local = match url.host() {
                    Some(url::Host::Ipv4(ip)) => {
                        ip.is_loopback() || ip == std::net::Ipv4Addr::new(169, 254, 169, 254)
                    }
                    Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                    Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                    None => false,
                };
                if local {
                    Ok(())
                } else {
                    Err(format!(
                        "the managed identity endpoint '{text}' is plain HTTP on a host that is not this machine: a token would cross the network in clear, so exorun does not ask it (the platform's endpoint is on 127.0.0.1 or 169.254.169.254)"
                    ))
                }
            }
            other => Err(format!(
                "the managed identity endpoint '{text}' uses '{other}:'; it must be an http(s) URL"
            )),
        }
    }
}

/// Asks the identity endpoint for a token for one resource.
pub(crate) struct ManagedIdentityTokens {
    pub http: reqwest::Client,
    pub endpoint: IdentityEndpoint,
    /// The resource URI (`https://outlook.office365.com`), no `/.default`.
    pub resource: String,
    /// A user-assigned identity's client id; `None` for system-assigned.
    pub client_id: Option<String>,
    pub timeout: Duration,
}

#[derive(Deserialize)]
struct Success {
    access_token: Option<String>,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The two error shapes: IMDS's OAuth-like one and App Service's.
#[derive(Deserialize, Default)]
struct Failure {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default, alias = "Message")]
    message: Option<String>,
}

impl ManagedIdentityTokens {
    pub async fn acquire(&self) -> Result<AccessToken, AuthError> {
        let url = self.endpoint.token_url();
        self.endpoint
            .check()
            .map_err(|message| AuthError::Identity {
                url: url.clone(),
                message,
            })?;
        let mut request = self.http.get(&url).timeout(self.timeout);
        let mut query: Vec<(&str, &str)> = vec![("resource", &self.resource)];
        match &self.endpoint {
            IdentityEndpoint::AppService { header, .. } => {
                query.push(("api-version", "2019-08-01"));
                let mut value =
                    reqwest::header::HeaderValue::from_str(header.expose()).map_err(|_| {
                        AuthError::Identity {
                            url: url.clone(),
                            message: format!(
                                "{IDENTITY_HEADER_ENV} holds characters an HTTP header cannot carry"
                            ),
                        }
                    })?;
                value.set_sensitive(true);
                request = request.header("X-IDENTITY-HEADER", value);
            }
            IdentityEndpoint::Imds { .. } => {
                query.push(("api-version", "2018-02-01"));
                request = request.header("Metadata", "true");
            }
        }
        if let Some(id) = &self.client_id {
            query.push(("client_id", id));
        }
        let started = Instant::now();
        let response = request.query(&query).send().await.map_err(|e| {
            let detail = if e.is_timeout() {
                format!("no answer within {} s", self.timeout.as_secs())
            } else {
                crate::http_text::describe_reqwest(&e)
            };
            AuthError::Identity {
                url: url.clone(),
                message: format!(
                    "cannot reach the managed identity endpoint ({detail}); is this running on Azure with a managed identity enabled? ({})",
                    self.where_it_looked()
                ),
            }
        })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| AuthError::Identity {
            url: url.clone(),
            message: format!(
                "the answer broke off: {}",
                crate::http_text::describe_reqwest(&e)
            ),
        })?;
        if (200..300).contains(&status) {
            return parse_success(&body, started).map_err(|detail| AuthError::BadResponse {
                url: url.clone(),
                status,
                detail,
            });
        }
        Err(self.failure(&url, status, &body))
    }

    fn where_it_looked(&self) -> String {
        match &self.endpoint {
            IdentityEndpoint::AppService { url, .. } => {
                format!("{IDENTITY_ENDPOINT_ENV} is {url}")
            }
            IdentityEndpoint::Imds { base } => format!(
                "{IDENTITY_ENDPOINT_ENV} and {IDENTITY_HEADER_ENV} are not set, so the VM metadata service at {base} was asked"
            ),
        }
    }

    fn failure(&self, url: &str, status: u16, body: &[u8]) -> AuthError {
        let failure: Failure = serde_json::from_slice(body).unwrap_or_default();
        let said = failure
            .error_description
            .or(failure.message)
            .or(failure.error.clone())
            .unwrap_or_else(|| crate::http_text::snippet(body));
        let hint = if said.to_ascii_lowercase().contains("identity not found") {
            match &self.client_id {
                Some(id) => format!(
                    "; no managed identity with client id {id} is assigned to this resource: check --managed-identity-account-id"
                ),
                None => "; this resource has no system-assigned identity: turn it on, or name a user-assigned one with --managed-identity-account-id".to_owned(),
            }
        } else if status == 401 || status == 403 {
            format!("; the endpoint refused the secret header ({IDENTITY_HEADER_ENV})")
        } else {
            String::new()
        };
        if status >= 500 || status == 429 {
            return AuthError::BadResponse {
                url: url.to_owned(),
                status,
                detail: format!("{said}{hint}"),
            };
        }
        AuthError::Identity {
            url: url.to_owned(),
            message: format!("HTTP {status}: {said}{hint}"),
        }
    }
}

/// `3599`, `"3599"` as seconds.
fn number(v: Option<&serde_json::Value>) -> Option<i64> {
    match v? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The answer's token and its life: `expires_on` (Unix seconds, App
/// Service) or `expires_in` (IMDS); without either, ten minutes.
fn parse_success(body: &[u8], now: Instant) -> Result<AccessToken, String> {
    let success: Success = serde_json::from_slice(body)
        .map_err(|_| "the managed identity endpoint's answer is not JSON".to_owned())?;
    let token = success
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the managed identity endpoint's answer has no access_token".to_owned())?;
    let lifetime = match (
        number(success.expires_on.as_ref()),
        number(success.expires_in.as_ref()),
    ) {
        (Some(on), _) => {
            let left = on - unix_seconds(SystemTime::now());
            if left <= 0 {
                return Err(
                    "the managed identity endpoint handed out a token that has already expired (is this machine's clock right?)"
                        .to_owned(),
                );
            }
            Duration::from_secs(left as u64)
        }
        (None, Some(secs)) if secs > 0 => Duration::from_secs(secs as u64),
        _ => super::token::DEFAULT_LIFETIME,
    };
    Ok(AccessToken::new(
        SecretString::new(token),
        lifetime,
        None,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imds(base: &str) -> IdentityEndpoint {
        IdentityEndpoint::Imds {
            base: base.to_owned(),
        }
    }

    #[test]
    fn plain_http_is_allowed_only_on_this_machine() {
        assert!(imds("http://169.254.169.254").check().is_ok());
        assert!(imds("http://127.0.0.1:41234").check().is_ok());
        assert!(imds("http://localhost:41234").check().is_ok());
        assert!(imds("http://[::1]:8080").check().is_ok());
        assert!(imds("https://identity.example.net").check().is_ok());
        let far = imds("http://10.0.0.5").check().unwrap_err();
        assert!(far.contains("in clear"), "{far}");
        assert!(imds("ftp://127.0.0.1").check().is_err());
        assert!(imds("not a url").check().is_err());
    }

    #[test]
    fn expires_on_and_expires_in_set_the_life() {
        let now = Instant::now();
        let on = unix_seconds(SystemTime::now()) + 3600;
        let body = format!(r#"{{"access_token":"t","expires_on":"{on}"}}"#);
        let t = parse_success(body.as_bytes(), now).unwrap();
        let life = (t.expires_at() - now).as_secs();
        assert!((3598..=3600).contains(&life), "{life}");
        let t = parse_success(br#"{"access_token":"t","expires_in":"86399"}"#, now).unwrap();
        assert_eq!(t.expires_at() - now, Duration::from_secs(86399));
    }

    #[test]
    fn garbage_and_expired_answers_are_refused() {
        let now = Instant::now();
        assert_eq!(
            parse_success(b"<html>", now).unwrap_err(),
            "the managed identity endpoint's answer is not JSON"
        );
        assert!(parse_success(br#"{"expires_in":5}"#, now).is_err());
        let past = unix_seconds(SystemTime::now()) - 10;
        let body = format!(r#"{{"access_token":"t","expires_on":{past}}}"#);
        assert!(
            parse_success(body.as_bytes(), now)
                .unwrap_err()
                .contains("already expired")
        );
    }

    #[test]
    fn the_secret_header_is_not_printed() {
        let e = IdentityEndpoint::AppService {
            url: "http://127.0.0.1:1/msi/token".into(),
            header: SecretString::new("s3cr3t"),
        };
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }
}
