//! Host memory under an `invoke-many` flood: peak RSS of the `exorun run`
//! process (release build) while a 32 MiB plugin sends one batch of 4,000
//! `Get-Mailbox -ResultSize Unlimited` calls (tests/plugins/attacker,
//! attack `batch-amplify`) to a simulated tenant of 2,000 mailboxes served
//! from this bench's process over HTTPS (the tenant is not the host: with
//! the built-in simulator the tenant's own answers would be counted too),
//! beside the same run with a batch of one.
//! Target: at most 150 MB. Before the batch budget, the host collected
//! every result first (778 MB measured).
//!
//! Run with `cargo bench -p exorun-e2e --bench invoke_many_rss`; without
//! `--bench` (as `cargo test --all-targets` runs it) it does nothing.

use std::process::Command;

use exorun_e2e::{SimHarness, compile_cache, plugin_copy, release_exorun};

/// Peak RSS in MB of one `exorun run` with a batch of `count` (read
/// with wait4 for that process alone), and its output.
fn peak_rss_mb(
    exorun: &std::path::Path,
    plugin: &std::path::Path,
    count: u32,
    data: &std::path::Path,
    connection: &[String],
) -> (f64, String) {
    let out = data.join("run.out");
    // Reaped by wait4 below, which also gives this process's own rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(exorun)
        .arg("run")
        .arg(plugin)
        .args(["--input", "attack=batch-amplify", "--input"])
        .arg(format!("count={count}"))
        .args(["--quiet", "--out"])
        .arg(&out)
        .args(connection)
        .env("XDG_DATA_HOME", data)
        .env("EXORUN_CACHE_DIR", compile_cache().dir)
        .env_remove("EXORUN_AUDIT_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run exorun");
    let mut status = 0;
    // SAFETY: wait4 writes into the structs it is given; the child is ours
    // and not waited for elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    (usage.ru_maxrss as f64 / 1024.0, text.trim().to_owned())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let exorun = release_exorun();
    let runtime = exorun_e2e::bench_runtime();
    let harness = runtime.block_on(SimHarness::start("tests/plugins/attacker", 2000, 1));
    let connection = harness.connection_args();
    // The attacker with room for a batch of 4,000 calls ([limits]
    // max-calls is 150 in the test copy): same component, its own manifest.
    let data = tempfile::tempdir().unwrap();
    let plugin = plugin_copy("tests/plugins/attacker", data.path(), |m| {
        m.replace("max-calls = 150", "max-calls = 10000")
    });
    // Warm the compile cache first.
    peak_rss_mb(&exorun, &plugin, 1, data.path(), &connection);
    let (base, _) = peak_rss_mb(&exorun, &plugin, 1, data.path(), &connection);
    let (flood, output) = peak_rss_mb(&exorun, &plugin, 4000, data.path(), &connection);
    println!("invoke_many_rss: batch of 1: peak RSS {base:.0} MB");
    println!(
        "invoke_many_rss: batch of 4000 x Get-Mailbox -ResultSize Unlimited (2,000 mailboxes): peak RSS {flood:.0} MB (target <= 150 MB)"
    );
    println!("invoke_many_rss: the plugin said: {output}");
    drop(harness);
}
