//! Several automations at once against one throttled tenant (run with
//! `cargo bench -p exorun-e2e --bench shared_budget`): N concurrent
//! `exorun run forwarding-audit` processes (release build) against a
//! simulated tenant of 2,000 mailboxes with a budget of 500 calls a second,
//! as an admin's cron jobs would run them.
//!
//! For each setting it prints: runs that finished ok, runs that failed, the
//! total wall time against the ideal (calls ÷ budget), each process's share
//! of the budget against an equal share, and the 429s the tenant answered
//! per 1,000 calls. Settings: 3 and 10 processes sharing the limiter state
//! in one state folder (as every process of one user does), and 3 with a
//! state folder each (clients that know nothing of each other, as on
//! different machines: only the AIMD share makes them converge).
//! Last, 3 with a state folder each that share their pacing through NATS
//! JetStream (`--pace-nats`, a `nats-server -js` on 127.0.0.1), as
//! exorun on three machines would.
//! `EXORUN_BENCH_ROUNDS` repeats each setting (default 1).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exorun_e2e::{SimHarness, compile_cache, release_exorun};
use exorun_sim::ThrottleConfig;

const MAILBOXES: usize = 2000;
const BUDGET: f64 = 500.0;

struct Outcome {
    ok: usize,
    failed: usize,
    wall: Duration,
    calls: u64,
    throttled: u64,
    /// Calls per second of each process.
    rates: Vec<f64>,
}

/// How the processes share their pacing.
#[derive(Clone, Copy, PartialEq)]
enum Sharing {
    /// One state folder: the file every process of a user shares.
    Folder,
    /// A state folder each: nothing shared.
    Nothing,
    /// A state folder each, pacing shared through NATS.
    Nats,
}

fn experiment(
    runtime: &tokio::runtime::Runtime,
    exorun: &std::path::Path,
    processes: usize,
    sharing: Sharing,
    nats: &exorun_e2e::Nats,
) -> Outcome {
    let h = runtime.block_on(SimHarness::start_with(
        "plugins/forwarding-audit",
        MAILBOXES,
        1,
        |config| {
            config.throttle = ThrottleConfig {
                budget_per_second: BUDGET,
                burst: BUDGET,
                max_concurrency: 1_000_000,
            };
        },
    ));
    let args = h.connection_args();
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|i| {
            let state = if sharing == Sharing::Folder {
                h.path("state")
            } else {
                h.path(&format!("state-{i}"))
            };
            let mut command = Command::new(exorun);
            command
                .args(["run", &h.plugin, "--quiet", "--out"])
                .arg(h.path(&format!("out-{i}.csv")))
                .args(&args);
            if sharing == Sharing::Nats {
                command.args(["--pace-nats", &nats.url]);
            }
            let child = command
                .env("XDG_STATE_HOME", state)
                .env("XDG_DATA_HOME", h.path("data"))
                .env("EXORUN_CACHE_DIR", &compile_cache().dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start exorun");
            let start = Instant::now();
            // Each child is waited for on its own thread, so that its own
            // end is what is timed.
            std::thread::spawn(move || {
                let output = child.wait_with_output().expect("wait for exorun");
                (start.elapsed(), output)
            })
        })
        .collect();
    let mut outcome = Outcome {
        ok: 0,
        failed: 0,
        wall: Duration::ZERO,
        calls: 0,
        throttled: 0,
        rates: Vec::new(),
    };
    let per_process = (MAILBOXES + 3) as f64;
    for child in children {
        let (took, output) = child.join().expect("waiting thread");
        if output.status.success() {
            outcome.ok += 1;
        } else {
            outcome.failed += 1;
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        }
        outcome.rates.push(per_process / took.as_secs_f64());
    }
    outcome.wall = started.elapsed();
    outcome.throttled = h.sim.throttled_requests();
    outcome.calls = h.sim.invoke_requests() - outcome.throttled;
    runtime.block_on(h.sim.shutdown());
    outcome
}

fn main() {
    let exorun = release_exorun();
    let runtime = exorun_e2e::bench_runtime();
    let rounds = exorun_e2e::bench_rounds(1);
    // One warm-up run fills the compile cache.
    let nats = exorun_e2e::Nats::start();
    let _ = experiment(&runtime, &exorun, 1, Sharing::Folder, &nats);
    println!(
        "{MAILBOXES} mailboxes, budget {BUDGET} calls/s (bucket of {BUDGET}); forwarding-audit makes {} calls a run",
        MAILBOXES + 3
    );
    for (processes, sharing) in [
        (3, Sharing::Folder),
        (10, Sharing::Folder),
        (3, Sharing::Nothing),
        (3, Sharing::Nats),
    ] {
        for _ in 0..rounds {
            let o = experiment(&runtime, &exorun, processes, sharing, &nats);
            let ideal = o.calls as f64 / BUDGET;
            let mean = o.rates.iter().sum::<f64>() / o.rates.len() as f64;
            let spread = o
                .rates
                .iter()
                .map(|r| (r / mean - 1.0).abs())
                .fold(0.0, f64::max);
            println!(
                "{processes:>2} processes, {}: {} ok, {} failed; wall {:.2} s = {:.3} × calls/budget ({} calls, ideal {:.2} s); shares within ±{:.1} % of equal; {:.1} throttled per 1,000 calls ({} 429s)",
                match sharing {
                    Sharing::Folder => "shared state     ",
                    Sharing::Nothing => "a state each     ",
                    Sharing::Nats => "shared via NATS  ",
                },
                o.ok,
                o.failed,
                o.wall.as_secs_f64(),
                o.wall.as_secs_f64() / ideal,
                o.calls,
                ideal,
                spread * 100.0,
                o.throttled as f64 * 1000.0 / o.calls as f64,
                o.throttled,
            );
        }
    }
}
