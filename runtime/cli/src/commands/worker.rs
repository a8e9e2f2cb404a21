//! `exorun worker`: runs queued by `exorun serve` on NATS JetStream, on
//! this machine. It reads the serve.toml the service reads (the NATS
//! server, the tenants and their connections, the plugins folder) and
//! needs the same installed plugins and credentials.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use exorun_sandbox::{CacheConfig, Sandbox, SandboxConfig};
use exorun_serve::ServeConfig;
use exorun_serve::cluster::{Worker, WorkerOptions};

use super::serve::{CliConnector, shutdown_signal};

#[derive(clap::Args)]
pub struct Args {
    /// The service's config file, shared with the service (see docs/scale-out.md).
    #[arg(long, value_name = "FILE", default_value = "serve.toml")]
    config: PathBuf,
    /// The worker's name in events, the history and its audit file
    /// (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Runs at once on this worker (default: serve.toml's
    /// limits.max-concurrent-runs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    max_runs: Option<u32>,
    /// The worker's own audit log (default: audit-worker-<name>.jsonl in
    /// the data folder).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// The NATS JetStream server to take runs from (default: serve.toml's
    /// [queue] nats).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = ServeConfig::load(&args.config)?;
    if let Some(url) = &args.nats {
        config.set_queue_nats(url).map_err(anyhow::Error::msg)?;
    }
    let name = args.name.unwrap_or_else(super::serve::host_name);
    exorun_serve::config::check_name(&name, "worker").map_err(anyhow::Error::msg)?;
    let options = WorkerOptions {
        audit_log: args
            .audit_log
            .unwrap_or_else(|| config.data_dir.join(format!("audit-worker-{name}.jsonl"))),
        max_runs: args.max_runs.unwrap_or(config.limits.max_concurrent_runs),
        name,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(work(config, options))
}

async fn work(config: ServeConfig, options: WorkerOptions) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let sandbox = Sandbox::new(SandboxConfig {
        max_concurrent_runs: options.max_runs,
        compile_cache: CacheConfig::user_default(),
        ..SandboxConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:#}"))
    .context("starting the sandbox")?;
    let grace = config.limits.grace;
    let tenants = config.tenants.len();
    let nats = config
        .queue
        .as_ref()
        .map(|q| q.nats.clone())
        .unwrap_or_default();
    let connector = Arc::new(CliConnector {
        pace_nats: config.pace_nats.clone(),
    });
    let worker = Worker::connect(config, options, connector, Arc::new(sandbox)).await?;
    // Tests and scripts wait for this line.
    println!(
        "exorun worker {}: taking runs for {tenants} tenant(s) from {nats}",
        worker.name()
    );
    let name = worker.name().to_owned();
    worker
        .run(
            async move {
                let signal = shutdown_signal().await;
                eprintln!(
                    "exorun worker {name}: {signal}: taking no more runs; running runs get {} s to finish",
                    grace.as_secs()
                );
            },
            grace,
        )
        .await;
    eprintln!("exorun worker: stopped");
    Ok(ExitCode::SUCCESS)
}
