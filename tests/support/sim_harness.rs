//! A simulated tenant in the test process (HTTPS on 127.0.0.1, so its state
//! can be inspected) and the real `exorun` binary pointed at it, with a
//! private folder for the audit trail, plans and outputs.

use std::path::PathBuf;
use std::process::Command;

use exorun_sim::{RunningSim, SimConfig, TenantSource};
use exorun_sim_tenant::{Caller, GenerateOptions, Tenant};

use crate::{Exorun, built_plugin, exorun_command};

pub struct SimHarness {
    pub sim: RunningSim,
    pub dir: tempfile::TempDir,
    /// The built plugin's folder.
    pub plugin: String,
    pub mailboxes: usize,
    pub seed: u64,
}

impl SimHarness {
    /// A tenant of `mailboxes` that refills `per_second` calls a second
    /// into a bucket of the same size, with forwarding-audit built.
    pub async fn throttled_audit(mailboxes: usize, per_second: f64) -> SimHarness {
        Self::start_with("plugins/forwarding-audit", mailboxes, 5, |config| {
            config.throttle = exorun_sim::ThrottleConfig {
                budget_per_second: per_second,
                burst: per_second,
                max_concurrency: 1_000_000,
            };
        })
        .await
    }

    /// Runs the plugin `n` times at once, each with `extra` arguments;
    /// `state(i)` names the state folder of run `i` (`None`: the shared
    /// test one). Returns each run's exit code, stderr and output.
    pub async fn concurrent_audits(
        &self,
        n: usize,
        state: impl Fn(usize) -> Option<PathBuf>,
        extra: &[&str],
    ) -> Vec<(i32, String, String)> {
        let runs: Vec<_> = (0..n)
            .map(|i| {
                let out = self.path(&format!("audit-{i}.csv"));
                let mut command = self.command(&[
                    "run",
                    &self.plugin,
                    "--quiet",
                    "--out",
                    out.to_str().unwrap(),
                ]);
                command.args(extra);
                if let Some(dir) = state(i) {
                    command.env("XDG_STATE_HOME", dir);
                }
                tokio::spawn(async move {
                    let done = run_blocking(command).await;
                    let output = std::fs::read_to_string(&out).unwrap_or_default();
                    (done.code, done.stderr, output)
                })
            })
            .collect();
        let mut results = Vec::new();
        for run in runs {
            results.push(run.await.unwrap());
        }
        results
    }

    /// A generated tenant of `mailboxes` and the plugin in `rel`, built.
    pub async fn start(rel: &str, mailboxes: usize, seed: u64) -> SimHarness {
        Self::start_with(rel, mailboxes, seed, |_| {}).await
    }

    /// As [`Self::start`], the simulator's configuration passed through
    /// `configure` first (throttling, faults).
    pub async fn start_with(
        rel: &str,
        mailboxes: usize,
        seed: u64,
        configure: impl FnOnce(&mut SimConfig),
    ) -> SimHarness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SimConfig {
            tenant: TenantSource::Generate { mailboxes, seed },
            state_dir: dir.path().join("state"),
            ..SimConfig::default()
        };
        configure(&mut config);
        let sim = exorun_sim::start(config).await.unwrap();
        let plugin = built_plugin(rel).parent().unwrap().display().to_string();
        SimHarness {
            sim,
            dir,
            plugin,
            mailboxes,
            seed,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn audit_path(&self) -> PathBuf {
        self.path("audit.jsonl")
    }

    /// The `exorun` command with `args` and the connection flags for the
    /// simulator and `--audit-log`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = exorun_command();
        command.args(args).args(self.connection_args());
        command
    }

    /// The flags that connect `exorun` to this simulator, and `--audit-log`.
    pub fn connection_args(&self) -> Vec<String> {
        let info = &self.sim.info;
        let password = self.path("pfx.password");
        std::fs::write(&password, &info.client_certificate_pfx_password).unwrap();
        let mut args = Vec::new();
        for (flag, value) in [
            ("--organization", info.initial_domain.clone()),
            ("--app-id", info.app_id.clone()),
            (
                "--certificate-file-path",
                info.client_certificate_pfx.display().to_string(),
            ),
            (
                "--certificate-password-file",
                password.display().to_string(),
            ),
            ("--authority", info.login_base.clone()),
            ("--exchange-url", info.exchange_base.clone()),
            ("--ca-file", info.ca_pem.display().to_string()),
            ("--audit-log", self.audit_path().display().to_string()),
        ] {
            args.push(flag.to_owned());
            args.push(value);
        }
        args
    }

    /// A `[profiles.<name>]` section of exorun's config.toml that connects
    /// to this simulator (its certificate password in a file beside it),
    /// for processes that name a profile (`exorun serve`, workers).
    pub fn profile(&self, name: &str) -> String {
        let info = &self.sim.info;
        let password = self.path("pfx.password");
        std::fs::write(&password, &info.client_certificate_pfx_password).unwrap();
        format!(
            "[profiles.{name}]\norganization = \"{}\"\napp-id = \"{}\"\ncertificate-file-path = \"{}\"\ncertificate-password-file = \"{}\"\nauthority = \"{}\"\nexchange-url = \"{}\"\nca-file = \"{}\"\n",
            info.initial_domain,
            info.app_id,
            info.client_certificate_pfx.display(),
            password.display(),
            info.login_base,
            info.exchange_base,
            info.ca_pem.display(),
        )
    }

    /// Runs `exorun <args> <connection flags>` to its end, off the runtime's
    /// threads so the simulator keeps serving.
    pub async fn exorun(&self, args: &[&str]) -> Exorun {
        let command = self.command(args);
        run_blocking(command).await
    }

    /// The audit trail's records.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The tenant as it is after running `calls` on a fresh copy of the
    /// simulator's starting tenant.
    pub fn expected_after(&self, calls: &[exorun_cmdlet::Call]) -> String {
        let tenant = Tenant::generate(&GenerateOptions {
            mailboxes: self.mailboxes,
            seed: self.seed,
        });
        let app_id = &self.sim.info.app_id;
        for call in calls {
            tenant
                .execute(&Caller::exchange_administrator(app_id), call)
                .unwrap_or_else(|e| panic!("{call:?}: {e:?}"));
        }
        tenant.to_json()
    }
}

/// Runs a command to its end on a blocking thread.
pub async fn run_blocking(mut command: Command) -> Exorun {
    tokio::task::spawn_blocking(move || {
        let output = command.output().expect("run exorun");
        Exorun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}
