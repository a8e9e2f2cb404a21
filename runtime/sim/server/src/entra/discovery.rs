//! The documents MSAL-based clients read before asking for a token
//! (docs/protocol.md, "Discovery"): OpenID configuration, instance discovery, and the
//! JWKS of the token-signing key.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::EntraState;
use super::error_response::AadError;
use crate::http_util::{TenantSegment, json_response, origin};

fn unknown_tenant(tenant: &str) -> Response {
    AadError::new(
        "invalid_tenant",
        90002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
    .into_response_with(None)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`. Endpoints name
/// the tenant by GUID whatever form was asked for, as Entra does.
pub async fn openid_configuration_v2(
    State(state): State<Arc<EntraState>>,
    TenantSegment(tenant): TenantSegment,
    headers: HeaderMap,
) -> Response {
    if !state.shared.directory.is_tenant(&tenant) {
        return unknown_tenant(&tenant);
    }
    let base = origin(&headers, state.shared.port);
    let tid = state.shared.directory.tenant_id();
    let body = json!({
        "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/{tid}/oauth2/v2.0/logout"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "ver"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    });
    json_response(StatusCode::OK, &body)
}

/// `GET /{tenant}/.well-known/openid-configuration`: the v1 document.
pub async fn openid_configuration_v1(
    State(state): State<Arc<EntraState>>,
    TenantSegment(tenant): TenantSegment,
    headers: HeaderMap,
) -> Response {
    if !state.shared.directory.is_tenant(&tenant) {
        return unknown_tenant(&tenant);
    }
    let base = origin(&headers, state.shared.port);
    let tid = state.shared.directory.tenant_id();
    let body = json!({
        "token_endpoint": format!("{base}/{tid}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/common/discovery/keys"),
        "issuer": format!("https://sts.windows.net/{tid}/"),
        "authorization_endpoint": format!("{base}/{tid}/oauth2/authorize"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "subject_types_supported": ["pairwise"],
    });
    json_response(StatusCode::OK, &body)
}

/// `GET /common/discovery/instance?authorization_endpoint=…&api-version=…`.
/// msal drops the port from `authorization_endpoint`, so only its path
/// (the tenant) is used; the host is always this server.
pub async fn instance_discovery(
    State(state): State<Arc<EntraState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let base = origin(&headers, state.shared.port);
    let tenant = query
        .get("authorization_endpoint")
        .and_then(|url| url.strip_prefix("https://"))
        .and_then(|rest| rest.split('/').nth(1))
        .filter(|t| !t.is_empty())
        .unwrap_or("common")
        .to_owned();
    let host = base.trim_start_matches("https://").to_owned();
    let body = json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": query.get("api-version").cloned().unwrap_or_else(|| "1.1".into()),
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    });
    json_response(StatusCode::OK, &body)
}

/// `GET /{tenant}/discovery/v2.0/keys` (and `/common/discovery/keys`).
pub async fn keys(State(state): State<Arc<EntraState>>, headers: HeaderMap) -> Response {
    let base = origin(&headers, state.shared.port);
    let issuer = format!("{base}/{}/v2.0", state.shared.directory.tenant_id());
    let body = json!({"keys": [state.shared.signing_key.jwk(&issuer)]});
    json_response(StatusCode::OK, &body)
}
