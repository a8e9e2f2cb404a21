//! `exorun run <plugin>`: one automation, its output on stdout (or --out),
//! its log and a summary on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use exorun_policy::Ceilings;
use exorun_sandbox::{
    CacheConfig, CacheOutcome, CallRecord, Decision, LogLevel, LogLine, Observer, Plugin,
    RunRequest, Sandbox, SandboxConfig,
};
use serde_json::json;

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
    /// Print a machine-readable summary on stdout (the output goes to --out).
    #[arg(long)]
    json: bool,
    /// Print nothing but the output and errors.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Highest memory a plugin may ask for, in MiB.
    #[arg(long, default_value_t = Ceilings::default().memory_mib)]
    max_memory_mib: u64,
    /// Longest run time a plugin may ask for, in seconds.
    #[arg(long, default_value_t = Ceilings::default().timeout.as_secs())]
    max_timeout_seconds: u64,
    /// Most cmdlet calls a plugin may ask for.
    #[arg(long, default_value_t = Ceilings::default().max_calls)]
    max_calls: u64,
    #[command(flatten)]
    tenant: TenantArgs,
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
        ceilings: Ceilings {
            memory_mib: args.max_memory_mib,
            timeout: Duration::from_secs(args.max_timeout_seconds),
            max_calls: args.max_calls,
        },
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
    let connection = tenant::connect(&args.tenant).await?;
    if !args.quiet {
        eprintln!("exorun: {}", connection.notice);
    }
    let observer = Arc::new(ConsoleObserver::new(args.quiet));
    let request = RunRequest {
        backend: connection.backend.clone(),
        inputs: args.inputs.clone(),
        observer: Some(observer),
    };
    let report = sandbox.run(&plugin, request).await;

    let denied = report.denials().count();
    let output_path = match (&report.outcome, &args.out) {
        (Ok(output), Some(path)) => {
            std::fs::write(path, output)
                .with_context(|| format!("writing the output to {}", path.display()))?;
            Some(path.clone())
        }
        _ => None,
    };
    if args.json {
        let summary = json!({
            "status": if report.outcome.is_ok() { "ok" } else { "failed" },
            "error": report.outcome.as_ref().err().map(|e| json!({"kind": e.kind(), "message": e.to_string()})),
            "plugin": report.plugin,
            "version": report.version,
            "sha256": report.sha256,
            "tenant": connection.name,
            "calls": report.calls.len(),
            "denied": denied,
            "elapsedMs": report.elapsed.as_millis() as u64,
            "output": output_path,
        });
        println!("{summary}");
    } else if let (Ok(output), None) = (&report.outcome, &args.out) {
        print!("{output}");
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
            "exorun: {} {} (sha256 {}…) against {}: {status}, {} cmdlet calls ({denied} denied) in {:.2} s{}",
            report.plugin,
            report.version,
            &report.sha256[..12.min(report.sha256.len())],
            connection.name,
            report.calls.len(),
            report.elapsed.as_secs_f64(),
            output_path
                .map(|p| format!(", output written to {}", p.display()))
                .unwrap_or_default()
        );
    }
    match report.outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("exorun: error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Shows the plugin's log, denials and progress on stderr as they happen.
struct ConsoleObserver {
    quiet: bool,
    last_progress: Mutex<Option<Instant>>,
}

impl ConsoleObserver {
    fn new(quiet: bool) -> Self {
        ConsoleObserver {
            quiet,
            last_progress: Mutex::new(None),
        }
    }
}

impl Observer for ConsoleObserver {
    fn log(&self, line: &LogLine) {
        if self.quiet && line.level < LogLevel::Error {
            return;
        }
        let level = match line.level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        eprintln!("  [{level}] {}", line.message);
    }

    fn progress(&self, done: u64, total: Option<u64>) {
        if self.quiet {
            return;
        }
        let mut last = self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
        let finished = total == Some(done);
        if finished || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            match total {
                Some(total) => eprintln!("  progress: {done}/{total}"),
                None => eprintln!("  progress: {done}"),
            }
        }
    }

    fn call(&self, record: &CallRecord) {
        if let Decision::Denied { rule, message } = &record.decision {
            eprintln!("  DENIED {}: {message} [{rule}]", record.call.cmdlet);
        }
    }
}
