//! Throttling is the normal state of a busy tenant: it slows runs down and
//! never fails them. Several `exorun run` processes against one throttled
//! simulated tenant pace together through the limiter state they share in
//! the user's state folder; a storm of 429s with millisecond `Retry-After`s
//! is waited out rather than spending a count of attempts; and every call a
//! plugin makes knows its run's deadline, which bounds those waits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, PageStream, run_deadline};
use exorun_e2e::{SimHarness, built_plugin};
use exorun_sandbox::{Plugin, RunRequest, Sandbox};
use exorun_sim_tenant::{Caller, GenerateOptions, InProcessBackend, Tenant};

/// Records the run deadline each call sees.
struct DeadlineRecorder {
    inner: InProcessBackend,
    seen: Mutex<Vec<(String, Option<Instant>)>>,
}

#[async_trait]
impl Backend for DeadlineRecorder {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        self.seen
            .lock()
            .unwrap()
            .push((call.cmdlet.clone(), run_deadline()));
        self.inner.open_pages(call).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_a_run_sees_the_runs_deadline() {
    // forwarding-audit makes single calls and invoke-many batches; its
    // manifest gives the run 600 seconds.
    let tenant = Arc::new(Tenant::generate(&GenerateOptions {
        mailboxes: 60,
        seed: 3,
    }));
    let backend = Arc::new(DeadlineRecorder {
        inner: InProcessBackend::new(
            tenant,
            Caller::exchange_administrator("11111111-2222-3333-4444-555555555555"),
        ),
        seen: Mutex::new(Vec::new()),
    });
    let sandbox = Sandbox::new(exorun_e2e::sandbox_config()).unwrap();
    let plugin = Plugin::load(&sandbox, &built_plugin("plugins/forwarding-audit")).unwrap();
    let started = Instant::now();
    let report = sandbox.run(&plugin, RunRequest::new(backend.clone())).await;
    report.outcome.expect("the audit runs");
    let seen = backend.seen.lock().unwrap();
    // Get-AcceptedDomain, Get-Mailbox, then Get-InboxRule per mailbox.
    assert_eq!(seen.len(), 62);
    assert_eq!(
        seen.iter().filter(|(c, _)| c == "Get-InboxRule").count(),
        60
    );
    let expected = started + Duration::from_secs(600);
    for (cmdlet, deadline) in seen.iter() {
        let deadline = deadline.unwrap_or_else(|| panic!("{cmdlet} saw no run deadline"));
        // The run started a moment after `started`.
        assert!(
            deadline >= expected && deadline - expected < Duration::from_secs(30),
            "{cmdlet}: the deadline is not the run's"
        );
    }
    // Outside a run, a call has none.
    assert_eq!(run_deadline(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_one_budget_and_none_fails() {
    // Three runs of 302 calls each against 150 calls a second: each alone
    // would spend the whole budget.
    let h = SimHarness::throttled_audit(300, 150.0).await;
    let results = h.concurrent_audits(3, |_| None, &[]).await;
    for (code, stderr, _) in &results {
        assert_eq!(*code, 0, "{stderr}");
    }
    assert_eq!(results[0].2, results[1].2);
    assert_eq!(results[1].2, results[2].2);
    assert!(
        results[0]
            .2
            .starts_with("Mailbox,Source,Rule,Target,External,Enabled\n")
    );
    // Every call was answered in the end: the runs' calls, and any 429s.
    let answered = h.sim.invoke_requests() - h.sim.throttled_requests();
    assert_eq!(answered, 3 * 302);

    // The shared state is one small file per tenant and app, private to
    // the user.
    use std::os::unix::fs::PermissionsExt;
    let folder = exorun_e2e::repo_root().join("target/e2e-data/state/exorun/pace");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&folder), 0o700);
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(!files.is_empty());
    for file in files {
        assert_eq!(file.extension().unwrap(), "pace");
        assert_eq!(mode(&file), 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_share_nothing_still_all_finish() {
    // Separate state folders: each run paces alone and learns of the
    // others only through the tenant's 429s and rate headers.
    let h = SimHarness::throttled_audit(200, 150.0).await;
    let results = h
        .concurrent_audits(3, |i| Some(h.path(&format!("state-{i}"))), &[])
        .await;
    for (code, stderr, _) in &results {
        assert_eq!(*code, 0, "{stderr}");
    }
    assert_eq!(results[0].2, results[2].2);
    let answered = h.sim.invoke_requests() - h.sim.throttled_requests();
    assert_eq!(answered, 3 * 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_millisecond_retry_afters_is_waited_out_and_writes_apply_once() {
    let calm = SimHarness::start("plugins/remove-external-forwarding", 40, 9).await;
    let stormy = SimHarness::start("plugins/remove-external-forwarding", 40, 9).await;
    // The calm run first: it also compiles the component, so that the
    // stormy run's calls start at once.
    let calm_run = calm.exorun(&["run", &calm.plugin, "--quiet"]).await;
    assert_eq!(calm_run.code, 0, "{}", calm_run.stderr);
    // Every call is answered 429 with `Retry-After: 0.002` for the next six
    // seconds: the module's six attempts would be spent in milliseconds.
    // The waits (a floor of 50 ms doubling per 429, plus jitter) reach the
    // seventh attempt within 4 s.
    stormy.sim.faults().set(exorun_sim::FaultConfig {
        throttle_storm_ms: 6000,
        throttle_storm_retry_after_ms: 2,
        ..exorun_sim::FaultConfig::default()
    });
    let stormy_run = stormy.exorun(&["run", &stormy.plugin, "--quiet"]).await;
    assert_eq!(stormy_run.code, 0, "{}", stormy_run.stderr);
    assert!(
        stormy.sim.throttled_requests() >= 7,
        "the storm was not met: {} 429s",
        stormy.sim.throttled_requests()
    );
    // The same writes, each applied once: the same tenant afterwards.
    assert_eq!(stormy.sim.tenant.to_json(), calm.sim.tenant.to_json());
    assert_ne!(
        stormy.sim.tenant.to_json(),
        Tenant::generate(&GenerateOptions {
            mailboxes: 40,
            seed: 9
        })
        .to_json(),
        "the plugin changed nothing: the test proves nothing"
    );
}
