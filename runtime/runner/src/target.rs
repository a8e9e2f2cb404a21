//! The tenant a run talks to, once its connection is made.

use std::sync::Arc;

use exorun_cmdlet::Backend;

/// A resolved connection: how the caller connected (certificate, profile,
/// the built-in simulator) is its own business; a run needs only where its
/// calls go and what to name in the audit trail and the plan.
#[derive(Clone)]
pub struct Target {
    /// The tenant's name as the audit trail and plans record it
    /// (`contoso.onmicrosoft.com`).
    pub name: String,
    /// The app (client) id the calls are made as.
    pub app_id: String,
    pub backend: Arc<dyn Backend>,
}
