//! A hostile JavaScript plugin, built from source with the JavaScript SDK:
//! every attack is contained with the expected outcome, nothing forbidden
//! reaches the tenant, and the host goes on serving other runs.
//!
//! JavaScript has no file, environment or socket API of its own here: the
//! engine is built without stdio and wasi:http, so the component imports no
//! filesystem, environment, socket or HTTP interface at all, and the
//! engine's internal paths to files (its module loader) and the network
//! (`fetch`) end in a trap at a stubbed import before anything leaves it.

use std::sync::{Arc, OnceLock};

use exorun_e2e::{Arena, FakeBackend, denial_rules};
use exorun_sandbox::run::LogSource;
use exorun_sandbox::{LogLevel, RunError, RunReport};

/// The sandbox with this language's hostile plugin and a bystander.
fn arena() -> &'static Arena {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    ARENA.get_or_init(|| Arena::new("tests/plugins/hostile-js"))
}

async fn attack(name: &str) -> (RunReport, Arc<FakeBackend>) {
    arena().attack(name).await
}

async fn attack_with(name: &str, extra: &[(&str, &str)]) -> (RunReport, Arc<FakeBackend>) {
    arena().attack_with(name, extra).await
}

/// The trap message of a run that must have trapped.
fn trap(report: &RunReport) -> &str {
    match &report.outcome {
        Err(RunError::Trap(message)) => message,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// The interfaces a component imports, read from the top-level import
/// sections of its binary, without their versions.
fn component_imports(bytes: &[u8]) -> Vec<String> {
    struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
    }
    impl Reader<'_> {
        fn byte(&mut self) -> u8 {
            self.pos += 1;
            self.bytes[self.pos - 1]
        }
        /// An unsigned (or, for value types, signed) LEB128 number.
        fn leb(&mut self) -> u64 {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let b = self.byte();
                value |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return value;
                }
            }
        }
        fn string(&mut self) -> String {
            let len = self.leb() as usize;
            self.pos += len;
            String::from_utf8(self.bytes[self.pos - len..self.pos].to_vec()).expect("UTF-8 name")
        }
    }
    assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "a WebAssembly component");
    let mut r = Reader { bytes, pos: 8 };
    let mut names = Vec::new();
    while r.pos < bytes.len() {
        let id = r.byte();
        let size = r.leb() as usize;
        let end = r.pos + size;
        if id == 10 {
            for _ in 0..r.leb() {
                let versioned = match r.byte() {
                    0x00 => false,
                    0x01 => true,
                    other => panic!("unknown import name form {other:#x}"),
                };
                let name = r.string();
                if versioned && r.byte() == 0x01 {
                    r.string();
                }
                match r.byte() {
                    0x00 => {
                        assert_eq!(r.byte(), 0x11, "core module import");
                        r.leb();
                    }
                    0x01 | 0x04 | 0x05 => {
                        r.leb();
                    }
                    // A value bound carries an index or a value type, one
                    // number either way; a type bound an index or nothing.
                    0x02 => {
                        r.byte();
                        r.leb();
                    }
                    0x03 => {
                        if r.byte() == 0x00 {
                            r.leb();
                        }
                    }
                    other => panic!("unknown extern kind {other:#x}"),
                }
                names.push(name.split('@').next().unwrap_or_default().to_owned());
            }
        }
        r.pos = end;
    }
    names
}

#[test]
fn imports_no_filesystem_environment_socket_or_http_interface() {
    let component = arena()
        .manifest()
        .parent()
        .expect("manifest folder")
        .join("hostile_js.wasm");
    let mut imports = component_imports(&std::fs::read(component).expect("read component"));
    imports.sort();
    assert_eq!(
        imports,
        [
            "exorun:automation/cmdlets",
            "exorun:automation/host",
            "exorun:automation/inputs",
            "exorun:automation/types",
            "wasi:cli/stderr",
            "wasi:clocks/monotonic-clock",
            "wasi:clocks/wall-clock",
            "wasi:io/error",
            "wasi:io/poll",
            "wasi:io/streams",
            "wasi:random/random",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_undeclared_cmdlet_before_it_reaches_the_tenant() {
    let (report, backend) = attack("undeclared-cmdlet").await;
    assert_eq!(
        denial_rules(&report),
        ["cmdlet-not-declared:Remove-Mailbox"]
    );
    assert_eq!(backend.count(), 0);
    // Word for word what the Rust SDK reports.
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
    assert_eq!(
        report.outcome,
        Err(RunError::Plugin(
            "denied (validate-set:Set-Mailbox/ForwardingSmtpAddress): Set-Mailbox -ForwardingSmtpAddress 'exfil@evil.example' is not allowed: the manifest allows one of [$null]".into()
        ))
    );
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
async fn cannot_read_a_file_the_module_loader_traps_at_its_stubbed_filesystem_import() {
    let (report, backend) = attack("read-file").await;
    let message = trap(&report);
    assert!(message.contains("path_filestat_get"), "{message}");
    assert_eq!(backend.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sees_no_process_or_environment() {
    let (report, _) = attack("environment").await;
    assert_eq!(
        report.outcome.as_deref(),
        Ok(r#"{"process":"undefined","Deno":"undefined","env":"undefined"}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_fetch_even_from_loopback_fetch_traps_at_its_stubbed_http_import() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (report, _) = attack_with("network", &[("port", &port)]).await;
    let message = trap(&report);
    assert!(message.contains("[constructor]fields"), "{message}");
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
async fn ends_unbounded_recursion_with_the_engines_recursion_error_and_logs_the_stack() {
    // SpiderMonkey checks its own recursion depth before the wasm stack runs
    // out, so the plugin sees a catchable InternalError rather than a trap.
    let (report, _) = attack("stack").await;
    assert_eq!(
        report.outcome,
        Err(RunError::Plugin("InternalError: too much recursion".into()))
    );
    assert!(
        report.log.iter().any(|l| l.level == LogLevel::Error
            && l.message.starts_with("InternalError: too much recursion\n")
            && l.message.contains("recurse@hostile-js.js:")),
        "{:?}",
        report.log.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_a_console_flood_at_the_log_limit() {
    let (report, _) = attack("console-flood").await;
    assert_eq!(report.outcome, Err(RunError::LogLimit { bytes: 1 << 20 }));
    let logged: usize = report.log.iter().map(|l| l.message.len() + 1).sum();
    assert!(logged <= 1 << 20, "kept {logged} bytes of log");
    assert!(
        report
            .log
            .iter()
            .all(|l| l.source == LogSource::Log && l.level == LogLevel::Info),
        "console.log goes to the run log at info level"
    );
}
