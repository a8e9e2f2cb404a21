//! Entra's OAuth error answer (docs/protocol.md, "Token response"):
//! `{"error", "error_description": "AADSTS<code>: <text>\r\nTrace ID: …", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock;

/// One AADSTS failure: the OAuth `error`, the numeric code and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AadError {
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

impl AadError {
    pub fn new(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        AadError {
            error,
            code,
            message: message.into(),
        }
    }

    /// 401 for every `invalid_client` error (public captures show it for
    /// AADSTS7000215, 7000218 and 700027, and OAuth 2.0 (RFC 6749 5.2)
    /// names 401 for a client that failed to authenticate), 503 for
    /// `temporarily_unavailable`, else 400.
    pub fn status(&self) -> StatusCode {
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The full answer. `correlation_id` echoes the client's
    /// `client-request-id` when it sent a GUID, as Entra does.
    pub fn into_response_with(self, correlation_id: Option<&str>) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = correlation_id
            .and_then(|c| uuid::Uuid::parse_str(c).ok())
            .unwrap_or_else(uuid::Uuid::new_v4)
            .to_string();
        let timestamp = clock::entra_timestamp(clock::unix_now());
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut response = (self.status(), super::json_body(&body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache"),
        );
        if let Ok(v) = HeaderValue::from_str(&trace_id) {
            headers.insert("x-ms-request-id", v);
        }
        response
    }
}
