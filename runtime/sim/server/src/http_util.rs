//! Small HTTP helpers both halves share: bounded body reads, the request's
//! own origin, and the JSON answers for requests no handler takes.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use serde_json::json;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    /// The connection broke or the framing was invalid.
    Broken,
}

/// The largest request body any endpoint takes.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Middleware: reads the whole request body before any handler runs.
///
/// Handlers answer many requests early (a bad token, throttling, an
/// injected fault, a missing routing hint) without needing the body.
/// Answering with the body unread left it on a keep-alive connection:
/// hyper then closed the connection, sometimes without `Connection:
/// close`, and a client that sent its next POST on it lost that request's
/// outcome. With the body read first, every answer leaves the connection
/// usable; a body too large or too slow to read is answered with
/// `Connection: close`, as the connection cannot be reused.
pub async fn read_body_first(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut refused = match read_limited(body, MAX_REQUEST_BYTES).await {
        Ok(bytes) => {
            return next
                .run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Err(BodyError::TooLarge) => too_large(MAX_REQUEST_BYTES),
        Err(BodyError::Broken) => json_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The request body could not be read.",
        ),
    };
    refused
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
}

/// A client that trickles its body cannot hold a handler forever.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads at most `limit` bytes of a request body, within 30 seconds.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) | Err(_) => Err(BodyError::Broken),
    }
}

/// `413` with a JSON body naming the limit.
pub fn too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("The request body is larger than the {limit} bytes this endpoint accepts."),
    )
}

/// A JSON answer in the OData error shape `{"error":{"code","message"}}`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    json_response(status, &body)
}

/// Serialises `body` with `Content-Type: application/json; charset=utf-8`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The `Host` header if it is a sane `host[:port]`.
pub fn host(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::HOST)?.to_str().ok()?.trim();
    let sane = !h.is_empty()
        && h.len() < 256
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    sane.then(|| h.to_owned())
}

/// True when `authority` (`host:port`) names this server: a loopback name
/// with our port.
pub fn is_own_authority(authority: &str, port: u16) -> bool {
    let lower = authority.to_ascii_lowercase();
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|h| lower == format!("{h}:{port}"))
}

/// `https://{host}` for links in answers: the host the client used when it
/// is one of ours, else `https://127.0.0.1:{port}`.
pub fn origin(headers: &HeaderMap, port: u16) -> String {
    match host(headers) {
        Some(h) if is_own_authority(&h, port) => format!("https://{h}"),
        _ => format!("https://127.0.0.1:{port}"),
    }
}

/// Unknown paths: 404 with a body, never an empty answer.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No resource at {} {}.", method, uri.path()),
    )
}

/// Known path, wrong method: 405 with a body.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("{} is not allowed on {}.", method, uri.path()),
    )
}

/// The `{tenant}` path segment. Unlike a bare `Path<String>`, a segment
/// that does not decode (say `%FF`) is refused with a JSON body.
pub struct TenantSegment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TenantSegment {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(tenant)) => Ok(TenantSegment(tenant)),
            Err(rejection) => Err(json_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("The tenant in the path cannot be read: {rejection}."),
            )),
        }
    }
}
