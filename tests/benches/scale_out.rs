//! Runs on many workers (run with `cargo bench -p exorun-e2e --bench
//! scale_out`, or `make bench-scale-out`): 1,000 runs queued through one
//! `exorun serve` on a `nats-server -js`, over 5 simulated tenants with
//! budgets of their own, taken by 1, 2 and then 3 `exorun worker`s (release
//! build), all on this machine.
//!
//! Each run of ops-probe reads 4 times and then renames one mailbox of its
//! own (`Set-Mailbox -DisplayName`), so the tenants' own state shows every
//! write landed, and their request counters show none was sent twice.
//!
//! For each worker count it prints: the throughput (runs a second from the
//! first request to the last end), the most runs of one tenant at once
//! against its limit (from the history's start and end times), each
//! tenant's calls a second against its budget and the 429s it answered,
//! and the checks: runs lost, calls sent more than once, writes missing,
//! run starts in the workers' audit trails. A failed check panics.
//! `EXORUN_BENCH_RUNS` changes the number of runs (default 1,000).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use exorun_e2e::{Nats, ServeDir, SimHarness, release_exorun};
use exorun_sim_tenant::Caller;
use serde_json::{Value, json};

const TENANTS: usize = 5;
/// Each tenant's budget, calls a second.
const BUDGETS: [f64; TENANTS] = [100.0, 150.0, 200.0, 250.0, 300.0];
const LIMIT: u32 = 3;
const READS: u64 = 4;
const CALLS_PER_RUN: u64 = READS + 1;
const MAX_RUNS_PER_WORKER: u32 = 6;

struct Measured {
    workers: usize,
    wall: Duration,
    overlap: BTreeMap<String, usize>,
    rates: BTreeMap<String, f64>,
    throttled: u64,
    by_worker: BTreeMap<String, usize>,
}

fn main() {
    let runs: usize = std::env::var("EXORUN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    assert!(exorun_e2e::use_exorun_binary(release_exorun()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut results = Vec::new();
    for workers in 1..=3 {
        let m = runtime.block_on(experiment(workers, runs));
        println!(
            "{} worker(s): {runs} runs in {:.1} s = {:.1} runs/s; runs per worker {:?}; most at once per tenant {:?} (limit {LIMIT}); calls/s per tenant {:?} (budgets {BUDGETS:?}); 429s {}",
            m.workers,
            m.wall.as_secs_f64(),
            runs as f64 / m.wall.as_secs_f64(),
            m.by_worker,
            m.overlap,
            m.rates
                .iter()
                .map(|(t, r)| format!("{t} {r:.0}"))
                .collect::<Vec<_>>(),
            m.throttled
        );
        results.push(m);
    }
    println!("\n| workers | runs/s | wall s | most at once per tenant (limit {LIMIT}) | 429s |");
    println!("|---|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {:.1} | {:.1} | {} | {} |",
            m.workers,
            runs as f64 / m.wall.as_secs_f64(),
            m.wall.as_secs_f64(),
            m.overlap.values().max().copied().unwrap_or(0),
            m.throttled
        );
    }
}

