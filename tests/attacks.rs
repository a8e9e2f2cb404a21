//! The attacks of a plugin author with bad intent, a plan editor and a
//! manifest author, each with its exact outcome (see docs/threat-model.md,
//! which names these tests). The plugin is `tests/plugins/attacker`, built
//! from source, calling the raw WIT imports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, PageStream};
use exorun_e2e::{Arena, OnePage, SimHarness, built_plugin, exorun, run_blocking, sandbox_config};
use exorun_sandbox::{
    CallRecord, Observer, OutputKind, Plugin, RunError, RunRequest, Sandbox, SandboxConfig,
};

const ATTACKER: &str = "tests/plugins/attacker";

fn arena() -> &'static Arena {
    static ARENA: std::sync::OnceLock<Arena> = std::sync::OnceLock::new();
    ARENA.get_or_init(|| Arena::new(ATTACKER))
}

fn output(report: &exorun_sandbox::RunReport) -> &str {
    report
        .outcome
        .as_deref()
        .unwrap_or_else(|e| panic!("run failed: {e}"))
}

#[tokio::test]
async fn denied_calls_count_against_max_calls() {
    let (report, backend) = arena()
        .attack_with("denied-then-reads", &[("count", "60")])
        .await;
    // max-calls = 150: 60 denied attempts leave 90 for reads.
    assert_eq!(output(&report), "90 reads, then limit-exceeded");
    assert_eq!(backend.count(), 90);
}

#[tokio::test]
async fn a_plugin_that_keeps_calling_after_refusals_is_ended_as_policy_violation() {
    let (report, backend) = arena()
        .attack_with("denied-flood", &[("count", "300"), ("bytes", "1000000")])
        .await;
    assert_eq!(
        report.outcome.as_ref().err(),
        Some(&RunError::PolicyViolation { refusals: 100 })
    );
    assert_eq!(
        report.outcome.as_ref().unwrap_err().kind(),
        "policy-violation"
    );
    assert_eq!(report.denials().count(), 100);
    assert_eq!(backend.count(), 0);
    // The report keeps 3 KiB and a digest of each megabyte value, not the value.
    for record in report.denials() {
        let value = record
            .call
            .get("ForwardingSmtpAddress")
            .and_then(|v| v.as_text())
            .unwrap();
        assert!(value.len() < 4096, "{} bytes kept", value.len());
        assert!(value.ends_with("]") && value.contains("… [1000000 bytes, sha256 "));
    }
}

#[tokio::test]
async fn a_call_larger_than_one_mebibyte_is_denied_before_the_gate() {
    let (report, backend) = arena()
        .attack_with("oversized-identity", &[("bytes", "2097152")])
        .await;
    assert_eq!(output(&report), "denied call-too-large:Set-Mailbox");
    assert_eq!(backend.count(), 0);
}

#[tokio::test]
async fn empty_collections_pass_a_constrained_parameter_only_where_clearing_is_allowed() {
    let (report, backend) = arena().attack("empty-collections").await;
    assert_eq!(
        output(&report),
        "texts-on-set: denied empty-value:Set-Mailbox/ForwardingSmtpAddress\n\
         table-on-set: denied empty-value:Set-Mailbox/ForwardingSmtpAddress\n\
         add-null-on-set: denied empty-value:Set-Mailbox/ForwardingSmtpAddress\n\
         texts-on-pattern: denied empty-value:Set-Mailbox/EmailAddresses\n\
         add-empty-on-pattern: denied empty-value:Set-Mailbox/EmailAddresses\n\
         identity-texts: denied empty-value:Set-Mailbox/Identity\n\
         repeated-add: denied duplicate-key:Set-Mailbox/EmailAddresses\n\
         texts-where-clear: ok 1\n"
    );
    assert_eq!(backend.count(), 1);
}

