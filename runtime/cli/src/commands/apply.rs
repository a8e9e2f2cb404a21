//! `exorun apply PLAN`: sends exactly the calls of a reviewed what-if plan,
//! after checking the plan again (unaltered, this plugin build, this
//! tenant, recent enough, every call allowed by the current manifest), and
//! after a confirmation unless `--yes`. Audited with the plan's digest.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, bail};
use exorun_audit::{PluginRef, RunEndEvent, RunInfo, RunMode};
use exorun_plan::{Plan, PlanCheck};
use exorun_policy::{Ceilings, Manifest};
use exorun_sandbox::{AuditObserver, Observer, Observers};
use serde_json::json;

use crate::commands::audit::AuditLogArg;
use crate::progress::{ConsoleObserver, Mode};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The plan `exorun run --what-if` wrote.
    plan: PathBuf,
    /// The plugin folder to apply the plan with. Required: a plan never
    /// chooses its own plugin; this one's manifest and component must be
    /// the ones the plan was captured under.
    #[arg(long, value_name = "DIR")]
    plugin: PathBuf,
    /// Apply a plan that the audit trail shows was applied before.
    #[arg(long)]
    again: bool,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// The oldest plan that may be applied: 90s, 30m, 12h, 7d.
    #[arg(long, value_name = "AGE", default_value = "24h")]
    max_age: String,
    /// Refuse unless the plan file has exactly this SHA-256 (as `exorun
    /// plan show` printed it to the reviewer).
    #[arg(long, value_name = "HEX")]
    expect_sha256: Option<String>,
    /// Most cmdlet calls a plan may hold (the operator's ceiling).
    #[arg(long, default_value_t = Ceilings::default().max_calls)]
    max_calls: u64,
    /// Print one machine-readable summary on stdout.
    #[arg(long)]
    json: bool,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    audit: AuditLogArg,
    #[command(flatten)]
    tenant: TenantArgs,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(apply(args))
}

/// Refuses with exit code 1 and the reason, nothing sent.
fn refuse(reason: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!(
        "exorun: apply refused: {}; nothing was sent",
        exorun_cmdlet::Escaped(&reason.to_string())
    );
    Ok(ExitCode::from(1))
}

