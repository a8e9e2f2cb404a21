//! Benchmarks, as a plain harness (no criterion: its dependency tree would
//! dominate this crate's build time). Run with
//! `cargo bench -p exorun-audit --bench audit`.
//!
//! * append overhead per record, with `Durability::Flush` and `Fsync`;
//! * verify of a 1,000,000-record log (target: at most 5 s);
//! * query (full parse of every record) of the same log.
//!
//! The big log is generated directly from the documented format (serialize
//! without `hash`, SHA-256, splice in the hash member), which also shows
//! that the format can be produced without this crate's writer.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use exorun_audit::{
    AuditLog, CallEvent, Durability, Entry, Event, Filter, PluginRef, Record, RunInfo, RunMode,
    ZERO_HASH, head_path, query, verify,
};
use exorun_cmdlet::Call;
use sha2::{Digest, Sha256};

fn run_info() -> RunInfo {
    RunInfo {
        run_id: "5f0c2a8e-3d43-4b8e-9a51-0c7e2f1d9b11".to_owned(),
        plugin: PluginRef {
            name: "mailbox-cleanup".to_owned(),
            version: "1.2.0".to_owned(),
            sha256: "ab".repeat(32),
        },
        operator: "alice".to_owned(),
        tenant: "contoso.onmicrosoft.com".to_owned(),
        app_id: "11111111-2222-3333-4444-555555555555".to_owned(),
        mode: RunMode::Run,
        plan_sha256: None,
        policy: None,
    }
}

fn event(i: u64) -> Event {
    let call = Call::new("Set-Mailbox")
        .param("Identity", format!("user{i}@contoso.com"))
        .param("CustomAttribute1", "cleanup-2026-11")
        .param("HiddenFromAddressListsEnabled", true);
    Event::Call(
        CallEvent::new(&call, &[])
            .outcome(Ok(1))
            .duration(Duration::from_millis(i % 300))
            .client_request_id(format!("6b1f4c0e-{i:012}")),
    )
}

fn bench_append(dir: &Path, durability: Durability, n: u64) {
    let path = dir.join(format!("append-{durability:?}.jsonl"));
    let run = run_info();
    let events: Vec<Event> = (1..=n).map(event).collect();
    let mut log = AuditLog::open(&path).unwrap().with_durability(durability);
    // Warm up (and give the tail reader a previous record to find).
    log.append(Entry::new(&run, &events[0])).unwrap();
    let start = Instant::now();
    for e in &events {
        log.append(Entry::new(&run, e)).unwrap();
    }
    let per = start.elapsed() / n as u32;
    println!("append ({durability:?}): {n} records, {per:?} per record");
}

/// Writes `n` chained records straight from the format definition.
fn generate(path: &Path, n: u64) -> u64 {
    let template = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("one.jsonl");
        let mut log = AuditLog::open(&p)
            .unwrap()
            .with_durability(Durability::Flush);
        log.append(Entry::new(&run_info(), &event(1))).unwrap()
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut prev = ZERO_HASH.to_owned();
    let mut last_hash = String::new();
    let mut bytes = 0u64;
    for seq in 1..=n {
        let record = Record {
            seq,
            parameters: template.parameters.clone().map(|mut p| {
                p.0[0].1 = serde_json::Value::from(format!("user{seq}@contoso.com"));
                p
            }),
            prev: prev.clone(),
            hash: String::new(),
            ..template.clone()
        };
        let canonical = serde_json::to_vec(&record).unwrap();
        let hash = hex::encode(Sha256::digest(&canonical));
        let mut line = canonical[..canonical.len() - 1].to_vec();
        line.extend_from_slice(format!(",\"hash\":\"{hash}\"}}").as_bytes());
        prev = hex::encode(Sha256::digest(&line));
        line.push(b'\n');
        out.write_all(&line).unwrap();
        bytes += line.len() as u64;
        last_hash = hash;
    }
    out.flush().unwrap();
    std::fs::write(
        head_path(path),
        format!("{{\"seq\":{n},\"hash\":\"{last_hash}\"}}\n"),
    )
    .unwrap();
    bytes
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`
    // runs this binary too) only a quick smoke run is done.
    let quick = !std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().unwrap();

    bench_append(
        dir.path(),
        Durability::Flush,
        if quick { 500 } else { 20_000 },
    );
    bench_append(
        dir.path(),
        Durability::Fsync,
        if quick { 50 } else { 1_000 },
    );

    let n = if quick { 10_000 } else { 1_000_000 };
    let path = dir.path().join("big.jsonl");
    let start = Instant::now();
    let bytes = generate(&path, n);
    println!(
        "generated {n} records, {} MB ({} bytes/line) in {:?}",
        bytes / 1_000_000,
        bytes / n,
        start.elapsed()
    );
    let mut times = Vec::new();
    for attempt in 1..=5 {
        let start = Instant::now();
        let summary = verify(&path).unwrap();
        assert_eq!(summary.records, n);
        let took = start.elapsed();
        println!(
            "verify #{attempt}: {n} records in {took:?} ({:.0} MB/s)",
            bytes as f64 / took.as_secs_f64() / 1e6
        );
        times.push(took);
    }
    times.sort();
    println!(
        "verify median of 5: {n} records in {:?} (target: at most 5 s for 1,000,000)",
        times[2]
    );
    let start = Instant::now();
    let count = query(&path, Filter::default()).unwrap().count() as u64;
    assert_eq!(count, n);
    println!("query (full parse): {n} records in {:?}", start.elapsed());
}
