//! The managed identity endpoints, as Azure serves them to code running on
//! it: plain HTTP on loopback, on a port of their own (docs/protocol.md,
//! "Managed identity endpoints"). Started with the simulator only when
//! `SimConfig::managed_identity` is on.
//!
//! | Method | Path | |
//! |---|---|---|
//! | GET | `/msi/token?resource=R&api-version=2019-08-01[&client_id=ID]` | App Service, Functions, Automation: header `X-IDENTITY-HEADER` (`endpoints::app_service`) |
//! | GET | `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=ID]` | VM instance metadata (IMDS): header `Metadata: true` (`endpoints::imds`) |
//!
//! The tokens are the token endpoint's (same key, same claims, built by
//! `entra::access_token::sign_access_token`), issued to a managed
//! identity's service principal, so Exchange takes them as it takes any
//! app-only token (`issue`).

mod endpoints;
mod issue;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::SimError;
use crate::http_util;
use crate::state::Shared;

/// What the identity endpoints need beside the shared state.
pub(crate) struct IdentityState {
    pub shared: Arc<Shared>,
    /// The App Service `IDENTITY_HEADER` secret, new every start: on Azure
    /// it keeps other local users' processes from taking the identity's
    /// tokens; here it lets tests check that clients send it.
    pub secret: String,
}

/// A running identity listener.
pub(crate) struct IdentityEndpoints {
    pub port: u16,
    pub secret: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Listens on `127.0.0.1` (a free port) until `shutdown`, which also
/// closes every open connection (a stalled answer included).
pub(crate) async fn start(
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<IdentityEndpoints, SimError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|source| SimError::Listen { port: 0, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| SimError::Listen { port: 0, source })?
        .port();
    // The same 32 random bytes, hex, as the control key.
    let secret = crate::admin::new_control_key();
    let state = Arc::new(IdentityState {
        shared,
        secret: secret.clone(),
    });
    let app = Router::new()
        .route("/msi/token", get(endpoints::app_service))
        .route("/metadata/identity/oauth2/token", get(endpoints::imds))
        .with_state(state)
        .fallback(http_util::not_found)
        .method_not_allowed_fallback(http_util::method_not_allowed)
        .layer(axum::middleware::from_fn(http_util::read_body_first));
    let task = tokio::spawn(crate::server::serve(listener, None, app, shutdown));
    tracing::info!(port, "managed identity endpoints listening (plain HTTP)");
    Ok(IdentityEndpoints { port, secret, task })
}
