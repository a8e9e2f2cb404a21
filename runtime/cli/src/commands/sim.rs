//! `exorun sim`: the simulated tenant as a standalone HTTPS server, for
//! pointing real clients (msal, azure-identity, exorun itself) at it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use exorun_sim::{
    AssertionReuse, FaultConfig, SimConfig, TenantSource, ThrottleConfig, TokenLifetime,
};
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
    /// Folder for the CA and client certificate files, kept between starts:
    /// a restart reuses its certificates, so clients that trust its ca.pem
    /// and profiles that name its certificate keep working (default: a new
    /// private folder under the system temp folder, removed on exit).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The app's client id (a GUID). Default: derived from the tenant, the
    /// same on every start.
    #[arg(long, value_name = "GUID")]
    app_id: Option<String>,
    /// Issue access tokens that expire this many seconds after they are
    /// issued (default: as Entra does, 60 to 90 minutes).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    token_lifetime_seconds: Option<u64>,
    /// Refuse a client assertion used a second time (AADSTS50027). Off by
    /// default: Microsoft's client libraries reuse their assertion for
    /// minutes.
    #[arg(long)]
    strict_assertions: bool,
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
    /// Also serve the managed identity endpoints (plain HTTP on a second
    /// loopback port): the info line gives identity_endpoint,
    /// identity_header and imds_base.
    #[arg(long)]
    managed_identity: bool,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    // The default folder holds the app's private key and lives as long as
    // this process; a folder the user named is theirs to keep.
    let (state_dir, _removed_on_exit) = match &args.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating --state-dir {}", dir.display()))?;
            let absolute = std::path::absolute(dir)
                .with_context(|| format!("resolving --state-dir {}", dir.display()))?;
            (absolute, None)
        }
        None => {
            let dir = crate::tenant::private_state_dir()?;
            (dir.clone(), Some(RemovedOnExit(dir)))
        }
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
        token_lifetime: match args.token_lifetime_seconds {
            Some(seconds) => TokenLifetime::Fixed(Duration::from_secs(seconds)),
            None => TokenLifetime::AsEntra,
        },
        assertion_reuse: if args.strict_assertions {
            AssertionReuse::Refused
        } else {
            AssertionReuse::AllowedWhileValid
        },
        app_id: args.app_id,
        throttle,
        faults,
        seed: args.seed,
        managed_identity: args.managed_identity,
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

/// Removes the simulator's private state folder when `exorun sim` ends,
/// by Ctrl-C, SIGTERM or an error: it holds the app's private key.
struct RemovedOnExit(PathBuf);

impl Drop for RemovedOnExit {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "exorun: could not remove the simulator's state folder {}: {error}",
                self.0.display()
            );
        }
    }
}
