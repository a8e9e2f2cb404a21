//! Sending a checked plan: exactly its calls, in order, one at a time,
//! each told to the observer (the audit trail) as it ends. The first call
//! that fails stops the apply: later changes may depend on it, and an
//! `outcome-unknown` write must be looked at before anything else is sent.

use std::time::{Duration, Instant};

use exorun_cmdlet::{Backend, CmdletError, collect_pages};
use exorun_sandbox::{CallRecord, Decision, Observer};

use crate::file::Plan;

/// What an apply did.
#[derive(Debug)]
pub struct ApplyReport {
    /// The calls sent (and the one refused by the observer, if any), in order.
    pub calls: Vec<CallRecord>,
    /// The 1-based step that failed and stopped the apply.
    pub stopped_at: Option<usize>,
    pub elapsed: Duration,
}

impl ApplyReport {
    /// True when every call of the plan was sent and succeeded.
    pub fn is_complete(&self, plan: &Plan) -> bool {
        self.stopped_at.is_none() && self.calls.len() == plan.calls.len()
    }
}

/// Sends the plan's calls. The plan must have passed
/// [`crate::check_plan`] against the current manifest first.
pub async fn apply(plan: &Plan, backend: &dyn Backend, observer: &dyn Observer) -> ApplyReport {
    let started = Instant::now();
    let mut calls = Vec::with_capacity(plan.calls.len());
    let mut stopped_at = None;
    for (index, call) in plan.calls.iter().enumerate() {
        let call_started = Instant::now();
        let (outcome, client_request_id) = match observer.blocked() {
            Some(reason) => (Err(CmdletError::failed("AuditUnavailable", reason)), None),
            None => match backend.open_pages(call).await {
                Ok(pages) => {
                    let id = pages.client_request_id();
                    (collect_pages(pages).await.map(|o| o.len() as u64), id)
                }
                Err(e) => (Err(e), None),
            },
        };
        let record = CallRecord {
            call: call.clone(),
            decision: Decision::Allowed,
            outcome,
            elapsed: call_started.elapsed(),
            client_request_id,
        };
        observer.call(&record);
        let failed = record.outcome.is_err();
        calls.push(record);
        if failed {
            stopped_at = Some(index + 1);
            break;
        }
    }
    ApplyReport {
        calls,
        stopped_at,
        elapsed: started.elapsed(),
    }
}
