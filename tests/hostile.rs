//! Hostile plugins, built from source: every attack is contained with the
//! expected outcome, nothing forbidden reaches the tenant, and the host goes
//! on serving other runs.

use std::sync::{Arc, OnceLock};

use exorun_e2e::{Arena, FakeBackend, built_plugin, denial_rules};
use exorun_sandbox::{LoadError, Plugin, RunError, RunReport, RunRequest};

/// The sandbox with this language's hostile plugin and a bystander.
fn arena() -> &'static Arena {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    ARENA.get_or_init(|| Arena::new("tests/plugins/hostile"))
}

async fn attack(name: &str) -> (RunReport, Arc<FakeBackend>) {
    arena().attack(name).await
}

async fn attack_with(name: &str, extra: &[(&str, &str)]) -> (RunReport, Arc<FakeBackend>) {
    arena().attack_with(name, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_undeclared_cmdlet_before_it_reaches_the_tenant() {
    let (report, backend) = attack("undeclared-cmdlet").await;
    assert_eq!(
        denial_rules(&report),
        ["cmdlet-not-declared:Remove-Mailbox"]
    );
    assert_eq!(backend.count(), 0);
    assert_eq!(
        report.outcome,
        Err(RunError::Plugin(
            "denied (cmdlet-not-declared:Remove-Mailbox): Remove-Mailbox is not declared in the plugin's exorun.toml; add a [[cmdlet]] table for it to allow it".into()
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_value_outside_validate_set() {
    let (report, backend) = attack("value-outside-set").await;
    assert_eq!(
        denial_rules(&report),
        ["validate-set:Set-Mailbox/ForwardingSmtpAddress"]
    );
    assert_eq!(backend.count(), 0);
    assert_eq!(report.outcome.unwrap_err().kind(), "plugin-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_value_outside_validate_pattern() {
    let (report, backend) = attack("value-outside-pattern").await;
    assert_eq!(
        denial_rules(&report),
        ["validate-pattern:Set-Mailbox/Identity"]
    );
    assert_eq!(backend.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_unlisted_parameter() {
    let (report, backend) = attack("unlisted-parameter").await;
    assert_eq!(
        denial_rules(&report),
        ["parameter-not-declared:Get-Mailbox/Filter"]
    );
    assert_eq!(backend.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_a_parameter_smuggled_twice() {
    let (report, backend) = attack("duplicate-parameter").await;
    assert_eq!(
        denial_rules(&report),
        ["duplicate-parameter:Set-Mailbox/IDENTITY"]
    );
    assert_eq!(backend.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_calls_past_the_call_budget() {
    let (report, backend) = attack("call-budget").await;
    assert_eq!(backend.count(), 5);
    assert_eq!(
        report.outcome,
        Err(RunError::Plugin(
            "limit exceeded: this run may make at most 5 cmdlet calls ([limits] max-calls)".into()
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sees_no_file_at_all() {
    let (report, _) = attack("read-file").await;
    assert_eq!(
        report.outcome.as_deref(),
        Ok("etc: Err(NotFound); cwd: Err(NotFound)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sees_no_environment_and_only_its_name_as_argument() {
    let (report, _) = attack("environment").await;
    assert_eq!(
        report.outcome.as_deref(),
        Ok("vars: []; args: [\"hostile\"]")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_open_a_socket_even_to_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (report, _) = attack_with("socket", &[("port", &port)]).await;
    let outcome = report.outcome.unwrap();
    assert!(outcome.starts_with("connect: Err("), "{outcome}");
    assert!(
        listener.accept().is_err(),
        "the plugin must not have reached the listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_an_infinite_loop_at_the_timeout() {
    let (report, _) = attack("loop").await;
    assert_eq!(report.outcome, Err(RunError::Timeout { seconds: 2 }));
    assert!(
        report.elapsed.as_secs_f64() < 4.0,
        "took {:?}",
        report.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_unbounded_memory_growth_at_the_limit() {
    let (report, _) = attack("memory").await;
    assert_eq!(report.outcome, Err(RunError::MemoryLimit { mib: 64 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_unbounded_recursion_with_stack_overflow() {
    let (report, _) = attack("stack").await;
    assert_eq!(report.outcome, Err(RunError::StackOverflow));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_a_stdout_flood_at_the_log_limit() {
    let (report, _) = attack("stdout-flood").await;
    assert_eq!(report.outcome, Err(RunError::LogLimit { bytes: 1 << 20 }));
    let logged: usize = report.log.iter().map(|l| l.message.len() + 1).sum();
    assert!(logged <= 1 << 20, "kept {logged} bytes of log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_huge_output() {
    let (report, _) = attack("huge-output").await;
    assert_eq!(
        report.outcome,
        Err(RunError::OutputTooLarge {
            bytes: 24 << 20,
            limit: 16 << 20
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contains_a_trap_and_keeps_the_panic_message_in_the_log() {
    let (report, _) = attack("trap").await;
    let error = report.outcome.unwrap_err();
    assert_eq!(error.kind(), "trap");
    assert!(
        report
            .log
            .iter()
            .any(|l| l.message.contains("hostile plugin panicked on purpose")),
        "{:?}",
        report.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_load_a_plugin_importing_an_unknown_interface() {
    let manifest = built_plugin("tests/plugins/hostile-import");
    let error = Plugin::load(arena().sandbox(), &manifest)
        .err()
        .expect("load must fail");
    assert!(
        matches!(&error, LoadError::UnsupportedImport { import } if import == "evil:exfil/network@0.1.0"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the plugin imports `evil:exfil/network@0.1.0`, which exorun does not provide; a plugin may import only exorun:automation and the WASI 0.2 CLI interfaces (never wasi:http)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_component_whose_digest_differs_from_the_manifest() {
    let manifest = built_plugin("tests/plugins/one-call");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let component = manifest.parent().unwrap().join("one_call.wasm");
    let mut bytes = std::fs::read(&component).unwrap();
    bytes.extend_from_slice(b"\0tampered");
    std::fs::write(dir.path().join("one_call.wasm"), bytes).unwrap();
    std::fs::write(dir.path().join("exorun.toml"), text).unwrap();
    let error = Plugin::load(arena().sandbox(), dir.path())
        .err()
        .expect("load must fail");
    assert!(matches!(error, LoadError::DigestMismatch { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_missing_required_input_without_running() {
    let backend = Arc::new(FakeBackend::new());
    let report = arena()
        .sandbox()
        .run(arena().hostile(), RunRequest::new(backend.clone()))
        .await;
    assert_eq!(
        report.outcome,
        Err(RunError::Inputs(
            "input 'attack' is required; pass --input attack=<string>".into()
        ))
    );
    assert_eq!(backend.count(), 0);
}
