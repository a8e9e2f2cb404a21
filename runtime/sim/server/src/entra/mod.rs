//! The Entra ID half: discovery documents and the token endpoints.

pub mod access_token;
pub mod assertion;
pub mod audience;
pub mod discovery;
pub mod error_response;
pub mod replay;
pub mod resource;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::config::{AssertionReuse, AudiencePolicy, TokenLifetime};
use crate::state::Shared;

/// Serialises an OAuth answer (both success and error use plain JSON).
pub(crate) fn json_body(
    body: &serde_json::Value,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        body.to_string(),
    )
}

/// Routes of the login host.
/// The Entra half's state: how it issues tokens and the assertions it has
/// seen, beside what both halves share.
pub struct EntraState {
    pub shared: Arc<Shared>,
    pub token_lifetime: TokenLifetime,
    pub assertion_reuse: AssertionReuse,
    pub audience_policy: AudiencePolicy,
    pub replay: replay::ReplayGuard,
}

pub fn routes(state: Arc<EntraState>) -> Router {
    Router::new()
        .route(
            "/common/discovery/instance",
            get(discovery::instance_discovery),
        )
        .route("/common/discovery/keys", get(discovery::keys))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token_v2))
        .route("/{tenant}/oauth2/token", post(token::token_v1))
        .with_state(state)
}