#[tokio::test]
async fn look_alike_letters_are_compared_as_dotnet_ordinal_ignore_case() {
    let (report, _backend) = arena().attack("look-alikes").await;
    assert_eq!(
        output(&report),
        "kelvin-in-set: denied validate-set:Get-Mailbox/RecipientTypeDetails\n\
         long-s-in-set: denied validate-set:Get-Mailbox/RecipientTypeDetails\n\
         upper-in-set: ok 1\n\
         long-s-in-pattern: denied validate-pattern:Set-Mailbox/Identity\n\
         kelvin-in-pattern: denied validate-pattern:Set-Mailbox/EmailAddresses\n"
    );
}

#[tokio::test]
async fn writes_through_an_unlinked_file_count_against_the_outputs_cap() {
    let (report, _backend) = arena()
        .attack_with("unlinked-write", &[("bytes", &(300u64 << 20).to_string())])
        .await;
    let Err(RunError::OutputsLimit(exceeded)) = &report.outcome else {
        panic!("expected outputs-limit, got {:?}", report.outcome);
    };
    // Stopped at the write that crossed 1 MiB, not 300 MiB later.
    assert!(exceeded.bytes > 1 << 20, "{exceeded:?}");
    assert!(exceeded.bytes <= (1 << 20) + (64 << 10), "{exceeded:?}");
    let outputs = report.outputs.as_ref().unwrap();
    assert_eq!(outputs.files, vec![]);
}

#[tokio::test]
async fn no_link_can_be_made_in_the_outputs_folder() {
    let (report, _backend) = arena().attack("links").await;
    assert_eq!(
        output(&report),
        "symlink: Err(PermissionDenied)\nhardlink: Err(PermissionDenied)\n"
    );
    let outputs = report.outputs.as_ref().unwrap();
    let names: Vec<&str> = outputs.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["real.txt"]);
    assert!(
        std::fs::symlink_metadata(outputs.folder.join("rel")).is_err(),
        "a link was left in the operator's folder"
    );
}

#[tokio::test]
async fn every_entry_left_in_the_outputs_folder_is_listed_folders_too() {
    let (report, _backend) = arena().attack("entries").await;
    assert_eq!(output(&report), "made");
    let listed: Vec<(&str, OutputKind)> = report
        .outputs
        .as_ref()
        .unwrap()
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.kind))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("\u{1b}[2Jtitle.txt", OutputKind::File),
            ("empty", OutputKind::Folder),
            ("sub", OutputKind::Folder),
            ("sub/a.csv", OutputKind::File),
        ]
    );
}

/// Answers every call with one page of `page_bytes` bytes of objects and
/// counts the calls that reached it.
struct BigPages {
    page_bytes: usize,
    calls: AtomicU64,
}

#[async_trait]
impl Backend for BigPages {
    async fn open_pages(&self, _call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let object = format!("{{\"Name\":\"{}\"}}", "m".repeat(1000));
        let objects = vec![object; self.page_bytes / 1012];
        Ok(Box::new(OnePage(Some(objects))))
    }
}

#[tokio::test]
async fn one_invoke_many_batch_is_charged_one_budget_as_results_arrive() {
    let sandbox = Sandbox::new(SandboxConfig {
        invoke_many_concurrency: 16,
        ..sandbox_config()
    })
    .unwrap();
    let plugin = Plugin::load(&sandbox, &built_plugin(ATTACKER)).unwrap();
    let backend = Arc::new(BigPages {
        page_bytes: 1 << 20,
        calls: AtomicU64::new(0),
    });
    let report = sandbox
        .run(
            &plugin,
            RunRequest::new(backend.clone())
                .input("attack", "batch-amplify")
                .input("count", "140"),
        )
        .await;
    // 140 calls (max-calls is 150) of ~1 MiB each, 32 MiB of memory: at
    // most 32 results fit the budget, and once it is spent no further call
    // of the batch is sent.
    let text = match &report.outcome {
        Ok(text) => text.clone(),
        // Holding the results may itself exhaust the plugin's memory.
        Err(RunError::MemoryLimit { .. }) => String::new(),
        Err(e) => panic!("unexpected outcome {e}"),
    };
    let sent = backend.calls.load(Ordering::SeqCst);
    assert!(sent <= 32 + 16, "{sent} calls reached the tenant");
    if !text.is_empty() {
        let (ok, limited) = text
            .split_once(" ok, ")
            .map(|(a, b)| {
                (
                    a.parse::<u64>().unwrap(),
                    b.trim_end_matches(" limit-exceeded")
                        .parse::<u64>()
                        .unwrap(),
                )
            })
            .unwrap();
        assert!(ok <= 32, "{text}");
        assert_eq!(ok + limited, 140, "{text}");
    }
}

