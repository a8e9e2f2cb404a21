//! `exorun sim`: the simulated tenant as a standalone HTTPS server, for
//! pointing real clients (msal, azure-identity, exorun itself) at it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use exorun_sim::{FaultConfig, SimConfig, TenantSource, ThrottleConfig};
use tokio::signal::unix::{SignalKind, signal};

#[derive(clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Mailboxes of the generated tenant.
    #[arg(long, default_value_t = 50)]
    mailboxes: usize,
    /// Seed of the generated tenant and of the fault streams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Load the tenant from this JSON file instead of generating it.
    #[arg(long, value_name = "FILE", conflicts_with = "mailboxes")]
    tenant_file: Option<PathBuf>,
    /// Register a further certificate (.cer, DER or PEM) on the app, as
    /// uploading it in the portal does (repeatable).
    #[arg(long = "app-certificate", value_name = "FILE.cer")]
    app_certificates: Vec<PathBuf>,
    /// Also write the connection info JSON to this file.
    #[arg(long, value_name = "FILE")]
    info: Option<PathBuf>,
    /// Folder for the CA and client certificate files (default: a new
    /// private folder under the system temp folder).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime_seconds: u64,
    /// InvokeCommand budget per app, in calls per second (default: unlimited).
    #[arg(long)]
    budget_per_second: Option<f64>,
    /// Concurrent InvokeCommand requests per app (default: unlimited).
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// Fault injection at start, as the JSON POST /_sim/faults takes
    /// (for example '{"error_503_rate":0.1}').
    #[arg(long, value_name = "JSON")]
    faults: Option<String>,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let state_dir = match args.state_dir {
        Some(dir) => dir,
        None => crate::tenant::private_state_dir()?,
    };
    let tenant = match args.tenant_file {
        Some(path) => TenantSource::File(path),
        None => TenantSource::Generate {
            mailboxes: args.mailboxes,
            seed: args.seed,
        },
    };
    let mut throttle = ThrottleConfig::default();
    if let Some(budget) = args.budget_per_second {
        throttle.budget_per_second = budget;
        throttle.burst = budget;
    }
    if let Some(max) = args.max_concurrency {
        throttle.max_concurrency = max;
    }
    let faults: FaultConfig = match &args.faults {
        Some(json) => {
            serde_json::from_str(json).context("--faults is not a fault configuration")?
        }
        None => FaultConfig::default(),
    };
    // Listen before anyone can learn the address: a SIGTERM sent the moment
    // the info line appears must stop the simulator cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let sim = exorun_sim::start(SimConfig {
        port: args.port,
        tenant,
        state_dir,
        extra_app_certificates: args.app_certificates,
        token_lifetime: Duration::from_secs(args.token_lifetime_seconds),
        throttle,
        faults,
        seed: args.seed,
        ..SimConfig::default()
    })
    .await
    .context("starting the simulated tenant")?;
    let info = serde_json::to_string(&sim.info)?;
    if let Some(path) = &args.info {
        std::fs::write(path, format!("{info}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{info}");
    eprintln!(
        "exorun: simulated tenant {} serving on {} until interrupted (Ctrl-C)",
        sim.info.initial_domain, sim.info.login_base
    );
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
