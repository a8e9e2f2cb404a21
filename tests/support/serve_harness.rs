//! `exorun serve` for tests: a data folder with installed plugins and
//! users, the real binary started on 127.0.0.1 (a port of its choosing),
//! and a JSON client that signs in as any of the users.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{built_plugin, exorun_command};

/// Dashboard passwords of the test users (at least 12 characters).
pub const PASSWORD: &str = "correct horse battery staple";

/// Plugins the service tests install: (source folder, name).
pub const PLUGINS: &[&str] = &[
    "plugins/mailbox-report",
    "tests/plugins/forwarding-cleanup",
    "tests/plugins/ops-probe",
];

/// Users and their roles.
pub const USERS: &[(&str, &str)] = &[
    ("alice", "operator"),
    ("bob", "approver"),
    ("carol", "approver"),
    ("vic", "viewer"),
    ("ada", "admin"),
];

/// Each plugin bundled once per test process.
fn bundles() -> &'static Vec<PathBuf> {
    static BUNDLES: OnceLock<Vec<PathBuf>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let dir = crate::repo_root().join("target/e2e-serve-bundles");
        std::fs::create_dir_all(&dir).unwrap();
        PLUGINS
            .iter()
            .map(|rel| {
                let manifest = built_plugin(rel);
                let name = manifest
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let bundle = dir.join(format!("{name}-{}.tar", std::process::id()));
                let _ = std::fs::remove_file(&bundle);
                let out = exorun_command()
                    .args(["bundle", "--namespace", "contoso", "-o"])
                    .arg(&bundle)
                    .arg(manifest.parent().unwrap())
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                bundle
            })
            .collect()
    })
}

/// A service's folder: serve.toml, data/ (history, audit, plugins), and
/// each user's API token.
pub struct ServeDir {
    pub dir: tempfile::TempDir,
    pub tokens: HashMap<String, String>,
    /// Set for the service and its workers (a profile's config file).
    pub env: Vec<(String, PathBuf)>,
}

impl ServeDir {
    /// A folder with the test plugins installed, the users added and a
    /// serve.toml of one simulated tenant, `contoso`, plus `extra`.
    pub fn new(extra: &str) -> ServeDir {
        Self::with_tenants(extra, "[[tenant]]\nname = \"contoso\"\nsimulated = true\n")
    }

