//! InvokeCommand throughput: `Get-Mailbox -Identity` over HTTPS keep-alive
//! from a client on the same machine, with a few concurrent connections.
//!
//! `cargo bench -p exorun-sim` reports calls per second as criterion's
//! `thrpt` (elements per second, one element = one call).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

#[path = "../tests/common/mod.rs"]
mod common;

/// Concurrent keep-alive connections (each drives calls back to back).
const CONNECTIONS: u64 = 4;

fn get_mailbox_by_identity(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = runtime.block_on(common::start_with(200, |_| {}));
    let token = runtime.block_on(common::token(&sim));
    let body = common::cmdlet("Get-Mailbox", json!({"Identity": "jose.nunez"}));
    // Warm the connections and check that the call works at all.
    let (status, _, answer) = runtime.block_on(common::invoke_json(&sim, &token, &body));
    assert_eq!(status, 200, "{answer}");

    let mut group = c.benchmark_group("invoke_command");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("get_mailbox_identity", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let sim = &sim;
            let token = &token;
            let body = &body;
            async move {
                let started = Instant::now();
                let per_connection = iters.div_ceil(CONNECTIONS);
                let workers = (0..CONNECTIONS).map(|_| async move {
                    for _ in 0..per_connection {
                        let (status, _, _) = common::invoke_json(sim, token, body).await;
                        assert_eq!(status, 200);
                    }
                });
                futures::future::join_all(workers).await;
                started
                    .elapsed()
                    .mul_f64(iters as f64 / (per_connection * CONNECTIONS) as f64)
            }
        });
    });
    group.finish();
}

criterion_group!(benches, get_mailbox_by_identity);
criterion_main!(benches);
