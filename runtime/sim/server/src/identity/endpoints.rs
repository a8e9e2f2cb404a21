//! The two request forms: App Service's `/msi/token` and IMDS's
//! `/metadata/identity/oauth2/token`. Each checks its own header and
//! `api-version`, then both issue the same way (`super::issue`) and shape
//! the answer as their platform does.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::IdentityState;
use super::issue::{Query, Refusal, issue};
use crate::http_util::json_response;

/// The App Service protocol version the simulator serves. Choice
/// (unverified): 2017-09-01, which wants a `secret` header and
/// `MSI_ENDPOINT`, is refused rather than simulated.
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
/// The oldest IMDS identity version; later dates are accepted too.
const IMDS_OLDEST_API_VERSION: &str = "2018-02-01";

/// `GET /msi/token`: the App Service, Functions and Automation form.
pub(crate) async fn app_service(
    State(state): State<Arc<IdentityState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(early) = faults_first(&state).await {
        return early;
    }
    // Choice (unverified): App Service's refusal texts and shape, and 401
    // (not 400) for a wrong secret.
    match headers
        .get("x-identity-header")
        .map(|v| v.as_bytes())
        .filter(|v| !v.is_empty())
    {
        None => {
            return app_service_error(StatusCode::BAD_REQUEST, "No X-IDENTITY-HEADER header");
        }
        Some(given) if !constant_time_eq(given, state.secret.as_bytes()) => {
            tracing::debug!("managed identity request with a wrong X-IDENTITY-HEADER");
            return app_service_error(StatusCode::UNAUTHORIZED, "Invalid X-IDENTITY-HEADER header");
        }
        Some(_) => {}
    }
    let query = Query::parse(query.as_deref());
    if query.get("api-version") != Some(APP_SERVICE_API_VERSION) {
        return app_service_error(
            StatusCode::BAD_REQUEST,
            &format!("The api-version must be {APP_SERVICE_API_VERSION}."),
        );
    }
    match issue(&state.shared, &query) {
        Ok(issued) => json_response(
            StatusCode::OK,
            &json!({
                "access_token": issued.token,
                "expires_on": issued.expires_on.to_string(),
                "resource": issued.resource,
                "token_type": "Bearer",
                "client_id": issued.client_id,
            }),
        ),
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /metadata/identity/oauth2/token`: the VM instance metadata form.
pub(crate) async fn imds(
    State(state): State<Arc<IdentityState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(early) = faults_first(&state).await {
        return early;
    }
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !metadata {
        // IMDS's own text.
        return Refusal::invalid_request("Required metadata header not specified").into_response();
    }
    let query = Query::parse(query.as_deref());
    // Choice (unverified): any `YYYY-MM-DD` from 2018-02-01 on is taken;
    // IMDS's exact list of versions is not simulated.
    let version_ok = query.get("api-version").is_some_and(|v| {
        v.len() == 10
            && v.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
            && v >= IMDS_OLDEST_API_VERSION
    });
    if !version_ok {
        return Refusal::invalid_request(
            "Bad request. api-version is invalid or was not specified in the request.",
        )
        .into_response();
    }
    match issue(&state.shared, &query) {
        Ok(issued) => {
            let life = (issued.expires_on - issued.now).to_string();
            json_response(
                StatusCode::OK,
                &json!({
                    "access_token": issued.token,
                    "client_id": issued.client_id,
                    "expires_in": life,
                    "expires_on": issued.expires_on.to_string(),
                    "ext_expires_in": life,
                    "not_before": issued.not_before.to_string(),
                    "resource": issued.resource,
                    "token_type": "Bearer",
                }),
            )
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// App Service's error shape.
fn app_service_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"statusCode": status.as_u16(), "message": message}),
    )
}

/// Counts the request and applies the identity faults: the stall (which
/// shutdown cuts short by closing the connection) and the garbage answer.
/// `Some` is answered in place of the real answer.
async fn faults_first(state: &IdentityState) -> Option<Response> {
    state.shared.counters.count_identity_request();
    let (stall, garbage) = state.shared.faults.identity_faults();
    if !stall.is_zero() {
        tokio::time::sleep(stall).await;
    }
    garbage.then(|| {
        // What a proxy or a half-started platform agent answers: a 200
        // that is not JSON, which a client must report, not parse.
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Gateway says hello</body></html>",
        )
            .into_response()
    })
}

/// Compares the secret without leaking its length of matching prefix
/// through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}
