//! Shared helpers of the end-to-end tests: build plugins from source, and a
//! fake backend that records what reached it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, Object, PageStream};

mod arena;
mod nats;
pub mod publisher;
mod registry;
mod serve_harness;
mod sim_harness;
pub use arena::{Arena, denial_rules};
pub use nats::Nats;
pub use registry::{Registry, RegistrySetup, which};
pub use serve_harness::{PASSWORD, ServeDir, Serving, WorkerProcess};
pub use sim_harness::{SimHarness, run_blocking};

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds the plugin in `rel` (relative to the repository root) from source
/// and returns the path of a manifest that pins the fresh component. The
/// source tree is left untouched: the component and a copy of the manifest
/// go to `target/e2e-plugins/<name>/`.
pub fn built_plugin(rel: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let source = repo_root().join(rel);
    let manifest =
        exorun_policy::Manifest::load(&source).unwrap_or_else(|e| panic!("manifest of {rel}: {e}"));
    let out_dir = repo_root()
        .join("target/e2e-plugins")
        .join(&manifest.plugin.name);
    exorun_build::build_into(&source, &out_dir).unwrap_or_else(|e| panic!("building {rel}: {e}"));
    out_dir.join("exorun.toml")
}

/// A copy of the built plugin in `rel` inside `dir`, its manifest passed
/// through `edit` (benchmarks raise limits that the tests keep low). The
/// component is the same file the tests run.
pub fn plugin_copy(rel: &str, dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let built = built_plugin(rel);
    let manifest = exorun_policy::Manifest::load(&built).expect("built manifest");
    let name = manifest.plugin.name;
    let copy = dir.join(&name);
    std::fs::create_dir_all(&copy).expect("create the plugin copy");
    let component = manifest.plugin.component;
    std::fs::copy(
        &component,
        copy.join(component.file_name().expect("file name")),
    )
    .expect("copy the component");
    let text = std::fs::read_to_string(&built).expect("read the manifest");
    std::fs::write(copy.join("exorun.toml"), edit(text)).expect("write the manifest");
    copy
}

/// A backend that answers every allowed call with one small object per
/// call and remembers every call that reached it.
#[derive(Default)]
pub struct FakeBackend {
    calls: Mutex<Vec<Call>>,
    count: AtomicU64,
    delay: Option<std::time::Duration>,
}

impl FakeBackend {
    pub fn new() -> Self {
        FakeBackend::default()
    }

    /// Answers each call only after `delay`, as a distant tenant would
    /// (benchmarks use it to keep many runs alive at once).
    pub fn with_delay(delay: std::time::Duration) -> Self {
        FakeBackend {
            delay: Some(delay),
            ..FakeBackend::default()
        }
    }

    /// How many calls reached the backend.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A page stream of exactly one page.
pub struct OnePage(pub Option<Vec<Object>>);

#[async_trait]
impl PageStream for OnePage {
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        Ok(self.0.take())
    }
}

#[async_trait]
impl Backend for FakeBackend {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        self.count.fetch_add(1, Ordering::SeqCst);
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call.clone());
        let identity = call
            .get("Identity")
            .and_then(|v| v.as_text())
            .unwrap_or("*")
            .to_owned();
        let object = serde_json::json!({
            "Identity": identity,
            "DisplayName": format!("Fake {identity}"),
        });
        Ok(Box::new(OnePage(Some(vec![object.to_string()]))))
    }
}

static EXORUN_BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes every harness of this process run `binary` (a benchmark's release
/// build) instead of the debug build; `false` when one was chosen already.
pub fn use_exorun_binary(binary: PathBuf) -> bool {
    EXORUN_BINARY.set(binary).is_ok()
}

/// The `exorun` binary, built (or found up to date) by cargo.
pub fn exorun_binary() -> PathBuf {
    EXORUN_BINARY
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "--quiet", "-p", "exorun"])
                .current_dir(repo_root())
                .status()
                .expect("run cargo build -p exorun");
            assert!(status.success(), "cargo build -p exorun failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target.join("debug").join("exorun")
        })
        .clone()
}

