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
    /// The calls the tenant refused (at most one: apply stops there).
    pub fn failed(&self) -> u64 {
        self.calls.iter().filter(|c| c.outcome.is_err()).count() as u64
    }

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
        let intent = match observer.blocked() {
            Some(reason) => Err(reason),
            // Sent only once its intent is durably in the audit trail.
            None if !call.is_read_only() => observer.before_write(&[call]).map_err(|reason| {
                format!("the audit trail cannot record the intent of this write ({reason}); it was not sent")
            }),
            None => Ok(()),
        };
        let (outcome, client_request_id) = match intent {
            Err(reason) => (Err(CmdletError::failed("AuditUnavailable", reason)), None),
            Ok(()) => match backend.open_pages(call).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{PLAN_FORMAT, PlanPlugin};
    use async_trait::async_trait;
    use exorun_cmdlet::{Call, Object, PageStream};
    use parking_lot::Mutex;

    /// Fails calls whose Identity is "bad"; remembers what reached it.
    #[derive(Default)]
    struct Tenant(Mutex<Vec<Call>>);

    struct Done;

    #[async_trait]
    impl PageStream for Done {
        async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
            Ok(None)
        }
        fn client_request_id(&self) -> Option<String> {
            Some("req".to_owned())
        }
    }

    #[async_trait]
    impl Backend for Tenant {
        async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
            self.0.lock().push(call.clone());
            match call.get("Identity").and_then(|v| v.as_text()) {
                Some("bad") => Err(CmdletError::not_found("bad")),
                _ => Ok(Box::new(Done)),
            }
        }
    }

    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<CallRecord>>,
        blocked: bool,
    }

    impl Observer for Recorder {
        fn call(&self, record: &CallRecord) {
            self.calls.lock().push(record.clone());
        }
        fn blocked(&self) -> Option<String> {
            self.blocked.then(|| "the audit log is gone".to_owned())
        }
    }

    fn plan(identities: &[&str]) -> Plan {
        Plan {
            format: PLAN_FORMAT.to_owned(),
            created_at: String::new(),
            what_if_run_id: String::new(),
            operator: String::new(),
            plugin: PlanPlugin {
                name: String::new(),
                version: String::new(),
                sha256: String::new(),
                manifest_sha256: String::new(),
            },
            tenant: String::new(),
            app_id: String::new(),
            inputs: vec![],
            calls: identities
                .iter()
                .map(|i| Call::new("Set-Mailbox").param("Identity", *i))
                .collect(),
            checksum: String::new(),
        }
    }

    #[tokio::test]
    async fn every_call_is_sent_in_order_and_told_to_the_observer() {
        let tenant = Tenant::default();
        let recorder = Recorder::default();
        let p = plan(&["a", "b"]);
        let report = apply(&p, &tenant, &recorder).await;
        assert!(report.is_complete(&p));
        assert_eq!(*tenant.0.lock(), p.calls);
        let recorded = recorder.calls.lock();
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[1].client_request_id.as_deref(), Some("req"));
        assert_eq!(recorded[1].outcome, Ok(0));
    }

    #[tokio::test]
    async fn the_first_failure_stops_the_apply() {
        let tenant = Tenant::default();
        let recorder = Recorder::default();
        let p = plan(&["a", "bad", "c"]);
        let report = apply(&p, &tenant, &recorder).await;
        assert_eq!(report.stopped_at, Some(2));
        assert!(!report.is_complete(&p));
        assert_eq!(tenant.0.lock().len(), 2);
        assert_eq!(report.calls[1].outcome, Err(CmdletError::not_found("bad")));
    }

    #[tokio::test]
    async fn nothing_is_sent_while_the_audit_trail_cannot_record_it() {
        let tenant = Tenant::default();
        let recorder = Recorder {
            blocked: true,
            ..Recorder::default()
        };
        let report = apply(&plan(&["a"]), &tenant, &recorder).await;
        assert_eq!(report.stopped_at, Some(1));
        assert!(tenant.0.lock().is_empty());
        assert!(matches!(
            &report.calls[0].outcome,
            Err(CmdletError::Failed { code, .. }) if code == "AuditUnavailable"
        ));
    }
}
