//! Generation, memory, identity lookups and paging at 100,000 mailboxes.
//!
//! `cargo bench -p exorun-sim-tenant` (set `EXORUN_BENCH_MAILBOXES` to change
//! the size). Prints one line per measurement; no criterion, so that the
//! RSS figure is this process's own.

use std::hint::black_box;
use std::time::Instant;

use exorun_cmdlet::Call;
use exorun_sim_tenant::{Caller, GenerateOptions, Tenant};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() {
    let mailboxes: usize = std::env::var("EXORUN_BENCH_MAILBOXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let before = rss_mib();
    let started = Instant::now();
    let tenant = Tenant::generate(&GenerateOptions { mailboxes, seed: 1 });
    let generated = started.elapsed();
    let after = rss_mib();
    println!(
        "generate {mailboxes} mailboxes: {:.2} s",
        generated.as_secs_f64()
    );
    println!(
        "RSS: {before:.0} MiB before, {after:.0} MiB after ({:.0} MiB for the tenant)",
        after - before
    );

    let caller = Caller::exchange_administrator("bench");
    let all = tenant
        .execute(
            &caller,
            &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        )
        .expect("list");
    // Page by page, as the server would: rendering 100,000 objects at once
    // would measure the allocator, not the tenant.
    let mut identities: Vec<String> = Vec::with_capacity(all.len());
    for offset in (0..all.len()).step_by(1000) {
        for m in all.page(offset, 1000) {
            identities.push(
                m["PrimarySmtpAddress"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    drop(all);
    println!("RSS after listing identities {:.0} MiB", rss_mib());
    let started = Instant::now();
    let lookups = identities.len().min(50_000);
    for identity in identities.iter().take(lookups) {
        let e = tenant
            .execute(
                &caller,
                &Call::new("Get-Mailbox").param("Identity", identity.as_str()),
            )
            .expect("lookup");
        black_box(e.page(0, 1));
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "Get-Mailbox -Identity (lookup + render): {lookups} calls in {elapsed:.2} s = {:.0} calls/s on one thread",
        lookups as f64 / elapsed
    );

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for chunk in identities[..lookups].chunks(lookups.div_ceil(threads)) {
            let (tenant, caller) = (&tenant, &caller);
            scope.spawn(move || {
                for identity in chunk {
                    let call = Call::new("Get-Mailbox").param("Identity", identity.as_str());
                    let e = tenant.execute(caller, &call).expect("lookup");
                    black_box(e.page_json(0, 1));
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "Get-Mailbox -Identity (lookup + page_json): {lookups} calls on {threads} threads in {elapsed:.2} s = {:.0} calls/s",
        lookups as f64 / elapsed
    );

    println!("RSS after lookups {:.0} MiB", rss_mib());
    let started = Instant::now();
    let snapshot = tenant
        .execute(
            &caller,
            &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        )
        .expect("list");
    let snap = started.elapsed();
    println!(
        "Get-Mailbox -ResultSize Unlimited snapshot: {} objects in {:.1} ms",
        snapshot.len(),
        snap.as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let mut offset = 0;
    while offset < snapshot.len() {
        let page = snapshot.page(offset, 1000);
        offset += page.len();
        black_box(page);
    }
    let render = started.elapsed().as_secs_f64();
    println!(
        "render all pages of 1000 to JSON values: {render:.2} s ({:.0} objects/s)",
        snapshot.len() as f64 / render
    );
    println!("RSS {:.0} MiB", rss_mib());
    let started = Instant::now();
    let mut offset = 0;
    let mut bytes = 0;
    while offset < snapshot.len() {
        let page = snapshot.page_json(offset, 1000);
        offset += page.len();
        bytes += page.iter().map(String::len).sum::<usize>();
    }
    let render = started.elapsed().as_secs_f64();
    println!(
        "page_json: all pages of 1000 as compact JSON text: {:.2} s ({:.0} objects/s, {:.0} MiB of JSON)",
        render,
        snapshot.len() as f64 / render,
        bytes as f64 / 1_048_576.0
    );
    println!("RSS at end: {:.0} MiB", rss_mib());
}
