//! `exorun run <plugin>`: one automation, its output on stdout (or --out),
//! its log, progress and a summary on stderr, every call in the audit
//! trail. With `--what-if`, writes are captured into a plan instead of sent.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use exorun_audit::RunMode as AuditMode;
use exorun_cmdlet::Escaped;
use exorun_policy::{Ceilings, ResolvedInputs};
use exorun_runner::{Finished, Mode as RunMode, RunJob, StartError};
use exorun_sandbox::{CacheConfig, CacheOutcome, Observer, Plugin, Sandbox, SandboxConfig};
use serde_json::json;

use crate::commands::audit::AuditLogArg;
use crate::installed::{StoreArg, resolve};
use crate::operator_policy::{self, PolicyArgs};
use crate::progress::{ConsoleObserver, Mode};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder, its exorun.toml, or an installed plugin's name.
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
    store: StoreArg,
    #[command(flatten)]
    tenant: TenantArgs,
    #[command(flatten)]
    policy: PolicyArgs,
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
    let plugin = resolve(&args.plugin, &args.store)
        .and_then(|manifest| Ok(Plugin::from_manifest(&sandbox, manifest)?))
        .with_context(|| format!("loading {}", args.plugin.display()))?;
    if !args.quiet {
        compile_notice(&plugin, loading.elapsed());
    }
    let manifest = plugin.manifest();
    // Inputs are checked before anything is connected or audited.
    let inputs = match ResolvedInputs::resolve(manifest.inputs(), &args.inputs) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("exorun: error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let tenant = tenant::connect(&args.tenant).await?;
    if !args.quiet {
        eprintln!("exorun: {}", tenant.notice);
    }
    // The policy of the tenant actually connected to, loaded before
    // anything runs: a broken policy file stops the run.
    let policy = operator_policy::load(&args.policy, Some(tenant.connection.target_tenant()))?;
    let plugin = plugin.narrowed(&policy);
    if !args.quiet {
        operator_policy::notice(&policy);
    }
    let outputs_root = match &args.outputs_dir {
        Some(dir) => dir.clone(),
        None => crate::profiles::data_dir()?.join("outputs"),
    };
    let audit_path = args.audit.path()?;
    let console = Arc::new(ConsoleObserver::new(Mode::detect(args.quiet)));
    let job = RunJob {
        plugin: &plugin,
        target: &tenant.target(),
        inputs,
        mode: if args.what_if {
            RunMode::WhatIf {
                plan: args.plan.clone(),
            }
        } else {
            RunMode::Run
        },
        audit_log: audit_path.clone(),
        outputs_root,
        observers: vec![console.clone() as Arc<dyn Observer>],
        identity: Default::default(),
        cancel: None,
    };
    let finished = match exorun_runner::run(&sandbox, job).await {
        Ok(finished) => finished,
        Err(StartError::PlanExists(path)) => bail!(
            "{} exists already; a plan is never overwritten or written through a link (choose another --plan)",
            path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    console.finish();

    let output_path = match (&finished.report.outcome, &args.out) {
        (Ok(output), Some(path)) => {
            std::fs::write(path, output)
                .with_context(|| format!("writing the output to {}", path.display()))?;
            Some(path.clone())
        }
        _ => None,
    };
    if let Some(e) = &finished.plan_error {
        eprintln!("exorun: error: {e}; the what-if run's plan was not written");
        return Ok(ExitCode::from(1));
    }
    if args.json {
        println!(
            "{}",
            summary(&finished, &tenant.name, &audit_path, output_path.as_deref())
        );
    } else if let (Ok(output), None) = (&finished.report.outcome, &args.out) {
        print!("{}", terminal_safe(output));
        if !output.ends_with('\n') {
            println!();
        }
    }
    if !args.quiet {
        print_summary(
            &args,
            &finished,
            &tenant.name,
            &audit_path,
            output_path.as_deref(),
        );
    }
    if let Some(failure) = &finished.audit_failure {
        eprintln!("exorun: error: the audit trail is incomplete: {failure}");
        return Ok(ExitCode::from(1));
    }
    match &finished.report.outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("exorun: error: {}", Escaped(&e.to_string()));
            Ok(ExitCode::from(1))
        }
    }
}

/// Says so when a plugin took noticeably long to compile, and whether later
/// runs will start from the compile cache.
fn compile_notice(plugin: &Plugin, took: Duration) {
    if *plugin.cache_outcome() == CacheOutcome::Hit || took.as_secs_f64() < 0.5 {
        return;
    }
    let later = match plugin.cache_outcome() {
        CacheOutcome::Miss | CacheOutcome::Rejected(_) => {
            "; later runs start from the compile cache"
        }
        _ => "",
    };
    eprintln!(
        "exorun: compiled {} in {:.1} s{later}",
        plugin.manifest().plugin.name,
        took.as_secs_f64()
    );
}

/// The human summary on stderr: status and counts, output files, the plan
/// and the audit run.
fn print_summary(
    args: &Args,
    finished: &Finished,
    tenant: &str,
    audit_path: &Path,
    output_path: Option<&Path>,
) {
    let report = &finished.report;
    let status = match &report.outcome {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("FAILED ({})", e.kind()),
    };
    eprintln!(
        "exorun: {} {} (sha256 {}…) against {tenant}: {status}, {} cmdlet calls ({} denied, {} failed{}) in {:.2} s{}",
        report.plugin,
        report.version,
        &report.sha256[..12.min(report.sha256.len())],
        report.calls.len(),
        finished.denied(),
        finished.failed(),
        match report.scope_lookups {
            0 => String::new(),
            n => format!("; {n} scope lookups"),
        },
        report.elapsed.as_secs_f64(),
        output_path
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
    if let Some(plan) = &finished.plan {
        eprintln!(
            "exorun: what-if: nothing was changed; {} change{} planned in {} (sha256 {})",
            plan.calls,
            if plan.calls == 1 { "" } else { "s" },
            plan.path.display(),
            plan.sha256
        );
        eprintln!(
            "exorun: review it with `exorun plan show {0} --plugin {1}`, send it with `exorun apply {0} --plugin {1}`",
            plan.path.display(),
            args.plugin.display()
        );
    }
    eprintln!(
        "exorun: audit run {} in {}",
        finished.run.run_id,
        audit_path.display()
    );
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
    finished: &Finished,
    tenant: &str,
    audit_path: &Path,
    output: Option<&Path>,
) -> serde_json::Value {
    let report = &finished.report;
    let status = if finished.is_ok() { "ok" } else { "failed" };
    json!({
        "status": status,
        "error": report.outcome.as_ref().err().map(|e| json!({"kind": e.kind(), "message": e.to_string()})),
        "plugin": report.plugin,
        "version": report.version,
        "sha256": report.sha256,
        "tenant": tenant,
        "mode": if finished.plan.is_some() || finished.run.mode == AuditMode::WhatIf { "what-if" } else { "run" },
        "calls": report.calls.len(),
        "denied": finished.denied(),
        "failed": finished.failed(),
        "objects": finished.objects(),
        "elapsedMs": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
        "output": output,
        "outputs": report.outputs.as_ref().map(|o| json!({
            "folder": o.folder,
            "bytes": o.bytes,
            "files": o.files.iter().map(|f| json!({"name": f.name, "bytes": f.bytes})).collect::<Vec<_>>(),
        })),
        "plan": finished.plan.as_ref().map(|p| json!({"path": p.path, "sha256": p.sha256, "calls": p.calls})),
        "audit": {
            "runId": finished.run.run_id,
            "log": audit_path,
            "error": finished.audit_failure,
        },
    })
}
