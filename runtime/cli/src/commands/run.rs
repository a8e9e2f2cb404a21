//! `exorun run <plugin>`: one automation, its output on stdout (or --out),
//! its log, progress and a summary on stderr, every call in the audit
//! trail. With `--what-if`, writes are captured into a plan instead of sent.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use exorun_audit::{PluginRef, RunInfo, RunMode};
use exorun_cmdlet::{Backend, Escaped};
use exorun_plan::{Plan, PlanPlugin, WhatIfBackend};
use exorun_policy::{Ceilings, ResolvedInputs};
use exorun_sandbox::{
    AuditObserver, CacheConfig, CacheOutcome, Decision, Observer, Observers, Plugin, RunReport,
    RunRequest, Sandbox, SandboxConfig,
};
use serde_json::json;

use crate::commands::audit::AuditLogArg;
use crate::progress::{ConsoleObserver, Mode};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder, or its exorun.toml.
    plugin: PathBuf,
    /// An input declared in the manifest, as name=value (repeatable).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// Write the output to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print one machine-readable summary on stdout (the output goes to --out).
    #[arg(long)]
    json: bool,
    /// Print nothing but the output and errors (no progress).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Run reads for real but capture every other call into a plan instead
    /// of sending it (review it with `exorun plan show`, send it with
    /// `exorun apply`).
    #[arg(long)]
    what_if: bool,
    /// Where --what-if writes the plan (default: <plugin>-<run id>.plan.json
    /// in the current folder). Never overwrites a file.
    #[arg(long, value_name = "FILE", requires = "what_if")]
    plan: Option<PathBuf>,
    /// Folder under which a plugin with [outputs] gets its run's folder
    /// (default: outputs/ in the user's exorun data folder).
    #[arg(long, value_name = "DIR")]
    outputs_dir: Option<PathBuf>,
    /// Highest memory a plugin may ask for, in MiB.
    #[arg(long, default_value_t = Ceilings::default().memory_mib)]
    max_memory_mib: u64,
    /// Longest run time a plugin may ask for, in seconds.
    #[arg(long, default_value_t = Ceilings::default().timeout.as_secs())]
    max_timeout_seconds: u64,
    /// Most cmdlet calls a plugin may ask for.
    #[arg(long, default_value_t = Ceilings::default().max_calls)]
    max_calls: u64,
    /// Largest [outputs] max-mib a plugin may ask for.
    #[arg(long, default_value_t = Ceilings::default().outputs_mib)]
    max_outputs_mib: u64,
    #[command(flatten)]
    audit: AuditLogArg,
    #[command(flatten)]
    tenant: TenantArgs,
}