/// An observer that cannot record intents, as an audit trail on a full disk.
struct CannotRecord;

impl Observer for CannotRecord {
    fn before_write(&self, _calls: &[&Call]) -> Result<(), String> {
        Err("No space left on device".to_owned())
    }
}

#[tokio::test]
async fn a_write_whose_intent_cannot_be_recorded_is_not_sent_and_ends_the_run() {
    let sandbox = Sandbox::new(sandbox_config()).unwrap();
    let plugin = Plugin::load(&sandbox, &built_plugin(ATTACKER)).unwrap();
    let backend = Arc::new(exorun_e2e::FakeBackend::new());
    let report = sandbox
        .run(
            &plugin,
            RunRequest::new(backend.clone())
                .input("attack", "writes")
                .input("count", "3")
                .observer(Arc::new(CannotRecord)),
        )
        .await;
    let error = report.outcome.as_ref().unwrap_err();
    assert_eq!(error.kind(), "audit-unavailable");
    assert!(
        error
            .to_string()
            .contains("cannot record the intent of a write (No space left on device)"),
        "{error}"
    );
    assert_eq!(backend.count(), 0);
    let records: Vec<&CallRecord> = report.calls.iter().collect();
    assert_eq!(records.len(), 1);
    assert!(matches!(
        &records[0].outcome,
        Err(CmdletError::Failed { code, .. }) if code == "AuditUnavailable"
    ));
}

// ---- Through the exorun binary, against a simulated tenant in this process.

async fn harness() -> SimHarness {
    SimHarness::start(ATTACKER, 50, 7).await
}

