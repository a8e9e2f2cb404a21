//! A report and a small write plugin against one tenant with a budget of
//! 500 calls a second, in one process (as `exorun serve` will run them):
//! does the write get its share while the report keeps the budget full?
//!
//! The report is `plugins/forwarding-audit` over 2,000 mailboxes: one
//! `Get-InboxRule` per mailbox through `invoke-many`, about 2,000 calls
//! that keep sixteen waiting for slots. While it runs, the write plugin
//! (`tests/plugins/scope-probe` without its scope) runs again and again,
//! five `Set-Mailbox` calls each.
//!
//! It prints the latency of the write calls (p50 and p99):
//! - with the tenant to themselves;
//! - beside the report, slots in arrival order (`fair_sharing = false`);
//! - beside the report, in fair order (weights 1 and 1);
//! - beside the report, in fair order with the write at weight 4.
//!
//! For the runs beside the report it also prints the report's calls a
//! second, its failed calls and the tenant's 429s.
//!
//! Then two reports run side by side, with weights 1:1 and 1:4 (both
//! keep calls waiting, which is where weights decide): it prints when each
//! finished.
//!
//! Run with `cargo bench -p exorun-e2e --bench fair_share`.
//! `EXORUN_BENCH_ROUNDS` sets the write runs per setting (default 20).

use std::sync::Arc;
use std::time::{Duration, Instant};

use exorun_cmdlet::{Backend, Call};
use exorun_e2e::{built_plugin, connect_to_sim_with, plugin_copy};
use exorun_exchange::LimiterConfig;
use exorun_policy::{Policy, PolicyFile};
use exorun_sandbox::{Plugin, RunRequest, Sandbox, SandboxConfig};
use exorun_sim::{SimConfig, TenantSource, ThrottleConfig};

const MAILBOXES: usize = 2000;
const BUDGET: f64 = 500.0;
const WRITES: usize = 5;

struct Setting {
    name: &'static str,
    beside_report: bool,
    fair: bool,
    weight: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A tenant of its own (its limiter starts afresh) and a client to it.
fn tenant(
    runtime: &tokio::runtime::Runtime,
    state: &std::path::Path,
    fair: bool,
) -> (exorun_sim::RunningSim, Arc<dyn Backend>) {
    let sim = runtime
        .block_on(exorun_sim::start(SimConfig {
            tenant: TenantSource::Generate {
                mailboxes: MAILBOXES,
                seed: 1,
            },
            state_dir: state.to_path_buf(),
            throttle: ThrottleConfig {
                budget_per_second: BUDGET,
                burst: BUDGET,
                max_concurrency: 1_000_000,
            },
            ..SimConfig::default()
        }))
        .expect("simulated tenant");
    let connection = connect_to_sim_with(&sim.info, |options| {
        options.limiter_config(LimiterConfig {
            fair_sharing: fair,
            ..LimiterConfig::default()
        })
    });
    let backend: Arc<dyn Backend> = Arc::new(connection.client());
    (sim, backend)
}

/// An operator policy giving `plugin` this weight.
fn weight_policy(plugin: &str, weight: u64) -> Policy {
    let text = format!("[plugin.{plugin}.limits]\nweight = {weight}\n");
    let mut policy = Policy::none();
    policy.push(
        PolicyFile::parse(std::path::Path::new("bench.toml"), "bench policy", &text)
            .expect("policy"),
    );
    policy
}

/// Two reports at once with these weights: when each finished.
fn two_reports(
    runtime: &tokio::runtime::Runtime,
    sandbox: &Sandbox,
    report: &Plugin,
    weights: (u64, u64),
) {
    let state = tempfile::tempdir().expect("state dir");
    let (sim, backend) = tenant(runtime, state.path(), true);
    let plugins = [
        report.narrowed(&weight_policy("forwarding-audit", weights.0)),
        report.narrowed(&weight_policy("forwarding-audit", weights.1)),
    ];
    let started = Instant::now();
    let finished: Vec<(Duration, usize, usize)> = runtime.block_on(async {
        let runs: Vec<_> = plugins
            .iter()
            .map(|plugin| {
                let sandbox = sandbox.clone();
                let plugin = plugin.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    let report = sandbox.run(&plugin, RunRequest::new(backend)).await;
                    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
                    (
                        started.elapsed(),
                        report.calls.len(),
                        report.failures().count(),
                    )
                })
            })
            .collect();
        let mut out = Vec::new();
        for run in runs {
            out.push(run.await.expect("report task"));
        }
        out
    });
    println!(
        "two reports, weights {}:{}: weight {} done after {:.2} s, weight {} after {:.2} s ({} + {} calls, {} failed; tenant 429s: {})",
        weights.0,
        weights.1,
        weights.0,
        finished[0].0.as_secs_f64(),
        weights.1,
        finished[1].0.as_secs_f64(),
        finished[0].1,
        finished[1].1,
        finished[0].2 + finished[1].2,
        sim.throttled_requests(),
    );
    runtime.block_on(sim.shutdown());
}

