//! Host memory under an `invoke-many` flood: peak RSS of the whole
//! `exorun run` process (release build, the built-in simulated tenant in
//! the same process) while a 32 MiB plugin sends one batch of 4,000
//! `Get-Mailbox -ResultSize Unlimited` calls (tests/plugins/attacker,
//! attack `batch-amplify`), beside the same run with a batch of one.
//! Target: at most 150 MB. Before the batch budget, the host collected
//! every result first (778 MB measured).
//!
//! Run with `cargo bench -p exorun-e2e --bench invoke_many_rss`; without
//! `--bench` (as `cargo test --all-targets` runs it) it does nothing.

use std::process::Command;

use exorun_e2e::{compile_cache, plugin_copy, release_exorun};

/// Peak RSS in MB of one `exorun run` with a batch of `count`, and its output.
fn peak_rss_mb(
    exorun: &std::path::Path,
    plugin: &std::path::Path,
    count: u32,
    data: &std::path::Path,
) -> (f64, String) {
    let output = Command::new(exorun)
        .arg("run")
        .arg(plugin)
        .args(["--input", "attack=batch-amplify", "--input"])
        .arg(format!("count={count}"))
        .args(["--sim-mailboxes", "2000", "--quiet"])
        .env("XDG_DATA_HOME", data)
        .env("EXORUN_CACHE_DIR", compile_cache().dir)
        .env_remove("EXORUN_AUDIT_LOG")
        .output()
        .expect("run exorun");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    // The largest child waited for so far: each run is larger than the
    // one before it or the number is the earlier one's, so runs go small
    // to large.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    (usage.ru_maxrss as f64 / 1024.0, text)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let exorun = release_exorun();
    // The attacker with room for a batch of 4,000 calls ([limits]
    // max-calls is 150 in the test copy): same component, its own manifest.
    let data = tempfile::tempdir().unwrap();
    let plugin = plugin_copy("tests/plugins/attacker", data.path(), |m| {
        m.replace("max-calls = 150", "max-calls = 10000")
    });
    let plugin = plugin.as_path();
    // Warm the compile cache first.
    peak_rss_mb(&exorun, plugin, 1, data.path());
    let (base, _) = peak_rss_mb(&exorun, plugin, 1, data.path());
    let (flood, output) = peak_rss_mb(&exorun, plugin, 4000, data.path());
    println!("invoke_many_rss: batch of 1: peak RSS {base:.0} MB");
    println!(
        "invoke_many_rss: batch of 4000 x Get-Mailbox -ResultSize Unlimited (2,000 mailboxes): peak RSS {flood:.0} MB (target <= 150 MB)"
    );
    println!("invoke_many_rss: run said: {output}");
}
