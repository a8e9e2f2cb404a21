//! 1,000 concurrent runs of a Rust plugin, each held open by a backend that
//! answers after 200 ms, and the process's peak resident memory
//! (target: ≤ 500 MB). Run with
//! `cargo bench -p exorun-e2e --bench concurrent_runs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use exorun_e2e::{FakeBackend, built_plugin, status_kib};
use exorun_sandbox::{Plugin, RunRequest, Sandbox, SandboxConfig};

const RUNS: usize = 1000;

fn main() {
    // `cargo bench` passes --bench; this benchmark has no options.
    let runtime = exorun_e2e::bench_runtime();
    let sandbox = Sandbox::new(SandboxConfig {
        max_concurrent_runs: RUNS as u32,
        ..SandboxConfig::default()
    })
    .expect("sandbox");
    let plugin = Plugin::load(&sandbox, &built_plugin("tests/plugins/one-call")).expect("plugin");
    let backend = Arc::new(FakeBackend::with_delay(Duration::from_millis(200)));
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    let ok = runtime.block_on(async {
        let runs: Vec<_> = (0..RUNS)
            .map(|_| {
                let sandbox = sandbox.clone();
                let plugin = plugin.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    sandbox
                        .run(&plugin, RunRequest::new(backend))
                        .await
                        .outcome
                        .is_ok()
                })
            })
            .collect();
        let mut ok = 0;
        for run in runs {
            if run.await.unwrap_or(false) {
                ok += 1;
            }
        }
        ok
    });
    let elapsed = started.elapsed();
    let peak = status_kib("VmHWM:");
    println!(
        "concurrent_runs: {ok}/{RUNS} ok in {:.2} s; pooling allocator: {}; RSS before {:.1} MB, peak {:.1} MB",
        elapsed.as_secs_f64(),
        sandbox.is_pooling(),
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert_eq!(ok, RUNS, "every run must succeed");
    assert!(backend.count() == RUNS as u64);
}
