//! What an object scope costs: `tests/plugins/scope-probe` with its
//! `[scope]` and a copy without it, run in turn against one simulated
//! tenant over HTTPS through the real Exchange client.
//!
//! - **write**: 30 `Set-Mailbox` calls to 30 distinct mailboxes in scope.
//!   Scoped, each target is first resolved with one `Get-Recipient`, so
//!   the cost per write is about one more round trip.
//! - **list**: one `Get-Mailbox -ResultSize Unlimited` of 200 mailboxes.
//!   Scoped, the in-scope set is read once (`Get-Recipient -ResultSize
//!   Unlimited`) and the results are filtered.
//!
//! Run with `cargo bench -p exorun-e2e --bench scope`
//! (`EXORUN_BENCH_ROUNDS` rounds, 15 by default); prints medians.

use std::sync::Arc;
use std::time::{Duration, Instant};

use exorun_cmdlet::{Backend, Call};
use exorun_e2e::{built_plugin, connect_to_sim, plugin_copy};
use exorun_sandbox::{Plugin, RunRequest, Sandbox, SandboxConfig};
use exorun_sim::{SimConfig, TenantSource};

const PLUGIN: &str = "tests/plugins/scope-probe";
const WRITES: usize = 30;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let rounds = exorun_e2e::bench_rounds(15);
    let runtime = exorun_e2e::bench_runtime();
    let state = tempfile::tempdir().expect("state dir");
    let sim = runtime
        .block_on(exorun_sim::start(SimConfig {
            tenant: TenantSource::Generate {
                mailboxes: 200,
                seed: 5,
            },
            state_dir: state.path().to_path_buf(),
            ..SimConfig::default()
        }))
        .expect("simulated tenant");
    let connection = connect_to_sim(&sim.info);
    let backend: Arc<dyn Backend> = Arc::new(connection.client());

    let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
    let scoped = Plugin::load(&sandbox, &built_plugin(PLUGIN)).expect("scoped plugin");
    let copies = tempfile::tempdir().expect("copies");
    let unscoped_dir = plugin_copy(PLUGIN, copies.path(), |text| {
        let without = text.replace("[scope]\nrecipients = \"Department -eq 'Sales'\"\n", "");
        assert_ne!(without, text, "the probe's [scope] moved");
        without
    });
    let unscoped =
        Plugin::load(&sandbox, &unscoped_dir.join("exorun.toml")).expect("unscoped plugin");

    let sales: Vec<String> = runtime
        .block_on(backend.invoke(&Call::new("Get-Mailbox").param("ResultSize", "Unlimited")))
        .expect("mailboxes")
        .iter()
        .filter_map(|o| {
            let o: serde_json::Value = serde_json::from_str(o).ok()?;
            (o["Department"] == "Sales")
                .then(|| o["PrimarySmtpAddress"].as_str().map(str::to_owned))?
        })
        .collect();
    let in_scope = sales.len();
    let targets: Vec<String> = sales.into_iter().cycle().take(WRITES).collect();
    let targets = targets.join("\n");

    let run = |plugin: &Plugin, action: &str| -> Duration {
        let request = RunRequest::new(backend.clone())
            .input("action", action)
            .input("targets", if action == "write" { &targets } else { "" });
        let started = Instant::now();
        let report = runtime.block_on(sandbox.run(plugin, request));
        let elapsed = started.elapsed();
        let output = report.outcome.expect("the probe runs");
        assert!(!output.contains("denied"), "{output}");
        elapsed
    };
    // Compile and warm the token cache.
    run(&scoped, "list");
    run(&unscoped, "list");

    for action in ["write", "list"] {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            without.push(run(&unscoped, action));
            with.push(run(&scoped, action));
        }
        let (with, without) = (median(with), median(without));
        let extra = with.saturating_sub(without);
        let per = match action {
            "write" => format!(
                "; {:.2} ms more per write",
                extra.as_secs_f64() * 1000.0 / WRITES as f64
            ),
            _ => String::new(),
        };
        println!(
            "scope {action}: median run {:.1} ms unscoped, {:.1} ms scoped ({:.2}x){per}  [{rounds} rounds, {in_scope} of 200 mailboxes in scope]",
            without.as_secs_f64() * 1000.0,
            with.as_secs_f64() * 1000.0,
            with.as_secs_f64() / without.as_secs_f64().max(1e-9),
        );
    }
}
