//! What the audit trail costs a run: the same run of 10,000 cmdlet calls
//! (the ops-probe plugin, one Get-Mailbox per call) with and without the
//! audit observer, interleaved with an A/A control, medians of several
//! rounds. Target: the audit adds at most 5 % to the run time.
//!
//! Two backends:
//! * the simulated tenant over HTTPS through the Exchange client, as
//!   `exorun run` uses by default (the realistic case);
//! * an in-process fake that answers at once (the worst case: nothing but
//!   the sandbox and the audit).
//!
//! Each run is measured twice: wall time, and the CPU time the whole
//! process spent (run, audit writer and, in process, the simulated tenant).
//! On a noisy two-core machine the CPU time is the steadier measure of the
//! work the audit adds; the wall time says what an operator waits.
//!
//! The audit observer appends each call record with `Durability::Flush`
//! and fsyncs at run start and end (see `exorun_sandbox::audit`).
//! Run with `cargo bench -p exorun-e2e --bench audit_overhead`; without
//! `--bench` (as `cargo test --all-targets` runs it) it does a quick pass.

use std::sync::Arc;
use std::time::{Duration, Instant};

use exorun_audit::{PluginRef, RunInfo};
use exorun_cmdlet::Backend;
use exorun_e2e::{FakeBackend, built_plugin, connect_to_sim};
use exorun_sandbox::{AuditObserver, Plugin, RunRequest, Sandbox, SandboxConfig};
use exorun_sim::{SimConfig, TenantSource};

/// CPU time this process has used so far, all threads.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Wall and CPU time of one run.
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn one_run(
    sandbox: &Sandbox,
    plugin: &Plugin,
    backend: Arc<dyn Backend>,
    calls: u64,
    audit: Option<&std::path::Path>,
    outputs: &std::path::Path,
) -> Took {
    let mut request = RunRequest::new(backend)
        .input("calls", &calls.to_string())
        .outputs_dir(outputs.join(uuid_like()));
    let started = Instant::now();
    let cpu_started = process_cpu();
    let observer = audit.map(|path| {
        let info = RunInfo::new(
            PluginRef {
                name: plugin.manifest().plugin.name.clone(),
                version: plugin.manifest().plugin.version.to_string(),
                sha256: plugin.sha256().to_owned(),
            },
            "contoso.onmicrosoft.com",
            "app",
        );
        Arc::new(AuditObserver::start(path, info, plugin.manifest().capabilities()).expect("audit"))
    });
    if let Some(observer) = &observer {
        request = request.observer(observer.clone());
    }
    let report = sandbox.run(plugin, request).await;
    if let Some(observer) = &observer {
        let ending = Instant::now();
        observer.finish(&report, None, None).expect("audit end");
        FSYNC_END.lock().unwrap().push(ending.elapsed());
        // The writer thread is joined when the observer drops: read its
        // CPU time while it is still there.
        if let Some(cpu) = writer_thread_cpu() {
            WRITER_CPU.lock().unwrap().push(cpu);
        }
    }
    let took = Took {
        wall: started.elapsed(),
        cpu: process_cpu().saturating_sub(cpu_started),
    };
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(report.calls.len() as u64, calls);
    took
}

/// How long each run's end record (flush of the last batch, fsync) took.
static FSYNC_END: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());

/// The CPU time of each run's audit writer thread.
static WRITER_CPU: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());

/// The CPU time the audit writer thread (`exorun-audit`) has used, from
/// the scheduler's own nanosecond count (`/proc/self/task/<tid>/schedstat`):
/// the audit's work measured directly rather than as the difference of
/// two noisy run times. Linux only; `None` elsewhere.
fn writer_thread_cpu() -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = None;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != "exorun-audit" {
            continue;
        }
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let nanos: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
        *total.get_or_insert(Duration::ZERO) += Duration::from_nanos(nanos);
    }
    total
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("run-{}", N.fetch_add(1, Ordering::Relaxed))
}