    /// A folder as [`ServeDir::new`] makes it, with `tenants` (TOML) as
    /// its tenants.
    pub fn with_tenants(extra: &str, tenants: &str) -> ServeDir {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for bundle in bundles() {
            let out = exorun_command()
                .args(["install", "--allow-unsigned", "--yes", "--plugins-dir"])
                .arg(data.join("plugins"))
                .arg("--audit-log")
                .arg(data.join("audit.jsonl"))
                .arg(bundle)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let config = format!("listen = \"127.0.0.1:0\"\ndata-dir = \"data\"\n{extra}\n{tenants}");
        std::fs::write(dir.path().join("serve.toml"), config).unwrap();
        std::fs::write(dir.path().join("password"), PASSWORD).unwrap();
        let mut tokens = HashMap::new();
        for (user, role) in USERS {
            let out = exorun_command()
                .current_dir(dir.path())
                .args([
                    "serve",
                    "--config",
                    "serve.toml",
                    "user",
                    "add",
                    user,
                    "--role",
                    role,
                ])
                .args(["--password-file", "password"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
            assert!(token.starts_with("exo_"), "{token}");
            tokens.insert((*user).to_owned(), token);
        }
        ServeDir {
            dir,
            tokens,
            env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn audit_path(&self) -> PathBuf {
        self.path().join("data/audit.jsonl")
    }

    /// The audit trail's records.
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `exorun serve --config serve.toml <args>` in this folder.
    pub fn exorun(&self, args: &[&str]) -> crate::Exorun {
        crate::exorun_in(
            self.path(),
            &[&["serve", "--config", "serve.toml"], args].concat(),
        )
    }

    fn spawn(&self, args: &[&str]) -> (Running, String) {
        let mut command = exorun_command();
        command
            .current_dir(self.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        // Drained as it comes, so a chatty process never blocks on a full pipe.
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut pipe, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        (Running { child, stderr }, line)
    }

    /// Starts `exorun worker --config <config> --name <name>` in this folder
    /// and waits until it takes runs.
    pub fn start_worker(&self, config: &str, name: &str) -> WorkerProcess {
        self.start_worker_with(config, name, &[])
    }

    /// As [`ServeDir::start_worker`], with more flags.
    pub fn start_worker_with(&self, config: &str, name: &str, extra: &[&str]) -> WorkerProcess {
        let (process, line) =
            self.spawn(&[&["worker", "--config", config, "--name", name], extra].concat());
        if !line.starts_with(&format!("exorun worker {name}: taking runs")) {
            std::thread::sleep(Duration::from_millis(200));
            panic!("the worker did not start: {line}{}", process.kill());
        }
        WorkerProcess {
            process,
            name: name.to_owned(),
        }
    }

    /// Starts the service and waits for its address.
    pub fn start(&self) -> Serving {
        self.start_with(&[])
    }

    /// Starts one of several service instances sharing this folder.
    pub fn start_instance(&self, name: &str) -> Serving {
        self.start_with(&["--instance", name])
    }

    fn start_with(&self, extra: &[&str]) -> Serving {
        let (process, line) = self.spawn(&[&["serve", "--config", "serve.toml"], extra].concat());
        let Some(url) = line.trim().strip_prefix("exorun serve: listening on ") else {
            std::thread::sleep(Duration::from_millis(200));
            panic!("the service did not start: {line}{}", process.wait());
        };
        let url = url.to_owned();
        Serving {
            process,
            url,
            tokens: self.tokens.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }
}

/// A running service.
pub struct Serving {
    process: Running,
    pub url: String,
    pub tokens: HashMap<String, String>,
    pub client: reqwest::Client,
}

impl Serving {
    /// A request as `user` (their API token); `None` sends no credentials.
    pub async fn call(
        &self,
        user: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.url));
        if let Some(user) = user {
            request = request.bearer_auth(&self.tokens[user]);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, user: &str, path: &str) -> Value {
        let (status, body) = self.call(Some(user), "GET", path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, user: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(Some(user), "POST", path, Some(body)).await
    }

    /// Starts a run as `user` and returns its id.
    pub async fn start_run(&self, user: &str, plugin: &str, inputs: Value) -> String {
        let (status, body) = self
            .post(
                user,
                "/runs",
                serde_json::json!({"plugin": plugin, "tenant": "contoso", "inputs": inputs}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["run"]["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the run's status is one of `statuses` (60 s at most).
    pub async fn wait_for(&self, id: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let run = self.get("vic", &format!("/runs/{id}")).await;
            let status = run["run"]["status"].as_str().unwrap_or_default().to_owned();
            if statuses.contains(&status.as_str()) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} is still {status}, not {statuses:?}: {run}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits for the process; returns its stderr.
    pub fn terminate(self) -> String {
        self.process.terminate("exorun serve")
    }

    /// SIGKILL, as a machine lost; returns its stderr.
    pub fn kill(self) -> String {
        self.process.kill()
    }

    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// A running `exorun worker`.
pub struct WorkerProcess {
    process: Running,
    pub name: String,
}

impl WorkerProcess {
    /// SIGKILL: the worker dies mid-whatever, as on a lost machine.
    pub fn kill(self) -> String {
        self.process.kill()
    }

    /// SIGTERM, then waits for the process; returns its stderr.
    pub fn terminate(self) -> String {
        self.process.terminate("exorun worker")
    }

    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// A started `exorun` process and its stderr (drained as it comes);
/// killed when dropped.
struct Running {
    child: Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for it to exit on its own; its stderr.
    fn wait(mut self) -> String {
        let _ = self.child.wait();
        self.stderr()
    }

    fn kill(mut self) -> String {
        let _ = self.child.kill();
        self.wait()
    }

    /// SIGTERM; it must then exit well.
    fn terminate(mut self, what: &str) -> String {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr();
        assert!(status.success(), "{what} exited with {status}: {err}");
        err
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
