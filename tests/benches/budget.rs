//! Many calls against a tenant's throttling budget: the forwarding audit
//! over 5,000 mailboxes (5,000 Get-InboxRule calls through invoke-many, plus
//! Get-AcceptedDomain and five Get-Mailbox pages) against the simulated
//! tenant with a budget of 500 calls/s and at most 8 concurrent calls, over
//! HTTPS through the Exchange client and its adaptive tenant limiter.
//! Target: within 10 % of the 10 s the budget allows, with no failed call.
//! Run with `cargo bench -p exorun-e2e --bench budget`.

use std::sync::Arc;
use std::time::Instant;

use exorun_e2e::{built_plugin, connect_to_sim};
use exorun_sandbox::{Plugin, RunRequest, Sandbox, SandboxConfig};
use exorun_sim::{SimConfig, TenantSource, ThrottleConfig};

const MAILBOXES: usize = 5000;
const BUDGET: f64 = 500.0;

fn main() {
    let runtime = exorun_e2e::bench_runtime();
    runtime.block_on(async {
        let state = tempfile::tempdir().expect("state dir");
        let sim = exorun_sim::start(SimConfig {
            tenant: TenantSource::Generate { mailboxes: MAILBOXES, seed: 3 },
            state_dir: state.path().to_path_buf(),
            throttle: ThrottleConfig {
                budget_per_second: BUDGET,
                // A burst of one concurrency's worth: the budget, not a
                // head start, decides the run time.
                burst: 8.0,
                max_concurrency: 8,
            },
            ..SimConfig::default()
        })
        .await
        .expect("simulated tenant");
        let connection = connect_to_sim(&sim.info);
        let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
        let plugin =
            Plugin::load(&sandbox, &built_plugin("plugins/forwarding-audit")).expect("plugin");
        let started = Instant::now();
        let report = sandbox
            .run(&plugin, RunRequest::new(Arc::new(connection.client())))
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        let failed = report.calls.iter().filter(|c| c.outcome.is_err()).count();
        let requests = sim.invoke_requests();
        // Each cmdlet call needs at least one request within the budget, so
        // this is a lower bound (extra page requests only make it higher).
        let ideal = report.calls.len() as f64 / BUDGET;
        println!(
            "budget: {} calls ({requests} InvokeCommand requests, {failed} failed, outcome {}) in {elapsed:.2} s; the budget allows {ideal:.2} s; ratio {:.3}",
            report.calls.len(),
            report.outcome.as_ref().map_or_else(|e| e.kind(), |_| "ok"),
            elapsed / ideal
        );
        assert!(report.outcome.is_ok(), "{:?}", report.outcome);
        assert_eq!(failed, 0);
        sim.shutdown().await;
    });
}
