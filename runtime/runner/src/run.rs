//! A plain run or a what-if run, from the audit start record to the end
//! record.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use exorun_audit::{AuditError, PluginRef, RunInfo, RunMode};
use exorun_cmdlet::Backend;
use exorun_plan::{Plan, PlanError, PlanPlugin, WhatIfBackend};
use exorun_policy::ResolvedInputs;
use exorun_sandbox::{AuditObserver, Observer, Observers, Plugin, RunReport, RunRequest, Sandbox};

use crate::target::Target;

/// Whether the run's writes are sent or captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every allowed call is sent.
    Run,
    /// Reads are sent, every other call is captured into a plan. `plan` is
    /// the file to write (never overwritten); `None` names it
    /// `<plugin>-<run id>.plan.json` in the current folder.
    WhatIf { plan: Option<PathBuf> },
}

/// Everything one run needs. The inputs are already typed
/// ([`ResolvedInputs::resolve`] against the plugin's manifest), so a bad
/// input is refused before anything is connected or audited.
pub struct RunJob<'a> {
    pub plugin: &'a Plugin,
    pub target: &'a Target,
    pub inputs: ResolvedInputs,
    pub mode: Mode,
    /// The audit log the run's records are appended to.
    pub audit_log: PathBuf,
    /// Under which a plugin with `[outputs]` gets its run's folder
    /// (`<root>/<plugin>/<run id>`).
    pub outputs_root: PathBuf,
    /// Told of the run as it happens, before the audit trail (a console).
    pub observers: Vec<Arc<dyn Observer>>,
    /// Who and which run, when the caller decides (the service); else a
    /// fresh run id and this process's account.
    pub identity: Identity,
    /// Ends the run early when cancelled.
    pub cancel: Option<exorun_sandbox::CancelRun>,
}

/// The run id and the operator a run is recorded under.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// The run id (a UUID); `None` for a fresh one.
    pub run_id: Option<String>,
    /// `user:alice`, `schedule:nightly`; `None` for this process's account.
    pub operator: Option<String>,
}

impl Identity {
    pub(crate) fn apply(&self, mut run: RunInfo) -> RunInfo {
        if let Some(id) = &self.run_id {
            run = run.run_id(id.clone());
        }
        if let Some(operator) = &self.operator {
            run = run.operator(operator.clone());
        }
        run
    }
}

/// Why a run did not start. Nothing ran and nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "{} exists already; a plan is never overwritten or written through a link (choose another plan file)",
        .0.display()
    )]
    PlanExists(PathBuf),
    #[error(transparent)]
    Plan(PlanError),
    #[error("writing the audit trail (the run was not started): {0}")]
    Audit(#[from] AuditError),
}

/// The plan a what-if run wrote.
#[derive(Clone, Debug)]
pub struct WrittenPlan {
    pub path: PathBuf,
    /// SHA-256 of the plan file, as `exorun plan show` prints it.
    pub sha256: String,
    /// The changes it holds.
    pub calls: usize,
}

/// A run that started, however it ended.
#[derive(Debug)]
pub struct Finished {
    pub report: RunReport,
    /// The run as the audit trail names it (run id, operator, mode).
    pub run: RunInfo,
    /// What a what-if run planned, when its plan was written.
    pub plan: Option<WrittenPlan>,
    /// A what-if run whose plan could not be written.
    pub plan_error: Option<PlanError>,
    /// The first audit record that could not be written: the trail is
    /// incomplete and the run counts as failed.
    pub audit_failure: Option<String>,
}

impl Finished {
    /// The plugin ended well, its plan (if any) was written and every
    /// record reached the audit trail.
    pub fn is_ok(&self) -> bool {
        self.report.outcome.is_ok() && self.plan_error.is_none() && self.audit_failure.is_none()
    }

    /// Calls the gate refused.
    pub fn denied(&self) -> usize {
        self.report.denials().count()
    }

    /// Calls that were allowed but failed at the tenant.
    pub fn failed(&self) -> usize {
        self.report.failures().count()
    }

    /// Objects the tenant returned, over all calls.
    pub fn objects(&self) -> u64 {
        self.report
            .calls
            .iter()
            .filter_map(|c| c.outcome.as_ref().ok())
            .sum()
    }
}

