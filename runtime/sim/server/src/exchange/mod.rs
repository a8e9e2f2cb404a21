//! The Exchange Online half: the admin REST `InvokeCommand` endpoint.

pub mod anchor;
pub mod answers;
pub mod bearer;
pub mod cmdlet_input;
pub mod envelope;
pub mod invoke_command;
pub mod paging;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;

use crate::state::SimState;

/// Routes of the Exchange host.
pub fn routes() -> Router<Arc<SimState>> {
    Router::new().route(
        "/adminapi/beta/{tenant}/InvokeCommand",
        post(invoke_command::invoke_command),
    )
}