async fn apply(args: Args) -> anyhow::Result<ExitCode> {
    let max_age = exorun_plan::check::parse_duration(&args.max_age).with_context(|| {
        format!(
            "--max-age '{}' is not a span such as 90s, 30m, 12h or 7d",
            args.max_age
        )
    })?;
    let read = match Plan::read(&args.plan) {
        Ok(read) => read,
        Err(e @ exorun_plan::PlanError::Altered { .. }) => return refuse(e),
        Err(e) => return Err(e.into()),
    };
    let plan = &read.plan;
    if let Some(expected) = &args.expect_sha256
        && !expected.trim().eq_ignore_ascii_case(&read.sha256)
    {
        return refuse(format!(
            "the plan file has sha256 {}, not the {} that was approved",
            read.sha256,
            expected.trim()
        ));
    }
    let manifest = Manifest::load(&args.plugin)
        .with_context(|| format!("loading the plugin {}", args.plugin.display()))?;
    let component_sha256 = file_sha256(&manifest.plugin.component)?;
    let audit_path = args.audit.path()?;
    if !args.again
        && let Some(earlier) = applied_before(&audit_path, &read.sha256)?
    {
        return refuse(format!(
            "the plan sha256 {} was applied before (audit run {earlier}); pass --again to apply it once more",
            read.sha256
        ));
    }

    let connection = tenant::connect(&args.tenant).await?;
    if !args.quiet {
        eprintln!("exorun: {}", connection.notice);
    }
    let ceilings = Ceilings {
        max_calls: args.max_calls,
        ..Ceilings::default()
    };
    let checked = exorun_plan::check_plan(
        plan,
        &PlanCheck {
            manifest: &manifest,
            component_sha256: &component_sha256,
            tenant: &connection.name,
            max_age,
            now: SystemTime::now(),
            ceilings: &ceilings,
        },
    );
    if let Err(refusal) = checked {
        return refuse(refusal);
    }

    if !args.quiet {
        eprint!(
            "{}",
            exorun_plan::render_plan(plan, &read.sha256, Some(&manifest.capabilities))
        );
    }
    if plan.calls.is_empty() {
        eprintln!("exorun: the plan holds no change; nothing to apply");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !confirm(plan.calls.len(), &connection.name)? {
        return refuse("not confirmed");
    }

    let run_info = RunInfo::new(
        PluginRef {
            name: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            sha256: component_sha256.clone(),
        },
        connection.name.clone(),
        connection.connection.app_id(),
    )
    .mode(RunMode::Apply)
    .plan_sha256(read.sha256.clone());
    let audit = Arc::new(
        AuditObserver::start(&audit_path, run_info.clone(), &manifest.capabilities)
            .context("writing the audit trail (nothing was sent)")?,
    );
    let console = Arc::new(ConsoleObserver::new(Mode::detect(args.quiet)));
    let observers = Observers(vec![console.clone() as Arc<dyn Observer>, audit.clone()]);
    let report = exorun_plan::apply(plan, connection.backend.as_ref(), &observers).await;
    console.finish();

    let failed = report.calls.iter().filter(|c| c.outcome.is_err()).count() as u64;
    let end = match report.stopped_at {
        None => RunEndEvent::ok(),
        Some(step) => {
            let error = report.calls.last().and_then(|c| c.outcome.as_ref().err());
            RunEndEvent::failed(
                error.map_or("failed", |e| e.kind()),
                &format!(
                    "stopped at step {step} of {}: {}",
                    plan.calls.len(),
                    error.map(|e| e.to_string()).unwrap_or_default()
                ),
            )
        }
    }
    .counts(report.calls.len() as u64, 0, failed)
    .duration(report.elapsed);
    let audit_result = audit.finish_with(end, None);
    let audit_failure = audit
        .failure()
        .or_else(|| audit_result.err().map(|e| e.to_string()));

    let sent = report.calls.len();
    if args.json {
        println!(
            "{}",
            json!({
                "status": if report.is_complete(plan) && audit_failure.is_none() { "ok" } else { "failed" },
                "plan": {"path": args.plan, "sha256": read.sha256, "calls": plan.calls.len()},
                "sent": sent,
                "failed": failed,
                "stoppedAt": report.stopped_at,
                "error": report.calls.last().and_then(|c| c.outcome.as_ref().err()).map(|e| json!({"kind": e.kind(), "message": e.to_string()})),
                "tenant": connection.name,
                "elapsedMs": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                "audit": {"runId": run_info.run_id, "log": audit_path, "error": audit_failure},
            })
        );
    }
    if !args.quiet {
        match report.stopped_at {
            None => eprintln!(
                "exorun: applied {sent} of {} changes to {} in {:.2} s",
                plan.calls.len(),
                connection.name,
                report.elapsed.as_secs_f64()
            ),
            Some(step) => {
                let error = report
                    .calls
                    .last()
                    .and_then(|c| c.outcome.as_ref().err())
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                eprintln!(
                    "exorun: apply STOPPED at step {step} of {}: {}; steps 1 to {} were applied, the rest not sent",
                    plan.calls.len(),
                    exorun_cmdlet::Escaped(&error),
                    step - 1
                );
            }
        }
        eprintln!(
            "exorun: audit run {} (plan sha256 {}) in {}",
            run_info.run_id,
            read.sha256,
            audit_path.display()
        );
    }
    if let Some(failure) = &audit_failure {
        eprintln!("exorun: error: the audit trail is incomplete: {failure}");
        return Ok(ExitCode::from(1));
    }
    Ok(if report.is_complete(plan) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Asks on the terminal; without one, refuses rather than guess.
fn confirm(changes: usize, tenant: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("apply asks for confirmation on a terminal; pass --yes to apply without asking");
    }
    eprint!("Apply these {changes} changes to {tenant}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// The run id of an earlier apply of the plan with this digest, from the
/// audit trail (any apply that started counts: its calls may have been
/// sent even if it stopped).
fn applied_before(audit_path: &Path, plan_sha256: &str) -> anyhow::Result<Option<String>> {
    if !audit_path.exists() {
        return Ok(None);
    }
    let records = exorun_audit::query(audit_path, exorun_audit::Filter::default())
        .with_context(|| format!("reading the audit trail {}", audit_path.display()))?;
    for record in records {
        let record =
            record.with_context(|| format!("reading the audit trail {}", audit_path.display()))?;
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

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the plugin's component {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}