impl Args {
    pub fn ceilings(&self) -> Ceilings {
        Ceilings {
            memory_mib: self.max_memory_mib,
            timeout: Duration::from_secs(self.max_timeout_seconds),
            max_calls: self.max_calls,
            outputs_mib: self.max_outputs_mib,
        }
    }
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::new(SandboxConfig {
        ceilings: args.ceilings(),
        max_concurrent_runs: 4,
        compile_cache: CacheConfig::user_default(),
        ..SandboxConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:#}"))
    .context("starting the sandbox")?;
    let loading = Instant::now();
    let plugin = Plugin::load(&sandbox, &args.plugin)
        .with_context(|| format!("loading {}", args.plugin.display()))?;
    if !args.quiet && *plugin.cache_outcome() != CacheOutcome::Hit {
        let seconds = loading.elapsed().as_secs_f64();
        if seconds >= 0.5 {
            let later = match plugin.cache_outcome() {
                CacheOutcome::Miss | CacheOutcome::Rejected(_) => {
                    "; later runs start from the compile cache"
                }
                _ => "",
            };
            eprintln!(
                "exorun: compiled {} in {seconds:.1} s{later}",
                plugin.manifest().plugin.name
            );
        }
    }
    let manifest = plugin.manifest();
    // Inputs are checked before anything is connected or audited.
    let resolved = match ResolvedInputs::resolve(&manifest.inputs, &args.inputs) {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("exorun: error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let connection = tenant::connect(&args.tenant).await?;
    if !args.quiet {
        eprintln!("exorun: {}", connection.notice);
    }

    let mode = if args.what_if {
        RunMode::WhatIf
    } else {
        RunMode::Run
    };
    let run_info = RunInfo::new(
        PluginRef {
            name: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            sha256: plugin.sha256().to_owned(),
        },
        connection.name.clone(),
        connection.connection.app_id(),
    )
    .mode(mode);
    // The plan's file is created now, before anything runs: a path that
    // exists already (a link too, even a dangling one) fails here, not
    // after the plugin has run.
    let reserved_plan = if args.what_if {
        let path = args.plan.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "{}-{}.plan.json",
                manifest.plugin.name,
                &run_info.run_id[..8]
            ))
        });
        match Plan::reserve(&path) {
            Ok(reserved) => Some(reserved),
            Err(exorun_plan::PlanError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                bail!(
                    "{} exists already; a plan is never overwritten or written through a link (choose another --plan)",
                    path.display()
                );
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let audit_path = args.audit.path()?;
    let audit = Arc::new(
        AuditObserver::start(&audit_path, run_info.clone(), &manifest.capabilities)
            .context("writing the audit trail (the run was not started)")?,
    );
    let console = Arc::new(ConsoleObserver::new(Mode::detect(args.quiet)));

    let what_if = args
        .what_if
        .then(|| Arc::new(WhatIfBackend::new(connection.backend.clone())));
    let backend: Arc<dyn Backend> = match &what_if {
        Some(capture) => capture.clone(),
        None => connection.backend.clone(),
    };
    let mut request = RunRequest::new(backend).what_if(args.what_if);
    request.inputs = args.inputs.clone();
    request.observer = Some(Arc::new(Observers(vec![
        console.clone() as Arc<dyn Observer>,
        audit.clone(),
    ])));
    if manifest.outputs.is_some() {
        let root = match &args.outputs_dir {
            Some(dir) => dir.clone(),
            None => crate::profiles::data_dir()?.join("outputs"),
        };
        request.outputs_dir = Some(root.join(&manifest.plugin.name).join(&run_info.run_id));
    }
    let report = sandbox.run(&plugin, request).await;
    console.finish();

    // The plan is written before the run's end record, which names it.
    let mut plan_error = None;
    let plan = match (&what_if, reserved_plan) {
        (Some(capture), Some(reserved)) if report.outcome.is_ok() => {
            let path = reserved.path().to_path_buf();
            let mut plan = Plan {
                format: exorun_plan::PLAN_FORMAT.to_owned(),
                created_at: exorun_audit::format_rfc3339_millis(SystemTime::now()),
                what_if_run_id: run_info.run_id.clone(),
                operator: run_info.operator.clone(),
                plugin: PlanPlugin {
                    name: manifest.plugin.name.clone(),
                    version: manifest.plugin.version.to_string(),
                    sha256: plugin.sha256().to_owned(),
                    manifest_sha256: manifest.sha256.clone(),
                },
                tenant: connection.name.clone(),
                app_id: connection.connection.app_id().to_owned(),
                inputs: resolved
                    .iter()
                    .map(|(name, value)| {
                        let sensitive = manifest
                            .inputs
                            .iter()
                            .any(|spec| spec.name == name && spec.sensitive);
                        let shown = if sensitive {
                            exorun_audit::REDACTED.to_owned()
                        } else {
                            value.to_string()
                        };
                        (name.to_owned(), shown)
                    })
                    .collect(),
                calls: capture.captured(),
                checksum: String::new(),
            };
            // A plan that cannot be written still leaves the run's end
            // record; the error is reported after it.
            match plan.write_into(reserved) {
                Ok(digest) => Some((path, digest, plan.calls.len())),
                Err(e) => {
                    plan_error = Some(e);
                    None
                }
            }
        }
        _ => None,
    };
    let outputs_folder = report.outputs.as_ref().map(|o| o.folder.as_path());
    let audit_result = audit.finish(&report, outputs_folder, plan.as_ref().map(|p| p.1.as_str()));

    let denied = report.denials().count();
    let failed = report
        .calls
        .iter()
        .filter(|c| c.decision == Decision::Allowed && c.outcome.is_err())
        .count();
    let output_path = match (&report.outcome, &args.out) {
        (Ok(output), Some(path)) => {
            std::fs::write(path, output)
                .with_context(|| format!("writing the output to {}", path.display()))?;
            Some(path.clone())
        }
        _ => None,
    };
    let audit_failure = audit
        .failure()
        .or_else(|| audit_result.err().map(|e| e.to_string()));
    if let Some(e) = plan_error {
        eprintln!("exorun: error: {e}; the what-if run's plan was not written");
        return Ok(ExitCode::from(1));
    }
    if args.json {
        println!(
            "{}",
            summary(
                &report,
                &connection.name,
                &run_info,
                &audit_path,
                output_path.as_deref(),
                plan.as_ref(),
                audit_failure.as_deref(),
            )
        );
    } else if let (Ok(output), None) = (&report.outcome, &args.out) {
        print!("{}", terminal_safe(output));
        if !output.ends_with('\n') {
            println!();
        }
    }
    if !args.quiet {
        let status = match &report.outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("FAILED ({})", e.kind()),
        };
        eprintln!(
            "exorun: {} {} (sha256 {}…) against {}: {status}, {} cmdlet calls ({denied} denied, {failed} failed) in {:.2} s{}",
            report.plugin,
            report.version,
            &report.sha256[..12.min(report.sha256.len())],
            connection.name,
            report.calls.len(),
            report.elapsed.as_secs_f64(),
            output_path
                .as_ref()
                .map(|p| format!(", output written to {}", p.display()))
                .unwrap_or_default()
        );
        if let Some(outputs) = &report.outputs {
            eprintln!(
                "exorun: {} output file{} ({} bytes) in {}",
                outputs.files.len(),
                if outputs.files.len() == 1 { "" } else { "s" },
                outputs.bytes,
                outputs.folder.display()
            );
            for file in &outputs.files {
                let name = outputs.folder.join(&file.name).display().to_string();
                match file.kind {
                    exorun_sandbox::OutputKind::File => {
                        eprintln!("  {}  {} bytes", Escaped(&name), file.bytes)
                    }
                    exorun_sandbox::OutputKind::Folder => eprintln!("  {}/", Escaped(&name)),
                }
            }
        }
        if let Some((path, digest, calls)) = &plan {
            eprintln!(
                "exorun: what-if: nothing was changed; {calls} change{} planned in {} (sha256 {digest})",
                if *calls == 1 { "" } else { "s" },
                path.display()
            );
            eprintln!(
                "exorun: review it with `exorun plan show {0} --plugin {1}`, send it with `exorun apply {0} --plugin {1}`",
                path.display(),
                args.plugin.display()
            );
        }
        eprintln!(
            "exorun: audit run {} in {}",
            run_info.run_id,
            audit_path.display()
        );
    }
    if let Some(failure) = &audit_failure {
        eprintln!("exorun: error: the audit trail is incomplete: {failure}");
        return Ok(ExitCode::from(1));
    }
    match report.outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("exorun: error: {}", Escaped(&e.to_string()));
            Ok(ExitCode::from(1))
        }
    }
}

