//! The little of Microsoft Graph that certificate rotation needs: read an
//! application's key credentials, `addKey`, `removeKey`
//! (docs/credentials.md, "Rotation").
//!
//! Both actions take a *proof of possession*: a JWT signed with one of the
//! app's current keys, `aud` = `00000002-0000-0000-c000-000000000000`,
//! `iss` = the application's object id, valid for at most ten minutes.
//! That is why an app needs no Graph permission to roll its own keys, and
//! why an app whose every certificate has expired cannot.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use exorun_jwt::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::auth::certificate::Certificate;
use crate::auth::token::AuthError;
use crate::auth::token_cache::TokenCache;
use crate::secret::SecretString;
use crate::time_util::unix_seconds;

/// The proof's audience: the (retired) Azure AD Graph app id, which
/// Microsoft Graph still names for it.
pub const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
/// The proof's life, what Microsoft's sample uses and the longest accepted.
pub const PROOF_LIFETIME_SECS: i64 = 600;

/// How often a Graph request is tried when Graph says it is busy or down.
const ATTEMPTS: u32 = 3;
/// The longest wait between two tries, whatever `Retry-After` asks.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// One of an application's key credentials, as Graph lists it (the key
/// itself is never returned).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: String,
    /// For certificates: the SHA-1 thumbprint, in hex.
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
    #[serde(default)]
    pub usage: Option<String>,
}

impl KeyCredential {
    /// True when this credential is the certificate with this SHA-1
    /// thumbprint (hex, any case; Graph may also give it base64).
    pub fn is_certificate(&self, sha1_hex: &str) -> bool {
        let Some(id) = &self.custom_key_identifier else {
            return false;
        };
        if id.eq_ignore_ascii_case(sha1_hex) {
            return true;
        }
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(id)
            .is_ok_and(|bytes| hex::encode_upper(bytes).eq_ignore_ascii_case(sha1_hex))
    }
}

/// An application object with its keys.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// The object id: the proof's `iss`.
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
}

/// Why a Graph request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("cannot get a Microsoft Graph token: {0}")]
    Auth(AuthError),
    #[error("cannot reach Microsoft Graph at {url}: {message}")]
    Transport { url: String, message: String },
    /// Graph answered with an error: its status, code and message.
    #[error("Microsoft Graph answered HTTP {status} {code}: {message}{}", request_id.as_ref().map(|r| format!(" (request-id {r})")).unwrap_or_default())]
    Service {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("Microsoft Graph's answer cannot be read: {0}")]
    BadResponse(String),
    #[error("cannot sign the proof of possession: {0}")]
    Proof(String),
}

impl GraphError {
    /// Graph was down or busy: the same step can be tried again later.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Transport { .. } => true,
            GraphError::Service { status, .. } => *status >= 500 || *status == 429,
            GraphError::Auth(e) => e.is_transient(),
            GraphError::BadResponse(_) | GraphError::Proof(_) => false,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "innerError")]
    inner: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewKey<'a> {
    #[serde(rename = "type")]
    key_type: &'static str,
    usage: &'static str,
    key: String,
    display_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddKeyBody<'a> {
    key_credential: NewKey<'a>,
    password_credential: Option<()>,
    proof: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoveKeyBody<'a> {
    key_id: &'a str,
    proof: &'a str,
}

#[derive(Serialize)]
struct ProofClaims<'a> {
    aud: &'static str,
    iss: &'a str,
    nbf: i64,
    exp: i64,
    jti: String,
}

/// Signs a proof of possession with `signer`'s key for the application
/// object `object_id`.
pub fn make_proof(
    signer: &Certificate,
    object_id: &str,
    now: SystemTime,
) -> Result<SecretString, GraphError> {
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(signer.x5t());
    let nbf = unix_seconds(now);
    let claims = ProofClaims {
        aud: PROOF_AUDIENCE,
        iss: object_id,
        nbf,
        exp: nbf + PROOF_LIFETIME_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    exorun_jwt::sign(&header, &claims, signer.signing_key())
        .map(SecretString::new)
        .map_err(|e| GraphError::Proof(e.to_string()))
}

/// A Graph client for one app, signed in with the app's current
/// certificate.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) http: reqwest::Client,
    /// `https://graph.microsoft.com`, no trailing slash.
    pub(crate) base: String,
    pub(crate) tokens: Arc<TokenCache>,
}

impl GraphClient {
    /// `{base}/v1.0/applications(appId='{app_id}')`: addressed by the app
    /// id, so the object id need not be known to read it.
    fn application_url(&self, app_id: &str) -> String {
        format!("{}/v1.0/applications(appId='{app_id}')", self.base)
    }

    /// The application with its key credentials. Reading needs
    /// `Application.Read.All`, or `Application.ReadWrite.OwnedBy` with the
    /// app an owner of its own registration.
    pub async fn application(&self, app_id: &str) -> Result<Application, GraphError> {
        let url = format!(
            "{}?$select=id,appId,displayName,keyCredentials",
            self.application_url(app_id)
        );
        let body = self.send(reqwest::Method::GET, &url, None).await?;
        serde_json::from_slice(&body).map_err(|e| GraphError::BadResponse(e.to_string()))
    }

