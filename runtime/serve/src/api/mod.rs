//! The HTTP API (`/api/v1/...`, JSON) and the dashboard (`/`, HTML), one
//! router. Every handler finds out who calls first ([`Caller`]): an API
//! token (`Authorization: Bearer exo_…`) or a dashboard session cookie,
//! which must also carry its CSRF token on anything that changes state.
//! What a role may do is decided in [`crate::service`], not here, so the
//! API and the dashboard cannot differ.

mod admin;
mod caller;
mod error;
mod handlers;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

pub use caller::{Caller, peer};
pub use error::ApiError;
pub use handlers::{audit_search, check_login, grouped_calls, session_cookie_header};

/// A login as the dashboard's form gives it.
pub fn handlers_login(user: String, password: String) -> handlers::Login {
    handlers::Login { user, password }
}

/// An audit search as the dashboard's form gives it.
pub fn audit_query(run: Option<String>, action: Option<String>) -> handlers::AuditQuery {
    handlers::AuditQuery {
        run,
        plugin: None,
        action,
        limit: Some(200),
    }
}

use crate::service::Service;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub logins: Arc<crate::auth::LoginLimiter>,
    /// Cookies get `Secure` when the service speaks HTTPS.
    pub secure_cookies: bool,
}

/// The largest request body accepted (a run's inputs, a schedule).
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(handlers::health))
        .route("/login", post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/me", get(handlers::me))
        .route("/tenants", get(handlers::tenants).post(admin::add_tenant))
        .route("/tenants/{name}", delete(admin::remove_tenant))
        .route("/tenants/{name}/reconnect", post(admin::reconnect_tenant))
        .route("/plugins", get(handlers::plugins).post(admin::install))
        .route("/plugins/{name}", delete(admin::uninstall))
        .route("/plugins/{name}/upgrade", post(admin::upgrade))
        .route("/plugins/{name}/held", post(admin::review_held))
        .route("/consents", get(admin::consents))
        .route("/consents/{id}", get(admin::consent))
        .route("/consents/{id}/accept", post(admin::accept))
        .route("/consents/{id}/decline", post(admin::decline))
        .route("/trust", get(admin::trust).post(admin::trust_add))
        .route("/trust/{key}", delete(admin::trust_remove))
        .route("/runs", get(handlers::list_runs).post(handlers::start_run))
        .route("/runs/{id}", get(handlers::get_run))
        .route("/runs/{id}/log", get(handlers::run_log))
        .route("/runs/{id}/output", get(handlers::run_output))
        .route("/runs/{id}/cancel", post(handlers::cancel_run))
        .route("/dead-letters", get(handlers::dead_letters))
        .route("/plans", get(handlers::list_plans))
        .route("/plans/{id}", get(handlers::get_plan))
        .route("/plans/{id}/approve", post(handlers::approve_plan))
        .route("/plans/{id}/reject", post(handlers::reject_plan))
        .route(
            "/schedules",
            get(handlers::list_schedules).post(handlers::put_schedule),
        )
        .route(
            "/schedules/{name}",
            get(handlers::get_schedule).delete(handlers::delete_schedule),
        )
        .route("/schedules/{name}/enable", post(handlers::enable_schedule))
        .route(
            "/schedules/{name}/disable",
            post(handlers::disable_schedule),
        )
        .route("/audit", get(handlers::audit_records))
        .route("/audit/verify", get(handlers::audit_verify))
        .fallback(handlers::not_found);
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::dashboard::router())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