async fn experiment(workers: usize, runs: usize) -> Measured {
    // One simulated tenant per budget, with a profile each.
    let mut sims = Vec::new();
    for (i, budget) in BUDGETS.iter().enumerate() {
        let budget = *budget;
        sims.push(
            SimHarness::start_with("tests/plugins/ops-probe", 250, i as u64 + 1, move |c| {
                c.throttle = exorun_sim::ThrottleConfig {
                    budget_per_second: budget,
                    burst: budget,
                    max_concurrency: 1_000_000,
                };
            })
            .await,
        );
    }
    let nats = Nats::start();
    let mut profiles = String::new();
    let mut tenants = String::new();
    for (i, sim) in sims.iter().enumerate() {
        profiles.push_str(&sim.profile(&format!("t{i}")));
        tenants.push_str(&format!(
            "[[tenant]]\nname = \"t{i}\"\nprofile = \"t{i}\"\nmax-concurrent-runs = {LIMIT}\n"
        ));
    }
    let profiles_file = sims[0].path("profiles.toml");
    std::fs::write(&profiles_file, profiles).unwrap();
    let mut dir = ServeDir::with_tenants(
        &format!(
            "[limits]\nmax-concurrent-runs = 64\n[queue]\nnats = \"{}\"\n",
            nats.url
        ),
        &tenants,
    );
    dir.env.push(("EXORUN_CONFIG".to_owned(), profiles_file));
    let service = dir.start();
    let names: Vec<String> = (1..=workers).map(|i| format!("w{i}")).collect();
    let running: Vec<_> = names
        .iter()
        .map(|n| {
            dir.start_worker_with(
                "serve.toml",
                n,
                &["--max-runs", &MAX_RUNS_PER_WORKER.to_string()],
            )
        })
        .collect();

    // The mailboxes each run renames: a different one per run.
    let mailboxes: Vec<Vec<String>> = sims
        .iter()
        .map(|sim| {
            let caller = Caller::exchange_administrator(&sim.sim.info.app_id);
            let all = sim
                .sim
                .tenant
                .execute(
                    &caller,
                    &exorun_cmdlet::Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
                )
                .unwrap();
            all.page(0, 100_000)
                .iter()
                .map(|m| m["PrimarySmtpAddress"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let before: Vec<u64> = sims.iter().map(|s| s.sim.invoke_requests()).collect();

    let started = Instant::now();
    let mut asked: HashMap<String, (usize, String, String)> = HashMap::new();
    for i in 0..runs {
        let t = i % TENANTS;
        let mailbox = mailboxes[t][(i / TENANTS) % mailboxes[t].len()].clone();
        let name = format!("bench run {i}");
        let (status, body) = service
            .post(
                "alice",
                "/runs",
                json!({"plugin": "ops-probe", "tenant": format!("t{t}"),
                       "inputs": {"calls": READS.to_string(), "identity": mailbox, "display-name": name}}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        asked.insert(
            body["run"]["id"].as_str().unwrap().to_owned(),
            (t, mailbox, name),
        );
    }
    // Until every run has ended.
    let rows = loop {
        let list = service.get("vic", "/runs?limit=1000").await;
        let rows: Vec<Value> = list["runs"].as_array().unwrap().clone();
        if rows.len() >= runs.min(1000)
            && rows.iter().all(|r| {
                let s = r["status"].as_str().unwrap_or_default();
                s != "queued" && s != "running"
            })
        {
            break rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "runs never ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = started.elapsed();

    // No run lost: each succeeded.
    for r in &rows {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    let ids: BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), runs);
    // Each tenant got exactly its runs' calls: none lost, none sent twice,
    // and none throttled.
    let mut throttled = 0;
    for (t, sim) in sims.iter().enumerate() {
        let expected = (runs / TENANTS + usize::from(t < runs % TENANTS)) as u64 * CALLS_PER_RUN;
        let made = sim.sim.invoke_requests() - before[t];
        assert_eq!(made, expected, "tenant t{t}: {made} calls for {expected}");
        throttled += sim.sim.throttled_requests();
    }
    assert_eq!(throttled, 0, "the tenants throttled {throttled} calls");
    // Every write is in the tenant's own state.
    for (t, mailbox, name) in asked.values() {
        let caller = Caller::exchange_administrator(&sims[*t].sim.info.app_id);
        let found = sims[*t]
            .sim
            .tenant
            .execute(
                &caller,
                &exorun_cmdlet::Call::new("Get-Mailbox").param("Identity", mailbox.as_str()),
            )
            .unwrap()
            .page(0, 1);
        assert_eq!(found[0]["DisplayName"], name.as_str(), "{mailbox}");
    }
    // Each run started once, on one worker, with one write intent.
    let mut starts: HashMap<String, usize> = HashMap::new();
    let mut intents: HashMap<String, usize> = HashMap::new();
    for n in &names {
        let text = std::fs::read_to_string(dir.path().join(format!("data/audit-worker-{n}.jsonl")))
            .unwrap_or_default();
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            let id = r["runId"].as_str().unwrap_or_default().to_owned();
            match r["kind"].as_str() {
                Some("run-start") => *starts.entry(id).or_default() += 1,
                Some("intent") => *intents.entry(id).or_default() += 1,
                _ => {}
            }
        }
    }
    for id in &ids {
        assert_eq!(starts.get(*id), Some(&1), "run {id} starts");
        assert_eq!(intents.get(*id), Some(&1), "run {id} write intents");
    }

    let mut overlap = BTreeMap::new();
    let mut rates = BTreeMap::new();
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for t in 0..TENANTS {
        let tenant = format!("t{t}");
        let mine: Vec<&Value> = rows.iter().filter(|r| r["tenant"] == tenant).collect();
        let mut edges: Vec<(String, i32)> = Vec::new();
        for r in &mine {
            edges.push((r["started_at"].as_str().unwrap().to_owned(), 1));
            edges.push((r["ended_at"].as_str().unwrap().to_owned(), -1));
        }
        edges.sort();
        let (mut now, mut max) = (0i32, 0i32);
        for (_, step) in &edges {
            now += step;
            max = max.max(now);
        }
        assert!(max as u32 <= LIMIT, "tenant {tenant}: {max} runs at once");
        overlap.insert(tenant.clone(), max as usize);
        let first = edges.first().map(|e| e.0.clone()).unwrap_or_default();
        let last = edges.last().map(|e| e.0.clone()).unwrap_or_default();
        let span = span_seconds(&first, &last).max(0.001);
        rates.insert(tenant, (mine.len() as u64 * CALLS_PER_RUN) as f64 / span);
    }
    for r in &rows {
        *by_worker
            .entry(r["worker"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    for w in running {
        w.terminate();
    }
    service.terminate();
    drop(nats);
    Measured {
        workers,
        wall,
        overlap,
        rates,
        throttled,
        by_worker,
    }
}

fn span_seconds(first: &str, last: &str) -> f64 {
    let a: jiff::Timestamp = first.parse().unwrap();
    let b: jiff::Timestamp = last.parse().unwrap();
    (b - a).total(jiff::Unit::Second).unwrap_or(0.0)
}
