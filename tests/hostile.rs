//! Hostile plugins in Rust, Python and JavaScript, built from source: every
//! attack is contained with the same outcome in every language, nothing
//! forbidden reaches the tenant, and the host goes on serving other runs.
//!
//! The attacks all three plugins make are one table of cases ([`case`]);
//! each language's module lists which it makes under which attack name, and
//! adds the tests only its runtime needs (Python's import path, the
//! JavaScript engine's stubbed imports).

use std::sync::{Arc, OnceLock};

use exorun_e2e::{Arena, FakeBackend, built_plugin, denial_rules};
use exorun_sandbox::{LoadError, Plugin, RunError, RunReport, RunRequest};

/// Runs one attack of this module's plugin; with an input `port` for the
/// network attacks.
async fn attack(arena: &Arena, name: &str) -> (RunReport, Arc<FakeBackend>) {
    arena.attack(name).await
}

/// The attacks every language's hostile plugin makes, each with its exact
/// outcome. A case takes the arena of the language and the name that
/// language's plugin gives the attack.
mod case {
    use super::*;

    pub async fn undeclared_cmdlet(arena: &Arena, name: &str) {
        let (report, backend) = attack(arena, name).await;
        assert_eq!(
            denial_rules(&report),
            ["cmdlet-not-declared:Remove-Mailbox"]
        );
        assert_eq!(backend.count(), 0);
        // Word for word the same text in every SDK.
        assert_eq!(
            report.outcome,
            Err(RunError::Plugin(
                "denied (cmdlet-not-declared:Remove-Mailbox): Remove-Mailbox is not declared in the plugin's exorun.toml; add a [[cmdlet]] table for it to allow it".into()
            ))
        );
    }

    pub async fn value_outside_set(arena: &Arena, name: &str) -> RunReport {
        let (report, backend) = attack(arena, name).await;
        assert_eq!(
            denial_rules(&report),
            ["validate-set:Set-Mailbox/ForwardingSmtpAddress"]
        );
        assert_eq!(backend.count(), 0);
        assert_eq!(report.outcome.as_ref().unwrap_err().kind(), "plugin-error");
        report
    }

    pub async fn value_outside_pattern(arena: &Arena, name: &str) {
        let (report, backend) = attack(arena, name).await;
        assert_eq!(
            denial_rules(&report),
            ["validate-pattern:Set-Mailbox/Identity"]
        );
        assert_eq!(backend.count(), 0);
    }

    pub async fn unlisted_parameter(arena: &Arena, name: &str) {
        let (report, backend) = attack(arena, name).await;
        assert_eq!(
            denial_rules(&report),
            ["parameter-not-declared:Get-Mailbox/Filter"]
        );
        assert_eq!(backend.count(), 0);
    }

    pub async fn duplicate_parameter(arena: &Arena, name: &str) {
        let (report, backend) = attack(arena, name).await;
        assert_eq!(
            denial_rules(&report),
            ["duplicate-parameter:Set-Mailbox/IDENTITY"]
        );
        assert_eq!(backend.count(), 0);
    }

    pub async fn call_budget(arena: &Arena, name: &str) {
        let (report, backend) = attack(arena, name).await;
        assert_eq!(backend.count(), 5);
        assert_eq!(
            report.outcome,
            Err(RunError::Plugin(
                "limit exceeded: this run may make at most 5 cmdlet calls ([limits] max-calls)"
                    .into()
            ))
        );
    }

    pub async fn infinite_loop(arena: &Arena, name: &str) {
        let (report, _) = attack(arena, name).await;
        assert_eq!(report.outcome, Err(RunError::Timeout { seconds: 2 }));
        assert!(
            report.elapsed.as_secs_f64() < 4.0,
            "took {:?}",
            report.elapsed
        );
    }

    pub async fn memory_growth(arena: &Arena, name: &str) {
        let (report, _) = attack(arena, name).await;
        assert_eq!(report.outcome, Err(RunError::MemoryLimit { mib: 64 }));
    }

    pub async fn log_flood(arena: &Arena, name: &str) -> RunReport {
        let (report, _) = attack(arena, name).await;
        assert_eq!(report.outcome, Err(RunError::LogLimit { bytes: 1 << 20 }));
        let logged: usize = report.log.iter().map(|l| l.message.len() + 1).sum();
        assert!(logged <= 1 << 20, "kept {logged} bytes of log");
        report
    }

    pub async fn huge_output(arena: &Arena, name: &str) {
        let (report, _) = attack(arena, name).await;
        assert_eq!(
            report.outcome,
            Err(RunError::OutputTooLarge {
                bytes: 24 << 20,
                limit: 16 << 20
            })
        );
    }