    /// Registers `certificate`'s public half on the application; the proof
    /// is signed with `signer`, a key the application already has.
    pub async fn add_key(
        &self,
        app_id: &str,
        object_id: &str,
        certificate: &Certificate,
        signer: &Certificate,
    ) -> Result<KeyCredential, GraphError> {
        use base64::Engine;
        let proof = make_proof(signer, object_id, SystemTime::now())?;
        let body = AddKeyBody {
            key_credential: NewKey {
                key_type: "AsymmetricX509Cert",
                usage: "Verify",
                key: base64::engine::general_purpose::STANDARD.encode(certificate.der()),
                display_name: certificate.subject(),
            },
            password_credential: None,
            proof: proof.expose(),
        };
        let json = serde_json::to_vec(&body).map_err(|e| GraphError::Proof(e.to_string()))?;
        let url = format!("{}/addKey", self.application_url(app_id));
        let answer = self.send(reqwest::Method::POST, &url, Some(json)).await?;
        serde_json::from_slice(&answer).map_err(|e| GraphError::BadResponse(e.to_string()))
    }

    /// Removes a key credential; the proof is signed with `signer`, which
    /// must be another key of the application.
    pub async fn remove_key(
        &self,
        app_id: &str,
        object_id: &str,
        key_id: &str,
        signer: &Certificate,
    ) -> Result<(), GraphError> {
        let proof = make_proof(signer, object_id, SystemTime::now())?;
        let body = RemoveKeyBody {
            key_id,
            proof: proof.expose(),
        };
        let json = serde_json::to_vec(&body).map_err(|e| GraphError::Proof(e.to_string()))?;
        let url = format!("{}/removeKey", self.application_url(app_id));
        self.send(reqwest::Method::POST, &url, Some(json)).await?;
        Ok(())
    }

    /// One request, tried again while Graph is down or busy (a short,
    /// bounded wait: a rotation resumes later rather than hang).
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<bytes::Bytes, GraphError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(method.clone(), url, body.clone()).await {
                Err((error, retry_after)) if error.is_transient() && attempt < ATTEMPTS => {
                    let wait = retry_after
                        .unwrap_or(Duration::from_millis(500 * u64::from(attempt)))
                        .min(MAX_WAIT);
                    tracing::debug!(%error, wait_ms = wait.as_millis() as u64, "Graph request failed; trying again");
                    tokio::time::sleep(wait).await;
                }
                Err((error, _)) => return Err(error),
                Ok(bytes) => return Ok(bytes),
            }
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<bytes::Bytes, (GraphError, Option<Duration>)> {
        let token = self
            .tokens
            .token()
            .await
            .map_err(|e| (GraphError::Auth(e), None))?;
        let mut bearer =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(
                |_| {
                    (
                        GraphError::BadResponse("the Graph token is not a header value".into()),
                        None,
                    )
                },
            )?;
        bearer.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, bearer)
            .header(reqwest::header::ACCEPT, "application/json")
            .header("client-request-id", uuid::Uuid::new_v4().to_string())
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let transport = |e: reqwest::Error| {
            (
                GraphError::Transport {
                    url: url.split('?').next().unwrap_or(url).to_owned(),
                    message: crate::http_text::describe_reqwest(&e),
                },
                None,
            )
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        if status == 401 {
            self.tokens.invalidate_if_current(&token);
        }
        let error = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(ErrorBody { error }) => GraphError::Service {
                status,
                code: error.code,
                message: error.message,
                request_id: error.inner.and_then(|i| i.request_id),
            },
            Err(_) => GraphError::Service {
                status,
                code: String::new(),
                message: crate::http_text::snippet(&bytes),
                request_id: None,
            },
        };
        Err((error, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_credential_is_found_by_hex_or_base64_thumbprint() {
        let hex = "84E05C1D98BCE3A5421D225B140B36E86A3D5534";
        let mut key = KeyCredential {
            key_id: "k".into(),
            custom_key_identifier: Some(hex.to_ascii_lowercase()),
            display_name: None,
            start_date_time: None,
            end_date_time: None,
            key_type: None,
            usage: None,
        };
        assert!(key.is_certificate(hex));
        use base64::Engine;
        key.custom_key_identifier =
            Some(base64::engine::general_purpose::STANDARD.encode(hex::decode(hex).unwrap()));
        assert!(key.is_certificate(hex));
        key.custom_key_identifier = None;
        assert!(!key.is_certificate(hex));
    }

    #[test]
    fn graph_errors_name_status_code_and_request() {
        let e = GraphError::Service {
            status: 400,
            code: "Request_BadRequest".into(),
            message: "Invalid proof.".into(),
            request_id: Some("r-1".into()),
        };
        assert_eq!(
            e.to_string(),
            "Microsoft Graph answered HTTP 400 Request_BadRequest: Invalid proof. (request-id r-1)"
        );
        assert!(!e.is_transient());
    }
}
