//! The admission of one cmdlet call, apart from wasmtime: the run's call
//! budget, its refusal count, the audit trail's health and the policy gate,
//! in that order. [`crate::host::cmdlets`] turns each [`Verdict`] into a
//! record, an answer to the plugin or the end of the run; keeping the
//! decision here lets it be tested without building a guest.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use exorun_cmdlet::{Call, CmdletError};
use exorun_policy::{Capabilities, Denial};

/// How many calls a run may still attempt, and how many refusals it may
/// still collect before it is ended.
#[derive(Clone, Debug)]
pub(crate) struct CallBudget {
    /// Calls attempted, refused ones included: every attempt counts against
    /// `max_calls`.
    pub attempts: u64,
    pub max_calls: u64,
    /// Calls refused (denied, over the budget or too large) so far.
    pub refusals: u64,
    /// Refusals after which the next call ends the run.
    pub max_refusals: u64,
    /// Where the operator policy lowered `max_calls`, named when the run
    /// reaches it.
    pub lowered_by: Option<String>,
    /// Reads the host made to enforce the plugin's object scope: they reach
    /// the tenant on the plugin's behalf, so they count against `max_calls`.
    pub lookups: Option<Arc<AtomicU64>>,
}

/// What happens to one call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The run has collected its refusals: it ends, this call unrecorded.
    End { refusals: u64 },
    /// An observer the operator relies on (the audit trail) is broken: the
    /// call is refused and the run ends.
    Blocked(String),
    /// Past `max-calls`: refused, counted as a refusal.
    OverBudget(CmdletError),
    /// Refused by the manifest, counted as a refusal.
    Denied(Denial),
    /// May be sent.
    Allowed,
}

impl CallBudget {
    pub fn new(max_calls: u64, max_refusals: u64) -> CallBudget {
        CallBudget {
            attempts: 0,
            max_calls,
            refusals: 0,
            max_refusals,
            lowered_by: None,
            lookups: None,
        }
    }

    /// Counts the scope's lookups (`crate::scope::ScopedBackend`) too.
    pub fn with_lookups(mut self, lookups: Option<Arc<AtomicU64>>) -> CallBudget {
        self.lookups = lookups;
        self
    }

    fn lookups(&self) -> u64 {
        self.lookups
            .as_ref()
            .map_or(0, |l| l.load(Ordering::Relaxed))
    }

    /// Calls charged so far: the plugin's attempts and the scope's lookups.
    fn used(&self) -> u64 {
        self.attempts.saturating_add(self.lookups())
    }

    /// Names the operator policy rule that lowered `max_calls`.
    pub fn lowered_by(mut self, origin: Option<String>) -> CallBudget {
        self.lowered_by = origin;
        self
    }

    /// Decides on one call. `blocked` is asked only when the run may still
    /// call at all.
    pub fn admit(
        &mut self,
        blocked: impl FnOnce() -> Option<String>,
        capabilities: &Capabilities,
        call: &Call,
    ) -> Verdict {
        if self.refusals >= self.max_refusals {
            return Verdict::End {
                refusals: self.refusals,
            };
        }
        if let Some(reason) = blocked() {
            return Verdict::Blocked(reason);
        }
        if self.used() >= self.max_calls {
            self.refusals += 1;
            let source = match &self.lowered_by {
                Some(origin) => format!("lowered by the operator policy: {origin}"),
                None => "[limits] max-calls".to_owned(),
            };
            let lookups = match self.lookups() {
                0 => String::new(),
                n => format!(", {n} of them the host's lookups to enforce the [scope]"),
            };
            return Verdict::OverBudget(CmdletError::LimitExceeded {
                message: format!(
                    "this run may make at most {} cmdlet calls ({source}){lookups}",
                    self.max_calls
                ),
            });
        }
        self.attempts += 1;
        match exorun_policy::check(capabilities, call) {
            Ok(()) => Verdict::Allowed,
            Err(denial) => {
                self.refusals += 1;
                Verdict::Denied(denial)
            }
        }
    }

    /// A call larger than the boundary allows: an attempt and a refusal,
    /// unless the run has already collected its refusals (`Err`).
    pub fn admit_oversized(&mut self) -> Result<(), u64> {
        if self.refusals >= self.max_refusals {
            return Err(self.refusals);
        }
        self.attempts = self.attempts.saturating_add(1);
        self.refusals += 1;
        Ok(())
    }

