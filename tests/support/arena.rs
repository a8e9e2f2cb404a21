//! The harness of the hostile-plugin tests, the same for every plugin
//! language: each attack runs while a well-behaved plugin runs beside it on
//! the same sandbox, and the sandbox must serve another run afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use exorun_sandbox::{Decision, Plugin, RunReport, RunRequest, Sandbox, SandboxConfig};

use crate::{FakeBackend, built_plugin, sandbox_config};

/// A sandbox with one hostile plugin (input `attack`) and one bystander
/// (`tests/plugins/one-call`) loaded.
pub struct Arena {
    sandbox: Sandbox,
    manifest: PathBuf,
    hostile: Plugin,
    bystander: Plugin,
}

impl Arena {
    /// Builds the hostile plugin in `rel` from source and loads both.
    pub fn new(rel: &str) -> Arena {
        let sandbox = Sandbox::new(SandboxConfig {
            max_concurrent_runs: 64,
            ..sandbox_config()
        })
        .expect("sandbox");
        let manifest = built_plugin(rel);
        let hostile =
            Plugin::load(&sandbox, &manifest).unwrap_or_else(|e| panic!("load {rel}: {e}"));
        let bystander =
            Plugin::load(&sandbox, &built_plugin("tests/plugins/one-call")).expect("load one-call");
        Arena {
            sandbox,
            manifest,
            hostile,
            bystander,
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub fn hostile(&self) -> &Plugin {
        &self.hostile
    }

    /// The built hostile plugin's manifest, with its component beside it.
    pub fn manifest(&self) -> &Path {
        &self.manifest
    }

    pub async fn attack(&self, name: &str) -> (RunReport, Arc<FakeBackend>) {
        self.attack_with(name, &[]).await
    }

    /// Runs attack `name` (with extra inputs) beside the bystander; asserts
    /// the bystander's run and a run after the attack both succeed.
    pub async fn attack_with(
        &self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> (RunReport, Arc<FakeBackend>) {
        let backend = Arc::new(FakeBackend::new());
        let mut request = RunRequest::new(backend.clone()).input("attack", name);
        for (k, v) in extra {
            request = request.input(k, v);
        }
        let (report, bystander_report) = tokio::join!(
            self.sandbox.run(&self.hostile, request),
            self.sandbox.run(
                &self.bystander,
                RunRequest::new(Arc::new(FakeBackend::new()))
            )
        );
        assert_eq!(
            bystander_report
                .outcome
                .as_deref()
                .map(|o| o.contains("Fake ann@contoso.com")),
            Ok(true),
            "a well-behaved run beside the '{name}' attack must succeed"
        );
        let after = self
            .sandbox
            .run(
                &self.bystander,
                RunRequest::new(Arc::new(FakeBackend::new())),
            )
            .await;
        assert!(
            after.outcome.is_ok(),
            "run after '{name}': {:?}",
            after.outcome
        );
        (report, backend)
    }
}

/// The rules behind a run's denials, in order.
pub fn denial_rules(report: &RunReport) -> Vec<String> {
    report
        .denials()
        .map(|c| match &c.decision {
            Decision::Denied { rule, .. } => rule.clone(),
            Decision::Allowed => unreachable!("denials() yields denied calls only"),
        })
        .collect()
}
