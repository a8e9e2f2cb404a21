//! What the durable intent record adds to each write call: the time from
//! "this write is admitted" to "its intent is fsynced in the audit trail",
//! measured around `AuditObserver::before_write` for every write of a run
//! (tests/plugins/attacker, attack `writes`, an in-process backend that
//! answers at once), median and p99, beside the same run's wall time with
//! and without the audit trail.
//!
//! Run with `cargo bench -p exorun-e2e --bench write_intent`; without
//! `--bench` (as `cargo test --all-targets` runs it) it does a quick pass.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exorun_audit::{PluginRef, RunInfo};
use exorun_cmdlet::Call;
use exorun_e2e::{FakeBackend, plugin_copy};
use exorun_sandbox::{
    AuditObserver, CallRecord, Observer, Plugin, RunRequest, Sandbox, SandboxConfig,
};

/// The audit observer, with each `before_write` timed.
struct Timed {
    audit: Arc<AuditObserver>,
    samples: Mutex<Vec<Duration>>,
}

impl Observer for Timed {
    fn call(&self, record: &CallRecord) {
        self.audit.call(record)
    }
    fn blocked(&self) -> Option<String> {
        self.audit.blocked()
    }
    fn before_write(&self, calls: &[&Call]) -> Result<(), String> {
        let started = Instant::now();
        let result = self.audit.before_write(calls);
        self.samples.lock().unwrap().push(started.elapsed());
        result
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let writes = if quick { 20 } else { 2000 };
    let runtime = exorun_e2e::bench_runtime();
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
        // The attacker, with room for the writes ([limits] max-calls is
        // 150 in the test copy).
        let copy = plugin_copy("tests/plugins/attacker", dir.path(), |m| {
            m.replace("max-calls = 150", "max-calls = 10000")
        });
        let plugin = Plugin::load(&sandbox, &copy).expect("plugin");
        let request = |observer: Option<Arc<dyn Observer>>, n: usize| {
            let mut request = RunRequest::new(Arc::new(FakeBackend::new()))
                .input("attack", "writes")
                .input("count", &n.to_string())
                .outputs_dir(dir.path().join(format!("out-{n}-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))));
            request.observer = observer;
            request
        };
        let started = Instant::now();
        let report = sandbox.run(&plugin, request(None, writes)).await;
        assert!(report.outcome.is_ok(), "{:?}", report.outcome);
        let without = started.elapsed();

        let info = RunInfo::new(
            PluginRef {
                name: "attacker".into(),
                version: "0.1.0".into(),
                sha256: plugin.sha256().to_owned(),
            },
            "contoso.onmicrosoft.com",
            "app",
        );
        let log = dir.path().join("audit.jsonl");
        let audit = Arc::new(
            AuditObserver::start(&log, info, plugin.manifest().capabilities()).expect("audit"),
        );
        let timed = Arc::new(Timed {
            audit: audit.clone(),
            samples: Mutex::new(Vec::new()),
        });
        let started = Instant::now();
        let report = sandbox
            .run(&plugin, request(Some(timed.clone()), writes))
            .await;
        let with = started.elapsed();
        assert!(report.outcome.is_ok(), "{:?}", report.outcome);
        audit.finish(&report, None, None).expect("audit end");
        let mut samples = timed.samples.lock().unwrap().clone();
        samples.sort();
        println!(
            "write_intent: {} writes, durable intent per write: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            samples.len(),
            percentile(&samples, 0.5).as_secs_f64() * 1e3,
            percentile(&samples, 0.99).as_secs_f64() * 1e3,
            samples.last().unwrap().as_secs_f64() * 1e3,
        );
        println!(
            "write_intent: run of {writes} writes against an instant backend: {:.3} s without audit, {:.3} s with ({:.3} ms per write)",
            without.as_secs_f64(),
            with.as_secs_f64(),
            (with.as_secs_f64() - without.as_secs_f64()) * 1e3 / writes as f64
        );
    });
}
