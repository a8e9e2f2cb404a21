//! `/_sim/faults`: switch fault injection from outside the process (the
//! `exorun sim` CLI). Loopback peers only; the server binds 127.0.0.1
//! anyway, the check keeps that true if the bind ever changes.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::faults::FaultConfig;
use crate::http_util::{self, BodyError, json_error, json_response};
use crate::server::ConnectionControl;
use crate::state::SimState;

fn loopback_only(connection: &Option<Extension<ConnectionControl>>) -> Option<Response> {
    match connection {
        Some(Extension(c)) if c.peer.ip().is_loopback() => None,
        _ => Some(json_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The simulator's admin endpoints answer loopback clients only.",
        )),
    }
}

fn current(state: &SimState) -> Response {
    let body = serde_json::to_value(state.faults.config()).unwrap_or_default();
    json_response(StatusCode::OK, &body)
}

/// `GET /_sim/faults`: the faults in force.
pub async fn get_faults(
    State(state): State<Arc<SimState>>,
    connection: Option<Extension<ConnectionControl>>,
) -> Response {
    loopback_only(&connection).unwrap_or_else(|| current(&state))
}

/// `POST /_sim/faults` with a `FaultConfig` JSON: replaces the faults.
pub async fn set_faults(
    State(state): State<Arc<SimState>>,
    connection: Option<Extension<ConnectionControl>>,
    body: Body,
) -> Response {
    if let Some(refused) = loopback_only(&connection) {
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
