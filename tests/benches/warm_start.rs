//! Start-up per plugin language, to the first cmdlet call (run with
//! `cargo bench -p exorun-e2e --bench warm_start`):
//! - cold: a fresh compile cache, so loading compiles the component;
//! - warm: the compiled component comes from the cache (targets: median
//!   ≤ 5 ms for Rust, ≤ 50 ms for Python and JavaScript), measured in
//!   process from "load this plugin" to the moment its first call reaches
//!   the backend: reading and checking the cache entry, mapping the code,
//!   linking, instantiating and the guest's own start-up;
//! - `exorun run` wall time of the whole process with a warm cache
//!   (target ≤ 300 ms for Python), against the built-in simulated tenant.
//!
//! Each plugin makes the same single Get-Mailbox call, so the languages
//! differ only in what their runtime costs.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, PageStream};
use exorun_e2e::{FakeBackend, built_plugin, release_exorun};
use exorun_sandbox::{CacheConfig, CacheOutcome, Plugin, RunRequest, Sandbox, SandboxConfig};

const PLUGINS: [(&str, &str); 3] = [
    ("Rust", "tests/plugins/one-call"),
    ("Python", "tests/plugins/one-call-py"),
    ("JavaScript", "tests/plugins/one-call-js"),
];
const WARM_RUNS: usize = 21;
const WALL_RUNS: usize = 11;

/// Notes when the first call arrives, then answers as the fake backend.
struct FirstCall {
    at: Mutex<Option<Instant>>,
    inner: FakeBackend,
}

#[async_trait]
impl Backend for FirstCall {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        self.at.lock().unwrap().get_or_insert_with(Instant::now);
        self.inner.open_pages(call).await
    }
}

fn sandbox(cache: &Path) -> Sandbox {
    Sandbox::new(SandboxConfig {
        compile_cache: Some(CacheConfig {
            dir: cache.to_path_buf(),
            max_bytes: 8 << 30,
        }),
        ..SandboxConfig::default()
    })
    .expect("sandbox")
}

/// Load + run; the time from the start of loading to the first call.
async fn start_to_first_call(sandbox: &Sandbox, manifest: &Path) -> (Duration, CacheOutcome) {
    let backend = Arc::new(FirstCall {
        at: Mutex::new(None),
        inner: FakeBackend::new(),
    });
    let started = Instant::now();
    let plugin = Plugin::load(sandbox, manifest).expect("load");
    let report = sandbox.run(&plugin, RunRequest::new(backend.clone())).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    let first = backend
        .at
        .lock()
        .unwrap()
        .expect("the plugin made its call");
    (first - started, plugin.cache_outcome().clone())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects languages.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = exorun_e2e::bench_runtime();
    let caches = tempfile::tempdir().expect("cache dir");
    let exorun = release_exorun();
    println!(
        "| language | component | cold start (compile) | warm start, median of {WARM_RUNS} | exorun run wall, median of {WALL_RUNS} |"
    );
    println!("|---|---|---|---|---|");
    for (language, dir) in PLUGINS {
        if !filter.is_empty() && !filter.iter().any(|f| language.eq_ignore_ascii_case(f)) {
            continue;
        }
        let manifest = built_plugin(dir);
        let component = manifest.with_file_name(
            exorun_policy::Manifest::load(&manifest)
                .expect("manifest")
                .plugin
                .component
                .file_name()
                .expect("component name"),
        );
        let size = std::fs::metadata(&component).expect("component").len();
        let cache = caches.path().join(language);
        let (cold, outcome) = runtime.block_on(start_to_first_call(&sandbox(&cache), &manifest));
        assert_eq!(outcome, CacheOutcome::Miss);

        // A new sandbox (as a new process would have), warm cache.
        let warm_sandbox = sandbox(&cache);
        let warm: Vec<Duration> = (0..WARM_RUNS)
            .map(|_| {
                let (d, outcome) = runtime.block_on(start_to_first_call(&warm_sandbox, &manifest));
                assert_eq!(outcome, CacheOutcome::Hit);
                d
            })
            .collect();

        let wall: Vec<Duration> = (0..WALL_RUNS)
            .map(|_| {
                let started = Instant::now();
                let output = std::process::Command::new(&exorun)
                    .args(["run", "--quiet"])
                    .arg(&manifest)
                    .args(["--input", "identity=admin@contoso.com"])
                    .env("EXORUN_CACHE_DIR", &cache)
                    .env_remove("EXORUN_LOG")
                    .output()
                    .expect("exorun run");
                let elapsed = started.elapsed();
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                elapsed
            })
            .collect();
        println!(
            "| {language} | {:.1} MB | {} | {} | {} |",
            size as f64 / 1e6,
            ms(cold),
            ms(median(warm)),
            ms(median(wall)),
        );
    }
}
