//! Applying a reviewed plan: every check first, then exactly its calls.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use exorun_audit::{AuditError, PluginRef, RunEndEvent, RunInfo, RunMode};
use exorun_plan::{ApplyReport, PlanCheck, ReadPlan, Refusal};
use exorun_policy::{Ceilings, Manifest};
use exorun_sandbox::{AuditObserver, Observer, Observers};

use crate::target::Target;

/// What a plan is applied with. The plugin always comes from the operator
/// (the folder named on the command line, or an installed plugin), never
/// from the plan.
pub struct ApplyJob<'a> {
    pub plan: &'a ReadPlan,
    pub manifest: &'a Manifest,
    pub target: &'a Target,
    pub audit_log: &'a Path,
    /// Apply a plan the audit trail shows was applied before.
    pub again: bool,
    /// The plan file's SHA-256 as it was approved, when the caller has it.
    pub expect_sha256: Option<&'a str>,
    /// The oldest plan that may be applied.
    pub max_age: Duration,
    pub ceilings: &'a Ceilings,
    /// The apply's run id and operator, when the caller decides.
    pub identity: crate::Identity,
}

/// Why a plan was not applied. Nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the plan file has sha256 {actual}, not the {expected} that was approved")]
    NotApproved { actual: String, expected: String },
    #[error(
        "the plan sha256 {plan} was applied before (audit run {run}); pass --again to apply it once more"
    )]
    AppliedBefore { plan: String, run: String },
    #[error(transparent)]
    Check(#[from] Refusal),
    #[error("reading the plugin's component {}: {source}", path.display())]
    Component {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the audit trail {}: {source}", path.display())]
    AuditTrail { path: PathBuf, source: AuditError },
    #[error("writing the audit trail (nothing was sent): {0}")]
    AuditStart(AuditError),
}

impl ApplyError {
    /// A refusal of this plan (as opposed to a file that could not be read):
    /// the operator is told why the plan may not be applied.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ApplyError::NotApproved { .. }
                | ApplyError::AppliedBefore { .. }
                | ApplyError::Check(_)
        )
    }
}

/// A plan that passed every check, ready to send once confirmed.
pub struct CheckedApply<'a> {
    job: ApplyJob<'a>,
    component_sha256: String,
}

/// An apply that started, however it ended.
#[derive(Debug)]
pub struct Applied {
    pub report: ApplyReport,
    pub run: RunInfo,
    /// The first audit record that could not be written.
    pub audit_failure: Option<String>,
}

impl Applied {
    /// Calls the tenant refused.
    pub fn failed(&self) -> u64 {
        self.report.failed()
    }
}

