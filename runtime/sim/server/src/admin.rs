//! `/_sim/faults` and `/_sim/stats`: switch fault injection and read the
//! request counters from outside the process (the `exorun sim` CLI, benchmarks). The port is open to every local user and process,
//! so each request must carry the control key the simulator printed in its
//! info JSON (`Authorization: Bearer {control_key}`). Loopback peers only;
//! the server binds 127.0.0.1 anyway, the check keeps that true if the
//! bind ever changes.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::faults::FaultConfig;
use crate::http_util::{self, BodyError, json_error, json_response};
use crate::server::ConnectionControl;
use crate::state::Shared;

/// A fresh random control key: 32 bytes, hex.
pub fn new_control_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `None` when the request may use the admin endpoints, else the refusal.
fn refused(
    state: &Shared,
    connection: &Option<Extension<ConnectionControl>>,
    headers: &HeaderMap,
) -> Option<Response> {
    match connection {
        Some(Extension(c)) if c.peer.ip().is_loopback() => {}
        _ => {
            return Some(json_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The simulator's admin endpoints answer loopback clients only.",
            ));
        }
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let expected = state.control_key.as_bytes();
    let matches = given.len() == expected.len() && openssl::memcmp::eq(given.as_bytes(), expected);
    if matches {
        return None;
    }
    let mut response = json_error(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The simulator's admin endpoints want 'Authorization: Bearer <control_key>', with the control_key from the info JSON that `exorun sim` printed.",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"exorun-sim\""),
    );
    Some(response)
}

fn current(state: &Shared) -> Response {
    let body = serde_json::to_value(state.faults.config()).unwrap_or_default();
    json_response(StatusCode::OK, &body)
}

/// `GET /_sim/faults`: the faults in force.
pub async fn get_faults(
    State(state): State<Arc<Shared>>,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
) -> Response {
    refused(&state, &connection, &headers).unwrap_or_else(|| current(&state))
}

/// `GET /_sim/stats`: what the tenant saw, for benchmarks that measure a
/// client from the server's side (429s per 1,000 calls).
pub async fn get_stats(
    State(state): State<Arc<Shared>>,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
) -> Response {
    refused(&state, &connection, &headers).unwrap_or_else(|| {
        let c = &state.counters;
        let body = serde_json::json!({
            "token_requests": c.token_requests(),
            "invoke_requests": c.invoke_requests(),
            "throttled": c.throttled(),
            "graph_requests": c.graph_requests(),
            "identity_requests": c.identity_requests(),
        });
        json_response(StatusCode::OK, &body)
    })
}

/// `POST /_sim/faults` with a `FaultConfig` JSON: replaces the faults.
pub async fn set_faults(
    State(state): State<Arc<Shared>>,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = refused(&state, &connection, &headers) {
        return refused;
    }
    let bytes = match http_util::read_limited(body, 64 * 1024).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return http_util::too_large(64 * 1024),
        Err(BodyError::Broken) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The body could not be read.",
            );
        }
    };
    match serde_json::from_slice::<FaultConfig>(&bytes) {
        Ok(config) => {
            state.faults.set(config);
            current(&state)
        }
        Err(e) => json_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("The body is not a fault configuration: {e}."),
        ),
    }
}