async fn compare(
    label: &str,
    sandbox: &Sandbox,
    plugin: &Plugin,
    backend: Arc<dyn Backend>,
    calls: u64,
    rounds: usize,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("audit.jsonl");
    // Warm-up: compile caches, connections, token.
    one_run(
        sandbox,
        plugin,
        backend.clone(),
        calls.min(500),
        Some(&log),
        dir.path(),
    )
    .await;
    // Each round runs three: without audit, with audit, and without audit
    // again (the A/A control: how far two identical runs differ on this
    // machine, the floor under which no overhead can be told from noise).
    // Their order rotates round by round, so that whatever a run pays for
    // the one before it (its garbage, its dirty pages) falls on all alike.
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut control = Vec::new();
    for round in 0..rounds {
        for slot in 0..3 {
            let which = (slot + round) % 3;
            let log = (which == 1).then_some(log.as_path());
            let took = one_run(sandbox, plugin, backend.clone(), calls, log, dir.path()).await;
            match which {
                0 => without.push(took),
                1 => with.push(took),
                _ => control.push(took),
            }
        }
    }
    report(
        label,
        "wall time",
        calls,
        rounds,
        &without,
        &with,
        &control,
        |t| t.wall,
    );
    report(
        label,
        "CPU time",
        calls,
        rounds,
        &without,
        &with,
        &control,
        |t| t.cpu,
    );
    let ends = std::mem::take(&mut *FSYNC_END.lock().unwrap());
    if !ends.is_empty() {
        println!(
            "  run-end record (last batch + fsync): median {:.1} ms",
            median(ends).as_secs_f64() * 1e3
        );
    }
    let writer = std::mem::take(&mut *WRITER_CPU.lock().unwrap());
    if !writer.is_empty() {
        let cpu_without = median(without.iter().map(|t| t.cpu).collect());
        let wall_without = median(without.iter().map(|t| t.wall).collect());
        let writer = median(writer);
        println!(
            "  audit writer thread CPU: median {:.1} ms per run ({:.2} µs per record) = {:.1} % of a run's CPU time, {:.1} % of its wall time (without audit, medians)",
            writer.as_secs_f64() * 1e3,
            writer.as_secs_f64() * 1e6 / calls as f64,
            writer.as_secs_f64() / cpu_without.as_secs_f64() * 100.0,
            writer.as_secs_f64() / wall_without.as_secs_f64() * 100.0,
        );
    }
    let records = exorun_audit::verify(&log)
        .expect("the log verifies")
        .records;
    println!("  audit log: {records} records, verified");
}

/// Prints one measure of a comparison: the medians, the overhead as the
/// ratio of the medians and as the median of per-round ratios (with
/// quartiles), and the same for the A/A control.
#[allow(clippy::too_many_arguments)]
fn report(
    label: &str,
    measure: &str,
    calls: u64,
    rounds: usize,
    without: &[Took],
    with: &[Took],
    control: &[Took],
    of: impl Fn(&Took) -> Duration,
) {
    let values = |runs: &[Took]| runs.iter().map(&of).collect::<Vec<_>>();
    let (without, with, control) = (values(without), values(with), values(control));
    let (a, b, c) = (
        median(without.clone()),
        median(with.clone()),
        median(control.clone()),
    );
    // The runs of one round saw the same machine load.
    let paired = |other: &[Duration]| {
        let mut ratios: Vec<f64> = without
            .iter()
            .zip(other)
            .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64() - 1.0)
            .collect();
        ratios.sort_by(f64::total_cmp);
        let quartile = |q: usize| ratios[(ratios.len() - 1) * q / 4] * 100.0;
        (quartile(2), quartile(1), quartile(3))
    };
    let ratio = |x: Duration| (x.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0;
    let (audit, audit_low, audit_high) = paired(&with);
    let (noise, noise_low, noise_high) = paired(&control);
    println!(
        "{label}, {measure}: {calls} calls, {rounds} rounds: without audit {:.3} s, with audit {:.3} s, control {:.3} s (medians)",
        a.as_secs_f64(),
        b.as_secs_f64(),
        c.as_secs_f64(),
    );
    println!(
        "  audit overhead: {:+.1} % by the medians ({:.1} µs per call record); median of paired ratios {audit:+.1} % (quartiles {audit_low:+.1} % .. {audit_high:+.1} %)",
        ratio(b),
        (b.as_secs_f64() - a.as_secs_f64()) * 1e6 / calls as f64,
    );
    println!(
        "  A/A control:    {:+.1} % by the medians; median of paired ratios {noise:+.1} % (quartiles {noise_low:+.1} % .. {noise_high:+.1} %)",
        ratio(c),
    );
    let show = |runs: &[Duration]| {
        runs.iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect::<Vec<_>>()
    };
    println!(
        "  without: {:?}\n  with:    {:?}\n  control: {:?}",
        show(&without),
        show(&with),
        show(&control)
    );
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    // EXORUN_BENCH_ROUNDS=N for a quicker look (the writer thread's CPU
    // needs few rounds; the run-time comparison needs many).
    let rounds = exorun_e2e::bench_rounds(21);
    let (calls, rounds) = if quick { (200, 1) } else { (10_000, rounds) };
    let runtime = exorun_e2e::bench_runtime();
    runtime.block_on(async {
        let state = tempfile::tempdir().expect("state dir");
        let sim = exorun_sim::start(SimConfig {
            tenant: TenantSource::Generate {
                mailboxes: 50,
                seed: 1,
            },
            state_dir: state.path().to_path_buf(),
            ..SimConfig::default()
        })
        .await
        .expect("simulated tenant");
        let connection = connect_to_sim(&sim.info);
        let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
        let plugin =
            Plugin::load(&sandbox, &built_plugin("tests/plugins/ops-probe")).expect("plugin");
        compare(
            "simulated tenant over HTTPS",
            &sandbox,
            &plugin,
            Arc::new(connection.client()),
            calls,
            rounds,
        )
        .await;
        // EXORUN_BENCH_HTTPS_ONLY=1 skips the fake-backend case.
        if std::env::var_os("EXORUN_BENCH_HTTPS_ONLY").is_none() {
            compare(
                "in-process fake backend (worst case)",
                &sandbox,
                &plugin,
                Arc::new(FakeBackend::new()),
                calls,
                rounds,
            )
            .await;
        }
        sim.shutdown().await;
    });
}