/// The plugin's output for stdout: as is when stdout is a file or a pipe
/// (it is data), with control characters other than newline and tab
/// escaped when it is a terminal, so a report cannot drive the terminal.
fn terminal_safe(output: &str) -> std::borrow::Cow<'_, str> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return std::borrow::Cow::Borrowed(output);
    }
    let mut shown = String::with_capacity(output.len());
    for line in output.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        for (i, cell) in body.split('\t').enumerate() {
            if i > 0 {
                shown.push('\t');
            }
            shown.push_str(&Escaped(cell).to_string());
        }
        shown.push_str(end);
    }
    std::borrow::Cow::Owned(shown)
}

/// The `--json` summary: one object on one line.
fn summary(
    report: &RunReport,
    tenant: &str,
    run: &RunInfo,
    audit_path: &Path,
    output: Option<&Path>,
    plan: Option<&(PathBuf, String, usize)>,
    audit_failure: Option<&str>,
) -> serde_json::Value {
    let denied = report.denials().count();
    let failed = report
        .calls
        .iter()
        .filter(|c| c.decision == Decision::Allowed && c.outcome.is_err())
        .count();
    let objects: u64 = report
        .calls
        .iter()
        .filter_map(|c| c.outcome.as_ref().ok())
        .sum();
    let status = if report.outcome.is_err() || audit_failure.is_some() {
        "failed"
    } else {
        "ok"
    };
    json!({
        "status": status,
        "error": report.outcome.as_ref().err().map(|e| json!({"kind": e.kind(), "message": e.to_string()})),
        "plugin": report.plugin,
        "version": report.version,
        "sha256": report.sha256,
        "tenant": tenant,
        "mode": if plan.is_some() || run.mode == RunMode::WhatIf { "what-if" } else { "run" },
        "calls": report.calls.len(),
        "denied": denied,
        "failed": failed,
        "objects": objects,
        "elapsedMs": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
        "output": output,
        "outputs": report.outputs.as_ref().map(|o| json!({
            "folder": o.folder,
            "bytes": o.bytes,
            "files": o.files.iter().map(|f| json!({"name": f.name, "bytes": f.bytes})).collect::<Vec<_>>(),
        })),
        "plan": plan.map(|(path, digest, calls)| json!({"path": path, "sha256": digest, "calls": calls})),
        "audit": {
            "runId": run.run_id,
            "log": audit_path,
            "error": audit_failure,
        },
    })
}
