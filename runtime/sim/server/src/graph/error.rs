//! Graph's error shape: `{"error":{"code","message","innerError":{"date",
//! "request-id","client-request-id"}}}` with `Content-Type:
//! application/json`. Handlers return a [`GraphError`]; it becomes an
//! answer once, at the end, where the request's `client-request-id` is at
//! hand to echo.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock;

/// A refusal in Graph's terms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401 `InvalidAuthenticationToken`.
    pub fn invalid_token(message: &str) -> Self {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// 400 `Request_BadRequest`: the directory's code for a request it
    /// understood and refuses.
    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 400 `BadRequest`: Graph's own code for a request it cannot read (a
    /// body that is not JSON, a path segment it does not serve).
    pub fn unreadable(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 `Request_ResourceNotFound` for a directory object, in Graph's
    /// own words.
    pub fn not_found(id: &str) -> Self {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 403 `Authorization_RequestDenied`, Graph's own text.
    pub fn denied() -> Self {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 503 `serviceNotAvailable`: the outage fault (sent with
    /// `Retry-After: 1`).
    pub fn unavailable() -> Self {
        GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        )
    }

    /// The answer, echoing the caller's `client-request-id` (or a new
    /// GUID) and naming a fresh `request-id`, as Graph does.
    pub fn into_response(self, headers: &HeaderMap) -> Response {
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 100)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": clock::iso8601(clock::unix_now()),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                }
            }
        });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        let response_headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response_headers.insert("request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&client_request_id) {
            response_headers.insert("client-request-id", v);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response_headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