/// Records of one kind in the audit trail.
fn count_kind(records: &[serde_json::Value], kind: &str) -> u64 {
    records.iter().filter(|r| r["kind"] == kind).count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_never_sent_unrecorded_when_the_audit_disk_fills() {
    let setup = harness().await;
    let mut command = setup.command(&[
        "run",
        &setup.plugin,
        "--input",
        "attack=writes",
        "--input",
        "count=200",
        "--outputs-dir",
        setup.path("outputs").to_str().unwrap(),
    ]);
    // The audit log's disk fills after about 8 KiB: writes past it fail
    // with EFBIG, as on a full disk (SIGXFSZ ignored so the write fails
    // rather than killing the process).
    limit_file_size(&mut command, 8 << 10);
    let out = run_blocking(command).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("FAILED (audit-unavailable)")
            && out
                .stderr
                .contains("exorun: error: the audit trail is incomplete: "),
        "{}",
        out.stderr
    );
    let records = setup.audit();
    let intents = count_kind(&records, "intent");
    assert!(intents >= 1, "{records:?}");
    // Every write the tenant received has its intent in the log.
    assert!(
        setup.sim.invoke_requests() <= intents,
        "{} writes reached the tenant, {intents} intents recorded",
        setup.sim.invoke_requests()
    );
    let verified = exorun(&["audit", "verify", setup.audit_path().to_str().unwrap()]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(
        verified.stdout.contains("1 run has no end record"),
        "{}",
        verified.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_in_the_middle_of_its_writes_leaves_every_sent_write_in_the_log() {
    let setup = harness().await;
    let mut command = setup.command(&[
        "run",
        &setup.plugin,
        "--input",
        "attack=writes",
        "--input",
        "count=100000",
        "--outputs-dir",
        setup.path("outputs").to_str().unwrap(),
    ]);
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    // Kill it once it has sent a few writes.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while setup.sim.invoke_requests() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "no writes reached the tenant"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = setup.sim.invoke_requests();
    let records = setup.audit();
    let intents = count_kind(&records, "intent");
    assert!(
        sent <= intents,
        "{sent} writes sent, {intents} intents recorded"
    );
    assert_eq!(count_kind(&records, "run-end"), 0);
    let verified = exorun(&["audit", "verify", setup.audit_path().to_str().unwrap()]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(
        verified.stdout.contains("1 run has no end record"),
        "{}",
        verified.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_text_reaches_the_console_escaped() {
    let setup = harness().await;
    let out = setup
        .exorun(&[
            "run",
            &setup.plugin,
            "--input",
            "attack=control-chars",
            "--outputs-dir",
            setup.path("outputs").to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        !out.stderr.contains('\u{1b}')
            && !out.stderr.contains('\r')
            && !out.stderr.contains('\u{7}'),
        "raw control characters reached the console: {:?}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("  [info] \\x1b]0;pwned\\x07\\x1b[2J\\rexorun: all good\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("  DENIED Get-Mailbox\\x1b[31m: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("exorun: error: the plugin failed: \\x1b[2Jfailed\\rexorun: ok\n"),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dangling_link_at_the_plan_path_is_refused_before_the_plugin_runs() {
    let setup = harness().await;
    let target = setup.path("elsewhere/plan.json");
    let link = setup.path("link.plan.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = setup
        .exorun(&[
            "run",
            &setup.plugin,
            "--input",
            "attack=writes",
            "--what-if",
            "--plan",
            link.to_str().unwrap(),
            "--outputs-dir",
            setup.path("outputs").to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{} exists already; a plan is never overwritten or written through a link",
            link.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!target.exists());
    assert_eq!(
        setup.audit(),
        Vec::<serde_json::Value>::new(),
        "the plugin ran"
    );
    assert_eq!(setup.sim.invoke_requests(), 0);
}

/// Sets RLIMIT_FSIZE for the child and ignores SIGXFSZ there, so writes
/// past `bytes` fail with EFBIG as on a full disk.
fn limit_file_size(command: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[tokio::test]
async fn parameters_aliasing_one_buffer_are_measured_before_the_host_copies_them() {
    // 100,000 parameters pointing at the same 64 KiB: 6.5 GB if copied.
    let (report, backend) = arena()
        .attack_with("aliased-values", &[("count", "100000"), ("bytes", "65536")])
        .await;
    assert_eq!(output(&report), "denied call-too-large:Get-Mailbox");
    assert_eq!(backend.count(), 0);
    let denied: Vec<&exorun_sandbox::CallRecord> = report.denials().collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].call.parameters, vec![]);
}

#[tokio::test]
async fn a_batch_aliasing_one_buffer_brings_in_at_most_the_plugins_memory() {
    // 100,000 calls each pointing at the same 900 KB Identity: 90 GB if
    // copied. The batch may bring in at most the plugin's 32 MiB, and the
    // calls past what the run may still attempt are not looked at.
    let (report, backend) = arena()
        .attack_with("aliased-batch", &[("count", "100000"), ("bytes", "900000")])
        .await;
    assert_eq!(
        report.outcome.as_ref().err(),
        Some(&RunError::PolicyViolation { refusals: 100 })
    );
    // Every call of a batch is decided before any is sent: none was.
    assert_eq!(backend.count(), 0);
    let denied: Vec<&exorun_sandbox::CallRecord> = report.denials().collect();
    assert_eq!(denied.len(), 100);
    assert!(denied.iter().all(|c| c.call.parameters.is_empty()));
}

#[tokio::test]
async fn growing_a_file_without_writing_counts_against_the_outputs_cap() {
    let (report, _backend) = arena().attack("sparse").await;
    let Err(RunError::OutputsLimit(exceeded)) = &report.outcome else {
        panic!("expected outputs-limit, got {:?}", report.outcome);
    };
    assert_eq!(exceeded.bytes, 1 << 30);
    let outputs = report.outputs.as_ref().unwrap();
    let listed: Vec<(&str, u64)> = outputs
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.bytes))
        .collect();
    assert_eq!(listed, vec![("sparse.bin", 0)]);
}
