//! The non-cmdlet answers of the Exchange front door: 400s for bad input,
//! the routing-hint error, 415, injected 5xx and 429s. Cmdlet failures use
//! the tenant's own `ExoError` body instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::http_util::json_response;

/// The warnings members every adminapi error body ends with.
fn with_warnings(mut error: serde_json::Value) -> serde_json::Value {
    if let Some(map) = error.as_object_mut() {
        map.insert(
            "adminapi.warnings@odata.type".into(),
            json!("#Collection(String)"),
        );
        map.insert("@adminapi.warnings".into(), json!([]));
    }
    json!({ "error": error })
}

/// 400 for a body that is not a cmdlet call. The message is where the
/// module looks for parameter problems: `innererror.internalexception`.
pub fn bad_input(message: &str) -> Response {
    let body = with_warnings(json!({
        "code": "BadRequest",
        "message": message,
        "innererror": {
            "message": message,
            "type": "Microsoft.OData.ODataException",
            "internalexception": {
                "message": message,
                "type": "Microsoft.OData.ODataException",
            },
        },
    }));
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// 400 for a skip token the server does not (or no longer) know.
pub fn unknown_skip_token() -> Response {
    bad_input(
        "The $skiptoken is not valid or has expired. Run the cmdlet again from the first page.",
    )
}

/// 400 `ErrorIncorrectRoutingHint` (Outlook REST shape, docs/protocol.md, "Routing hint").
pub fn routing_hint(message: &str) -> Response {
    let body = json!({"error": {"code": "ErrorIncorrectRoutingHint", "message": message}});
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// 415 for a body that is not declared as JSON.
pub fn unsupported_media_type(found: &str) -> Response {
    let body = with_warnings(json!({
        "code": "UnsupportedMediaType",
        "message": format!("The content type '{found}' is not supported; send 'application/json'."),
    }));
    json_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &body)
}

/// An injected server failure. The 500 names `StorageTransientException`,
/// one of the texts the module retries on (docs/protocol.md, "Retries, throttling and 401").
pub fn injected_status(status: u16) -> Response {
    let (status, code, message) = match status {
        503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable. (Simulated fault.)",
        ),
        504 => (
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "The back end did not answer in time. (Simulated fault.)",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Error executing cmdlet",
        ),
    };
    let mut error = json!({"code": code, "message": message});
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        error["details"] = json!([{
            "code": "Server",
            "target": "",
            "message": "|Microsoft.Exchange.Data.Storage.StorageTransientException|A transient storage error occurred. Please try again. (Simulated fault.)",
        }]);
    }
    json_response(status, &with_warnings(error))
}

/// 429 with a decimal `Retry-After`.
pub fn too_many_requests(retry_after: &str, message: &str) -> Response {
    let body = json!({"error": {"code": "TooManyRequests", "message": message}});
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
    if let Ok(v) = HeaderValue::from_str(retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