fn main() {
    let rounds = exorun_e2e::bench_rounds(20);
    let runtime = exorun_e2e::bench_runtime();
    let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
    let report_plugin =
        Plugin::load(&sandbox, &built_plugin("plugins/forwarding-audit")).expect("report plugin");
    let copies = tempfile::tempdir().expect("copies");
    let writer_dir = plugin_copy("tests/plugins/scope-probe", copies.path(), |text| {
        text.replace("[scope]\nrecipients = \"Department -eq 'Sales'\"\n", "")
    });
    let writer = Plugin::load(&sandbox, &writer_dir.join("exorun.toml")).expect("write plugin");
    println!(
        "{MAILBOXES} mailboxes, tenant budget {BUDGET} calls/s; the write plugin makes {WRITES} Set-Mailbox calls a run, {rounds} runs per setting"
    );

    for setting in [
        Setting {
            name: "write alone                    ",
            beside_report: false,
            fair: true,
            weight: 1,
        },
        Setting {
            name: "beside the report, arrival order",
            beside_report: true,
            fair: false,
            weight: 1,
        },
        Setting {
            name: "beside the report, fair (1:1)  ",
            beside_report: true,
            fair: true,
            weight: 1,
        },
        Setting {
            name: "beside the report, fair (1:4)  ",
            beside_report: true,
            fair: true,
            weight: 4,
        },
    ] {
        let state = tempfile::tempdir().expect("state dir");
        let (sim, backend) = tenant(&runtime, state.path(), setting.fair);
        let writer = writer.narrowed(&weight_policy("scope-probe", setting.weight));
        let targets: Vec<String> = runtime
            .block_on(backend.invoke(&Call::new("Get-Mailbox").param("ResultSize", "50")))
            .expect("mailboxes")
            .iter()
            .filter_map(|o| {
                let o: serde_json::Value = serde_json::from_str(o).ok()?;
                o["PrimarySmtpAddress"].as_str().map(str::to_owned)
            })
            .take(WRITES)
            .collect();
        let targets = targets.join("\n");

        let (latencies, report) = runtime.block_on(async {
            let report = setting.beside_report.then(|| {
                let sandbox = sandbox.clone();
                let plugin = report_plugin.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let report = sandbox.run(&plugin, RunRequest::new(backend)).await;
                    (report, started.elapsed())
                })
            });
            if report.is_some() {
                // Let the report fill the queue first.
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
            let mut latencies = Vec::new();
            for _ in 0..rounds {
                let request = RunRequest::new(backend.clone())
                    .input("action", "write")
                    .input("targets", &targets);
                let run = sandbox.run(&writer, request).await;
                assert!(run.outcome.is_ok(), "{:?}", run.outcome);
                latencies.extend(run.calls.iter().map(|c| c.elapsed));
            }
            let report = match report {
                Some(task) => Some(task.await.expect("report task")),
                None => None,
            };
            (latencies, report)
        });
        let mut sorted = latencies;
        sorted.sort();
        let mut line = format!(
            "{}: write calls p50 {:6.1} ms, p99 {:6.1} ms",
            setting.name,
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.99)),
        );
        if let Some((report, took)) = report {
            let calls = report.calls.len();
            let failed = report.failures().count();
            line.push_str(&format!(
                "; report {} calls in {:.2} s = {:.0} calls/s, {failed} failed; tenant 429s: {}",
                calls,
                took.as_secs_f64(),
                calls as f64 / took.as_secs_f64(),
                sim.throttled_requests(),
            ));
            assert!(report.outcome.is_ok(), "{:?}", report.outcome);
        }
        println!("{line}");
        runtime.block_on(sim.shutdown());
    }
    two_reports(&runtime, &sandbox, &report_plugin, (1, 1));
    two_reports(&runtime, &sandbox, &report_plugin, (1, 4));
}