/// Checks a plan before anything is sent: the approved digest, an earlier
/// apply in the audit trail, then the plan against the operator's plugin
/// and tenant ([`exorun_plan::check_plan`]).
pub fn check_apply(job: ApplyJob<'_>) -> Result<CheckedApply<'_>, ApplyError> {
    if let Some(expected) = job.expect_sha256
        && !expected.trim().eq_ignore_ascii_case(&job.plan.sha256)
    {
        return Err(ApplyError::NotApproved {
            actual: job.plan.sha256.clone(),
            expected: expected.trim().to_owned(),
        });
    }
    let component = &job.manifest.plugin.component;
    let component_sha256 = file_sha256(component).map_err(|source| ApplyError::Component {
        path: component.clone(),
        source,
    })?;
    if !job.again
        && let Some(run) = applied_before(job.audit_log, &job.plan.sha256).map_err(|source| {
            ApplyError::AuditTrail {
                path: job.audit_log.to_owned(),
                source,
            }
        })?
    {
        return Err(ApplyError::AppliedBefore {
            plan: job.plan.sha256.clone(),
            run,
        });
    }
    exorun_plan::check_plan(
        &job.plan.plan,
        &PlanCheck {
            manifest: job.manifest,
            component_sha256: &component_sha256,
            tenant: &job.target.name,
            max_age: job.max_age,
            now: SystemTime::now(),
            ceilings: job.ceilings,
        },
    )?;
    Ok(CheckedApply {
        job,
        component_sha256,
    })
}

impl CheckedApply<'_> {
    /// Sends the plan's calls in order, each audited, stopping at the
    /// first that fails. `observers` are told before the audit trail.
    pub async fn send(self, observers: Vec<Arc<dyn Observer>>) -> Result<Applied, ApplyError> {
        self.send_from(observers, 0).await
    }

    /// As [`CheckedApply::send`], from step `done + 1` on: the first `done`
    /// calls are known to have been applied by an earlier attempt (a worker
    /// that stopped between two steps), so they are not sent again. Step
    /// numbers in the report and the audit trail stay the plan's own.
    pub async fn send_from(
        self,
        mut observers: Vec<Arc<dyn Observer>>,
        done: usize,
    ) -> Result<Applied, ApplyError> {
        let job = self.job;
        let whole = &job.plan.plan;
        let done = done.min(whole.calls.len());
        let rest;
        let plan = if done == 0 {
            whole
        } else {
            rest = exorun_plan::Plan {
                calls: whole.calls[done..].to_vec(),
                ..whole.clone()
            };
            &rest
        };
        let run = RunInfo::new(
            PluginRef {
                name: job.manifest.plugin.name.clone(),
                version: job.manifest.plugin.version.to_string(),
                sha256: self.component_sha256,
            },
            job.target.name.clone(),
            job.target.app_id.clone(),
        )
        .mode(RunMode::Apply)
        .plan_sha256(job.plan.sha256.clone())
        .with_policy(job.manifest.policy().map(|p| p.summary()));
        let run = job.identity.apply(run);
        let audit = Arc::new(
            AuditObserver::start(job.audit_log, run.clone(), job.manifest.capabilities())
                .map_err(ApplyError::AuditStart)?,
        );
        observers.push(audit.clone());
        // The plugin's scope holds for its plan too: each planned write's
        // target is resolved again now, as the tenant is today.
        let backend = exorun_sandbox::scoped(job.target.backend.clone(), job.manifest).backend;
        let mut report = exorun_plan::apply(plan, backend.as_ref(), &Observers(observers)).await;
        report.stopped_at = report.stopped_at.map(|step| step + done);

        let end = match report.stopped_at {
            None => RunEndEvent::ok(),
            Some(step) => {
                let error = report.calls.last().and_then(|c| c.outcome.as_ref().err());
                RunEndEvent::failed(
                    error.map_or("failed", |e| e.kind()),
                    &format!(
                        "stopped at step {step} of {}: {}",
                        whole.calls.len(),
                        error.map(|e| e.to_string()).unwrap_or_default()
                    ),
                )
            }
        }
        .counts(report.calls.len() as u64, 0, report.failed())
        .duration(report.elapsed);
        let ended = audit.finish_with(end, None);
        let audit_failure = audit
            .failure()
            .or_else(|| ended.err().map(|e| e.to_string()));
        Ok(Applied {
            report,
            run,
            audit_failure,
        })
    }

    /// The plan being applied.
    pub fn plan(&self) -> &ReadPlan {
        self.job.plan
    }
}

/// The run id of an earlier apply of the plan with this digest, from the
/// audit trail. Any apply that started counts: its calls may have been
/// sent even if it stopped.
pub fn applied_before(audit_log: &Path, plan_sha256: &str) -> Result<Option<String>, AuditError> {
    if !audit_log.exists() {
        return Ok(None);
    }
    for record in exorun_audit::query(audit_log, exorun_audit::Filter::default())? {
        let record = record?;
        if record.kind == exorun_audit::Kind::RunStart
            && record.mode == Some(RunMode::Apply)
            && record
                .plan
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(plan_sha256))
        {
            return Ok(Some(record.run_id));
        }
    }
    Ok(None)
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    Ok(hex::encode(Sha256::digest(std::fs::read(path)?)))
}
