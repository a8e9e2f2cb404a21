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

use exorun_sim_tenant::Execution;

use crate::state::Shared;

/// Routes of the Exchange host.
/// The Exchange half's state: bearer checks, throttling and open pages,
/// beside what both halves share.
pub struct ExchangeState {
    pub shared: Arc<Shared>,
    pub require_anchor_mailbox: bool,
    pub bearer: bearer::BearerValidator,
    pub throttle: throttle::Throttle,
    pub pages: paging::PageCache<Execution>,
}

pub fn routes(state: Arc<ExchangeState>) -> Router {
    Router::new()
        .route(
            "/adminapi/beta/{tenant}/InvokeCommand",
            post(invoke_command::invoke_command),
        )
        .with_state(state)
}