    /// A trap ends the run as `trap`, with what the plugin wrote before it
    /// kept in the log.
    pub async fn trap_keeps_the_log(arena: &Arena, name: &str, logged: &str) {
        let (report, _) = attack(arena, name).await;
        let error = report.outcome.unwrap_err();
        assert_eq!(error.kind(), "trap");
        assert!(
            report.log.iter().any(|l| l.message.contains(logged)),
            "{:?}",
            report.log
        );
    }

    pub async fn missing_required_input(arena: &Arena) {
        let backend = Arc::new(FakeBackend::new());
        let report = arena
            .sandbox()
            .run(arena.hostile(), RunRequest::new(backend.clone()))
            .await;
        assert_eq!(
            report.outcome,
            Err(RunError::Inputs(
                "input 'attack' is required; pass --input attack=<string>".into()
            ))
        );
        assert_eq!(backend.count(), 0);
    }

    /// Connecting to a listener on loopback fails, and the listener sees no
    /// connection. Returns what the plugin reported.
    pub async fn socket_to_loopback(arena: &Arena, name: &str) -> Result<String, RunError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let (report, _) = arena.attack_with(name, &[("port", &port)]).await;
        assert!(
            listener.accept().is_err(),
            "the plugin must not have reached the listener"
        );
        report.outcome
    }
}

/// One `#[tokio::test]` per line: `test_name: case::function, "attack-name";`
/// (the attack name is left out for cases that take none).
macro_rules! cases {
    ($($test:ident: $case:path $(, $attack:literal)?;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            $case(arena() $(, $attack)?).await;
        }
    )*};
}

mod rust {
    use super::*;