/// Runs a plugin once, audited. `Err` only when the run could not start
/// (the plan file exists, the audit log cannot be written); every way a
/// started run ends is in [`Finished`].
pub async fn run(sandbox: &Sandbox, job: RunJob<'_>) -> Result<Finished, StartError> {
    let manifest = job.plugin.manifest();
    let what_if = matches!(job.mode, Mode::WhatIf { .. });
    let run = RunInfo::new(
        PluginRef {
            name: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            sha256: job.plugin.sha256().to_owned(),
        },
        job.target.name.clone(),
        job.target.app_id.clone(),
    )
    .mode(if what_if {
        RunMode::WhatIf
    } else {
        RunMode::Run
    })
    .with_policy(manifest.policy().map(|p| p.summary()));
    let run = job.identity.apply(run);
    // The plan's file is created now, before anything runs: a path that
    // exists already (a link too, even a dangling one) fails here, not
    // after the plugin has run.
    let reserved = match &job.mode {
        Mode::Run => None,
        Mode::WhatIf { plan } => {
            let path = plan.clone().unwrap_or_else(|| {
                PathBuf::from(format!(
                    "{}-{}.plan.json",
                    manifest.plugin.name,
                    &run.run_id[..8]
                ))
            });
            match Plan::reserve(&path) {
                Ok(reserved) => Some(reserved),
                Err(PlanError::Write { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    return Err(StartError::PlanExists(path));
                }
                Err(e) => return Err(StartError::Plan(e)),
            }
        }
    };
    let audit = Arc::new(AuditObserver::start(
        &job.audit_log,
        run.clone(),
        manifest.capabilities(),
    )?);

    let capture = what_if.then(|| Arc::new(WhatIfBackend::new(job.target.backend.clone())));
    let backend: Arc<dyn Backend> = match &capture {
        Some(capture) => capture.clone(),
        None => job.target.backend.clone(),
    };
    let mut observers = job.observers;
    observers.push(audit.clone());
    let mut request = RunRequest::new(backend)
        .what_if(what_if)
        .inputs(job.inputs.clone())
        .observer(Arc::new(Observers(observers)));
    if let Some(cancel) = job.cancel.clone() {
        request = request.cancel(cancel);
    }
    if manifest.outputs().is_some() {
        request = request.outputs_dir(
            job.outputs_root
                .join(&manifest.plugin.name)
                .join(&run.run_id),
        );
    }
    let report = sandbox.run(job.plugin, request).await;

    // The plan is written before the run's end record, which names it.
    let mut plan_error = None;
    let plan = match (capture, reserved) {
        (Some(capture), Some(reserved)) if report.outcome.is_ok() => {
            let path = reserved.path().to_path_buf();
            let mut plan = Plan {
                format: exorun_plan::PLAN_FORMAT.to_owned(),
                created_at: exorun_audit::format_rfc3339_millis(SystemTime::now()),
                what_if_run_id: run.run_id.clone(),
                operator: run.operator.clone(),
                plugin: PlanPlugin {
                    name: manifest.plugin.name.clone(),
                    version: manifest.plugin.version.to_string(),
                    sha256: job.plugin.sha256().to_owned(),
                    manifest_sha256: manifest.sha256.clone(),
                },
                tenant: job.target.name.clone(),
                app_id: job.target.app_id.clone(),
                inputs: shown_inputs(&job.inputs, manifest),
                calls: capture.captured(),
                checksum: String::new(),
            };
            // A plan that cannot be written still leaves the run's end
            // record; the caller reports the error after it.
            match plan.write_into(reserved) {
                Ok(sha256) => Some(WrittenPlan {
                    path,
                    sha256,
                    calls: plan.calls.len(),
                }),
                Err(e) => {
                    plan_error = Some(e);
                    None
                }
            }
        }
        _ => None,
    };
    let outputs_folder = report.outputs.as_ref().map(|o| o.folder.as_path());
    let ended = audit.finish(
        &report,
        outputs_folder,
        plan.as_ref().map(|p| p.sha256.as_str()),
    );
    let audit_failure = audit
        .failure()
        .or_else(|| ended.err().map(|e| e.to_string()));
    Ok(Finished {
        report,
        run,
        plan,
        plan_error,
        audit_failure,
    })
}

/// The inputs as a plan records them: sensitive ones redacted.
fn shown_inputs(
    inputs: &ResolvedInputs,
    manifest: &exorun_policy::Manifest,
) -> Vec<(String, String)> {
    inputs
        .iter()
        .map(|(name, value)| {
            let sensitive = manifest
                .inputs()
                .iter()
                .any(|spec| spec.name == name && spec.sensitive);
            let shown = if sensitive {
                exorun_audit::REDACTED.to_owned()
            } else {
                value.to_string()
            };
            (name.to_owned(), shown)
        })
        .collect()
}
