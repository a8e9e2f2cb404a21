//! Sandbox benchmarks (run with `cargo bench -p exorun-e2e --bench sandbox`):
//! - warm instantiate + run of a Rust plugin making one cmdlet call to the
//!   fake backend (target: median ≤ 100 µs);
//! - for comparison, the same through the full path of `Sandbox::run`
//!   including input resolution and the report.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use exorun_e2e::{FakeBackend, built_plugin};
use exorun_sandbox::{Plugin, RunRequest, Sandbox, SandboxConfig};

fn bench(c: &mut Criterion) {
    let runtime = exorun_e2e::bench_runtime();
    let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
    let plugin = Plugin::load(&sandbox, &built_plugin("tests/plugins/one-call")).expect("plugin");
    let backend = Arc::new(FakeBackend::new());
    eprintln!("pooling allocator: {}", sandbox.is_pooling());

    c.bench_function("sandbox/warm_run_one_call_rust", |b| {
        b.to_async(&runtime).iter(|| {
            let sandbox = sandbox.clone();
            let plugin = plugin.clone();
            let backend = backend.clone();
            async move {
                let report = sandbox.run(&plugin, RunRequest::new(backend)).await;
                assert!(report.outcome.is_ok());
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
