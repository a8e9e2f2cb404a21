//! Which tenant a run talks to. With no connection settings at all, the
//! built-in simulated tenant, said plainly so nobody mistakes simulated
//! results for their own tenant's.

use std::sync::Arc;

use exorun_cmdlet::Backend;
use exorun_sim_tenant::{Caller, GenerateOptions, InProcessBackend, Tenant};

#[derive(clap::Args, Debug)]
pub struct TenantArgs {
    /// Mailboxes in the simulated tenant.
    #[arg(long, default_value_t = 50, help_heading = "Simulated tenant")]
    sim_mailboxes: usize,
    /// Seed of the simulated tenant (same seed, same tenant).
    #[arg(long, default_value_t = 1, help_heading = "Simulated tenant")]
    sim_seed: u64,
}

pub struct Connection {
    pub backend: Arc<dyn Backend>,
    /// The tenant's name for summaries.
    pub tenant: String,
    /// What to tell the operator before the run.
    pub notice: String,
}

pub fn connect(args: &TenantArgs) -> anyhow::Result<Connection> {
    let tenant = Arc::new(Tenant::generate(&GenerateOptions {
        mailboxes: args.sim_mailboxes,
        seed: args.sim_seed,
    }));
    let info = tenant.info();
    let backend = InProcessBackend::new(
        tenant.clone(),
        Caller::exchange_administrator("exorun-simulated-app"),
    );
    Ok(Connection {
        backend: Arc::new(backend),
        tenant: format!("{} (simulated)", info.initial_domain),
        notice: format!(
            "no connection settings given: running against the built-in SIMULATED tenant {} ({} mailboxes, seed {}); these results are not from a real tenant",
            info.initial_domain, args.sim_mailboxes, args.sim_seed
        ),
    })
}