    /// How many more calls of a batch can matter: every one past this is
    /// sure to be refused, and the run ends before the last of them.
    pub fn calls_that_can_matter(&self) -> usize {
        let attempts = self.max_calls.saturating_sub(self.used());
        let refusals = self.max_refusals.saturating_sub(self.refusals);
        usize::try_from(attempts.saturating_add(refusals).saturating_add(1)).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use exorun_policy::Manifest;

    use super::*;

    fn grants() -> Capabilities {
        Manifest::parse(
            Path::new("exorun.toml"),
            r#"
[plugin]
name = "t"
version = "1.0.0"
component = "t.wasm"

[[cmdlet]]
name = "Get-Mailbox"
parameters.Identity = {}
"#,
        )
        .unwrap()
        .capabilities()
        .clone()
    }

    fn allowed() -> Call {
        Call::new("Get-Mailbox").param("Identity", "zoe")
    }

    fn denied() -> Call {
        Call::new("Remove-Mailbox").param("Identity", "zoe")
    }

    #[test]
    fn an_allowed_call_counts_as_one_attempt_and_no_refusal() {
        let mut budget = CallBudget::new(3, 100);
        assert_eq!(
            budget.admit(|| None, &grants(), &allowed()),
            Verdict::Allowed
        );
        assert_eq!((budget.attempts, budget.refusals), (1, 0));
    }

    #[test]
    fn a_denied_call_counts_as_an_attempt_and_a_refusal() {
        let mut budget = CallBudget::new(3, 100);
        let verdict = budget.admit(|| None, &grants(), &denied());
        let Verdict::Denied(denial) = verdict else {
            panic!("expected a denial, got {verdict:?}");
        };
        assert_eq!(denial.rule(), "cmdlet-not-declared:Remove-Mailbox");
        assert_eq!((budget.attempts, budget.refusals), (1, 1));
    }

    #[test]
    fn denied_calls_use_up_the_call_budget_too() {
        let mut budget = CallBudget::new(2, 100);
        budget.admit(|| None, &grants(), &denied());
        budget.admit(|| None, &grants(), &denied());
        assert_eq!(
            budget.admit(|| None, &grants(), &allowed()),
            Verdict::OverBudget(CmdletError::LimitExceeded {
                message: "this run may make at most 2 cmdlet calls ([limits] max-calls)".into()
            })
        );
        assert_eq!((budget.attempts, budget.refusals), (2, 3));
    }

    #[test]
    fn the_scopes_lookups_count_against_max_calls() {
        let lookups = Arc::new(AtomicU64::new(0));
        let mut budget = CallBudget::new(3, 100).with_lookups(Some(lookups.clone()));
        assert_eq!(
            budget.admit(|| None, &grants(), &allowed()),
            Verdict::Allowed
        );
        // Resolving that call's target and reading a group: two lookups.
        lookups.fetch_add(2, Ordering::Relaxed);
        assert_eq!(budget.calls_that_can_matter(), 101);
        assert_eq!(
            budget.admit(|| None, &grants(), &allowed()),
            Verdict::OverBudget(CmdletError::LimitExceeded {
                message: "this run may make at most 3 cmdlet calls ([limits] max-calls), 2 of them the host's lookups to enforce the [scope]".into()
            })
        );
        assert_eq!((budget.attempts, budget.refusals), (1, 1));
    }

    #[test]
    fn a_budget_lowered_by_the_policy_names_the_policy_rule() {
        let mut budget =
            CallBudget::new(0, 100).lowered_by(Some("default policy, line 3".to_owned()));
        assert_eq!(
            budget.admit(|| None, &grants(), &allowed()),
            Verdict::OverBudget(CmdletError::LimitExceeded {
                message: "this run may make at most 0 cmdlet calls (lowered by the operator policy: default policy, line 3)".into()
            })
        );
    }

    #[test]
    fn the_call_after_the_last_allowed_refusal_ends_the_run() {
        let mut budget = CallBudget::new(1000, 3);
        for _ in 0..3 {
            assert!(matches!(
                budget.admit(|| None, &grants(), &denied()),
                Verdict::Denied(_)
            ));
        }
        assert_eq!(
            budget.admit(|| None, &grants(), &allowed()),
            Verdict::End { refusals: 3 }
        );
        assert_eq!(budget.attempts, 3, "the ending call is not an attempt");
    }

    #[test]
    fn a_blocked_audit_trail_refuses_before_the_budget_and_the_gate() {
        let mut budget = CallBudget::new(0, 100);
        assert_eq!(
            budget.admit(|| Some("disk full".into()), &grants(), &allowed()),
            Verdict::Blocked("disk full".into())
        );
        assert_eq!((budget.attempts, budget.refusals), (0, 0));
    }

    #[test]
    fn the_blocked_check_is_not_asked_once_the_run_must_end() {
        let mut budget = CallBudget::new(10, 0);
        let verdict = budget.admit(|| panic!("must not be asked"), &grants(), &allowed());
        assert_eq!(verdict, Verdict::End { refusals: 0 });
    }

    #[test]
    fn an_oversized_call_is_an_attempt_and_a_refusal_until_the_run_must_end() {
        let mut budget = CallBudget::new(10, 2);
        assert_eq!(budget.admit_oversized(), Ok(()));
        assert_eq!(budget.admit_oversized(), Ok(()));
        assert_eq!(budget.admit_oversized(), Err(2));
        assert_eq!((budget.attempts, budget.refusals), (2, 2));
    }

    #[test]
    fn a_batch_matters_only_up_to_the_calls_and_refusals_left_plus_the_one_that_ends_it() {
        let mut budget = CallBudget::new(5, 100);
        assert_eq!(budget.calls_that_can_matter(), 106);
        budget.admit(|| None, &grants(), &allowed());
        budget.admit(|| None, &grants(), &denied());
        assert_eq!(budget.calls_that_can_matter(), 3 + 99 + 1);
        let mut spent = CallBudget::new(0, 0);
        assert_eq!(spent.calls_that_can_matter(), 1);
        spent.max_calls = u64::MAX;
        spent.max_refusals = u64::MAX;
        assert_eq!(spent.calls_that_can_matter(), usize::MAX);
    }
}