/// The release `exorun`, built like the benchmarks themselves.
pub fn release_exorun() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--release", "-p", "exorun"])
        .current_dir(repo_root())
        .status()
        .expect("cargo build --release -p exorun");
    assert!(status.success());
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("release/exorun")
}

/// The result of running the `exorun` binary.
pub struct Exorun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The compile cache every test shares (`target/e2e-cache`), so that a
/// Python or JavaScript component is compiled once per test run rather than
/// once per test process, and no test touches the user's own cache.
pub fn compile_cache() -> exorun_sandbox::CacheConfig {
    exorun_sandbox::CacheConfig {
        dir: repo_root().join("target/e2e-cache"),
        max_bytes: 4 << 30,
    }
}

/// The sandbox configuration of the end-to-end tests: the defaults, with
/// the shared test compile cache.
pub fn sandbox_config() -> exorun_sandbox::SandboxConfig {
    exorun_sandbox::SandboxConfig {
        compile_cache: Some(compile_cache()),
        ..exorun_sandbox::SandboxConfig::default()
    }
}

/// The `exorun` binary as a command, run in the repository root with the
/// user's data folder (audit trail, run outputs) under `target/e2e-data`
/// and the shared test compile cache, so tests never write to the real ones.
pub fn exorun_command() -> std::process::Command {
    let mut command = std::process::Command::new(exorun_binary());
    command
        .current_dir(repo_root())
        .env_remove("EXORUN_LOG")
        .env_remove("EXORUN_AUDIT_LOG")
        .env("XDG_DATA_HOME", repo_root().join("target/e2e-data"))
        .env("XDG_STATE_HOME", repo_root().join("target/e2e-data/state"))
        .env("EXORUN_CACHE_DIR", compile_cache().dir)
        // No operator policy unless a test gives one: the machine's own
        // policy folder must not change what a test sees.
        .env(
            "EXORUN_POLICY_DIR",
            repo_root().join("target/e2e-data/no-policy"),
        );
    command
}

/// Runs `exorun` with `args` in the repository root.
pub fn exorun(args: &[&str]) -> Exorun {
    exorun_in(&repo_root(), args)
}

/// Runs `exorun` with `args` in `dir`.
pub fn exorun_in(dir: &Path, args: &[&str]) -> Exorun {
    let output = exorun_command()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run exorun");
    Exorun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Connects the Exchange client to a running simulated tenant with the
/// ready client certificate it made, as `exorun run` does by default.
pub fn connect_to_sim(info: &exorun_sim::SimInfo) -> exorun_exchange::Connection {
    connect_to_sim_with(info, |options| options)
}

/// As [`connect_to_sim`], the options passed through `configure` first
/// (a benchmark's limiter settings).
pub fn connect_to_sim_with(
    info: &exorun_sim::SimInfo,
    configure: impl FnOnce(exorun_exchange::ConnectOptions) -> exorun_exchange::ConnectOptions,
) -> exorun_exchange::Connection {
    use exorun_exchange::{CertificateSource, ConnectOptions, SecretString};
    let options = ConnectOptions::new(
        info.initial_domain.clone(),
        info.app_id.clone(),
        CertificateSource::Pfx {
            path: info.client_certificate_pfx.clone(),
            password: SecretString::new(info.client_certificate_pfx_password.clone()),
        },
    )
    .authority_url(info.login_base.clone())
    .exchange_url(info.exchange_base.clone())
    .extra_ca_pem(info.ca_pem.clone())
    .system_proxy(false);
    configure(options)
        .connect()
        .expect("connect to the simulated tenant")
}

/// The runtime a benchmark drives its simulated tenant and runs on: two
/// worker threads, as the machines the numbers come from have two cores.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the benchmark's tokio runtime")
}

/// How many times a benchmark repeats its measurement:
/// `EXORUN_BENCH_ROUNDS`, else `default`.
pub fn bench_rounds(default: usize) -> usize {
    std::env::var("EXORUN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// A field of this process's `/proc/self/status` in KiB (`VmRSS:`,
/// `VmHWM:`), 0 where there is none: the benchmarks' memory figures.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
