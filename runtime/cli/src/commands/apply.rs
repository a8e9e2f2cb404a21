//! `exorun apply PLAN`: sends exactly the calls of a reviewed what-if plan,
//! after checking the plan again (unaltered, this plugin build, this
//! tenant, recent enough, every call allowed by the current manifest), and
//! after a confirmation unless `--yes`. Audited with the plan's digest.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use exorun_plan::Plan;
use exorun_policy::Ceilings;
use exorun_runner::ApplyJob;
use exorun_sandbox::Observer;
use serde_json::json;

use crate::commands::audit::AuditLogArg;
use crate::installed::{StoreArg, resolve};
use crate::operator_policy::{self, PolicyArgs};
use crate::progress::{ConsoleObserver, Mode};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The plan `exorun run --what-if` wrote.
    plan: PathBuf,
    /// The plugin folder (or installed plugin's name) to apply the plan
    /// with. Required: a plan never chooses its own plugin; this one's
    /// manifest and component must be the ones the plan was captured under.
    #[arg(long, value_name = "DIR|NAME")]
    plugin: PathBuf,
    #[command(flatten)]
    store: StoreArg,
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
    #[command(flatten)]
    policy: PolicyArgs,
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
    let max_age = exorun_plan::parse_duration(&args.max_age).with_context(|| {
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
    let manifest = resolve(&args.plugin, &args.store)
        .with_context(|| format!("loading the plugin {}", args.plugin.display()))?;
    let audit_path = args.audit.path()?;
    let tenant = tenant::connect(&args.tenant).await?;
    if !args.quiet {
        eprintln!("exorun: {}", tenant.notice);
    }
    // Every call of the plan is re-checked under today's policy too.
    let policy = operator_policy::load(&args.policy, Some(tenant.connection.target_tenant()))?;
    let manifest = manifest.narrowed(&policy);
    if !args.quiet {
        operator_policy::notice(&policy);
    }
    let target = tenant.target();
    let ceilings = Ceilings {
        max_calls: args.max_calls,
        ..Ceilings::default()
    };
    let checked = exorun_runner::check_apply(ApplyJob {
        plan: &read,
        manifest: &manifest,
        target: &target,
        audit_log: &audit_path,
        again: args.again,
        expect_sha256: args.expect_sha256.as_deref(),
        max_age,
        ceilings: &ceilings,
        identity: Default::default(),
    });
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) if e.is_refusal() => return refuse(e),
        Err(e) => return Err(e.into()),
    };
    let plan = &read.plan;
    if !args.quiet {
        eprint!(
            "{}",
            exorun_plan::render_plan(plan, &read.sha256, Some(manifest.capabilities()))
        );
    }
    if plan.calls.is_empty() {
        eprintln!("exorun: the plan holds no change; nothing to apply");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !confirm(plan.calls.len(), &tenant.name)? {
        return refuse("not confirmed");
    }

    let console = Arc::new(ConsoleObserver::new(Mode::detect(args.quiet)));
    let applied = checked
        .send(vec![console.clone() as Arc<dyn Observer>])
        .await?;
    console.finish();

    let report = &applied.report;
    let failed = applied.failed();
    let audit_failure = &applied.audit_failure;
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
                "tenant": tenant.name,
                "elapsedMs": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                "audit": {"runId": applied.run.run_id, "log": audit_path, "error": audit_failure},
            })
        );
    }
    if !args.quiet {
        match report.stopped_at {
            None => eprintln!(
                "exorun: applied {sent} of {} changes to {} in {:.2} s",
                plan.calls.len(),
                tenant.name,
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
            applied.run.run_id,
            read.sha256,
            audit_path.display()
        );
    }
    if let Some(failure) = audit_failure {
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