    /// The sandbox with the Rust hostile plugin and a bystander.
    fn arena() -> &'static Arena {
        static ARENA: OnceLock<Arena> = OnceLock::new();
        ARENA.get_or_init(|| Arena::new("tests/plugins/hostile"))
    }

    cases! {
        denies_undeclared_cmdlet_before_it_reaches_the_tenant: case::undeclared_cmdlet, "undeclared-cmdlet";
        denies_value_outside_validate_set: case::value_outside_set, "value-outside-set";
        denies_value_outside_validate_pattern: case::value_outside_pattern, "value-outside-pattern";
        denies_unlisted_parameter: case::unlisted_parameter, "unlisted-parameter";
        denies_a_parameter_smuggled_twice: case::duplicate_parameter, "duplicate-parameter";
        stops_calls_past_the_call_budget: case::call_budget, "call-budget";
        ends_an_infinite_loop_at_the_timeout: case::infinite_loop, "loop";
        ends_unbounded_memory_growth_at_the_limit: case::memory_growth, "memory";
        ends_a_stdout_flood_at_the_log_limit: case::log_flood, "stdout-flood";
        refuses_a_huge_output: case::huge_output, "huge-output";
        reports_missing_required_input_without_running: case::missing_required_input;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contains_a_trap_and_keeps_the_panic_message_in_the_log() {
        case::trap_keeps_the_log(arena(), "trap", "hostile plugin panicked on purpose").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cannot_open_a_socket_even_to_loopback() {
        let outcome = case::socket_to_loopback(arena(), "socket").await.unwrap();
        assert!(outcome.starts_with("connect: Err("), "{outcome}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sees_no_file_at_all() {
        let (report, _) = attack(arena(), "read-file").await;
        assert_eq!(
            report.outcome.as_deref(),
            Ok("etc: Err(NotFound); cwd: Err(NotFound)")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sees_no_environment_and_only_its_name_as_argument() {
        let (report, _) = attack(arena(), "environment").await;
        assert_eq!(
            report.outcome.as_deref(),
            Ok("vars: []; args: [\"hostile\"]")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ends_unbounded_recursion_with_stack_overflow() {
        let (report, _) = attack(arena(), "stack").await;
        assert_eq!(report.outcome, Err(RunError::StackOverflow));
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
}

mod python {
    use super::*;

    /// The sandbox with the Python hostile plugin and a bystander.
    fn arena() -> &'static Arena {
        static ARENA: OnceLock<Arena> = OnceLock::new();
        ARENA.get_or_init(|| Arena::new("tests/plugins/hostile-py"))
    }

    cases! {
        denies_undeclared_cmdlet_before_it_reaches_the_tenant: case::undeclared_cmdlet, "undeclared-cmdlet";
        denies_value_outside_validate_set: case::value_outside_set, "value-outside-set";
        denies_value_outside_validate_pattern: case::value_outside_pattern, "value-outside-pattern";
        denies_unlisted_parameter: case::unlisted_parameter, "unlisted-parameter";
        denies_a_parameter_smuggled_twice_in_another_case: case::duplicate_parameter, "duplicate-parameter";
        stops_calls_past_the_call_budget: case::call_budget, "call-budget";
        ends_an_infinite_loop_at_the_timeout: case::infinite_loop, "infinite-loop";
        ends_unbounded_memory_growth_at_the_limit: case::memory_growth, "memory-growth";
        ends_a_stdout_flood_at_the_log_limit: case::log_flood, "stdout-flood";
        refuses_a_huge_output: case::huge_output, "huge-output";
        reports_missing_required_input_without_running: case::missing_required_input;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contains_an_abort_as_a_trap_and_keeps_stderr_in_the_log() {
        case::trap_keeps_the_log(arena(), "trap", "hostile plugin aborts on purpose").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cannot_open_a_socket_even_to_loopback() {
        let outcome = case::socket_to_loopback(arena(), "network").await.unwrap();
        assert!(outcome.starts_with("connect: "), "{outcome}");
        assert_ne!(outcome, "connect: connected");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sees_no_file_at_all_not_even_its_own_import_path() {
        let (report, _) = attack(arena(), "file-read").await;
        assert_eq!(
            report.outcome.as_deref(),
            Ok(
                "etc: FileNotFoundError; root: FileNotFoundError; cwd: FileNotFoundError; import path readable: []"
            )
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sees_no_environment_and_only_its_name_as_argument() {
        let (report, _) = attack(arena(), "env").await;
        assert_eq!(
            report.outcome.as_deref(),
            Ok("environ: {}; argv: ['hostile-py']")
        );
    }
}

mod js {
    //! JavaScript has no file, environment or socket API of its own here:
    //! the engine is built without stdio and wasi:http, so the component
    //! imports no filesystem, environment, socket or HTTP interface at all,
    //! and the engine's internal paths to files (its module loader) and the
    //! network (`fetch`) end in a trap at a stubbed import before anything
    //! leaves it.

    use exorun_sandbox::{LogLevel, LogSource};

    use super::*;

    /// The sandbox with the JavaScript hostile plugin and a bystander.
    fn arena() -> &'static Arena {
        static ARENA: OnceLock<Arena> = OnceLock::new();
        ARENA.get_or_init(|| Arena::new("tests/plugins/hostile-js"))
    }

    cases! {
        denies_undeclared_cmdlet_before_it_reaches_the_tenant: case::undeclared_cmdlet, "undeclared-cmdlet";
        stops_calls_past_the_call_budget: case::call_budget, "call-budget";
        ends_an_infinite_loop_at_the_timeout: case::infinite_loop, "loop";
        ends_unbounded_memory_growth_at_the_limit: case::memory_growth, "memory";
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn denies_value_outside_validate_set() {
        let report = case::value_outside_set(arena(), "value-outside-set").await;
        assert_eq!(
            report.outcome,
            Err(RunError::Plugin(
                "denied (validate-set:Set-Mailbox/ForwardingSmtpAddress): Set-Mailbox -ForwardingSmtpAddress 'exfil@evil.example' is not allowed: the manifest allows one of [$null]".into()
            ))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ends_a_console_flood_at_the_log_limit() {
        let report = case::log_flood(arena(), "console-flood").await;
        assert!(
            report
                .log
                .iter()
                .all(|l| l.source == LogSource::Log && l.level == LogLevel::Info),
            "console.log goes to the run log at info level"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cannot_fetch_even_from_loopback_fetch_traps_at_its_stubbed_http_import() {
        let outcome = case::socket_to_loopback(arena(), "network").await;
        match &outcome {
            Err(RunError::Trap(message)) => {
                assert!(message.contains("[constructor]fields"), "{message}")
            }
            other => panic!("expected a trap, got {other:?}"),
        }
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
                String::from_utf8(self.bytes[self.pos - len..self.pos].to_vec())
                    .expect("UTF-8 name")
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
    async fn cannot_read_a_file_the_module_loader_traps_at_its_stubbed_filesystem_import() {
        let (report, backend) = attack(arena(), "read-file").await;
        let message = trap(&report);
        assert!(message.contains("path_filestat_get"), "{message}");
        assert_eq!(backend.count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sees_no_process_or_environment() {
        let (report, _) = attack(arena(), "environment").await;
        assert_eq!(
            report.outcome.as_deref(),
            Ok(r#"{"process":"undefined","Deno":"undefined","env":"undefined"}"#)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ends_unbounded_recursion_with_the_engines_recursion_error_and_logs_the_stack() {
        // SpiderMonkey checks its own recursion depth before the wasm stack runs
        // out, so the plugin sees a catchable InternalError rather than a trap.
        let (report, _) = attack(arena(), "stack").await;
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
}
