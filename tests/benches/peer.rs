//! exorun against what admins write today (`make bench-peer`, or
//! `EXORUN_TEST_PYTHON=.venv/bin/python cargo bench -p exorun-e2e --bench peer`):
//! the forwarding audit as a plain Python script with msal and requests,
//! serial, honouring `Retry-After` (`tests/benches/peer/forwarding_audit.py`),
//! and `exorun run forwarding-audit`, against one simulated tenant,
//! alternating, whole commands timed (interpreter or binary start, sign-in,
//! every call).
//!
//! Two tenants: 5,000 mailboxes unthrottled, and 2,000 mailboxes at 500
//! calls a second (each run starts with a full bucket). Prints the medians,
//! the ratio, and the 429s each received; both must find the same external
//! forwarding, or the benchmark stops. `EXORUN_BENCH_ROUNDS` (default 5).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use exorun_e2e::{SimHarness, compile_cache, release_exorun, repo_root};
use exorun_sim::ThrottleConfig;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Splits one CSV line (quoted fields with doubled quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// exorun's report as the script's findings: external rows only.
fn exorun_findings(csv: &str) -> BTreeSet<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(csv_fields)
        .filter(|f| f.get(4).map(String::as_str) == Some("true"))
        .map(|f| f[..4].to_vec())
        .collect()
}

struct Scenario {
    name: &'static str,
    mailboxes: usize,
    budget: Option<f64>,
}

fn main() {
    let Some(python) = std::env::var_os("EXORUN_TEST_PYTHON") else {
        println!(
            "EXORUN_TEST_PYTHON is not set: point it at a Python with msal and requests (make bench-peer does)"
        );
        return;
    };
    let exorun = release_exorun();
    let script = repo_root().join("tests/benches/peer/forwarding_audit.py");
    let runtime = exorun_e2e::bench_runtime();
    let rounds = exorun_e2e::bench_rounds(5);
    let scenarios = [
        Scenario {
            name: "unthrottled, 5,000 mailboxes",
            mailboxes: 5000,
            budget: None,
        },
        Scenario {
            name: "500 calls/s, 2,000 mailboxes",
            mailboxes: 2000,
            budget: Some(500.0),
        },
    ];
    for scenario in scenarios {
        let h = runtime.block_on(SimHarness::start_with(
            "plugins/forwarding-audit",
            scenario.mailboxes,
            1,
            |config| {
                if let Some(budget) = scenario.budget {
                    config.throttle = ThrottleConfig {
                        budget_per_second: budget,
                        burst: budget,
                        max_concurrency: 1_000_000,
                    };
                }
            },
        ));
        let info = h.path("info.json");
        std::fs::write(&info, serde_json::to_string(&h.sim.info).unwrap()).unwrap();
        let args = h.connection_args();
        let out = h.path("report.csv");
        let settle = || {
            if scenario.budget.is_some() {
                // A full bucket for every run.
                std::thread::sleep(Duration::from_millis(1500));
            }
        };
        let run_exorun = || {
            settle();
            let throttled = h.sim.throttled_requests();
            let start = Instant::now();
            let output = Command::new(&exorun)
                .args(["run", &h.plugin, "--quiet", "--out"])
                .arg(&out)
                .args(&args)
                .env("XDG_STATE_HOME", h.path("state"))
                .env("XDG_DATA_HOME", h.path("data"))
                .env("EXORUN_CACHE_DIR", &compile_cache().dir)
                .output()
                .expect("run exorun");
            let took = start.elapsed().as_secs_f64();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let findings = exorun_findings(&std::fs::read_to_string(&out).unwrap());
            (took, h.sim.throttled_requests() - throttled, findings)
        };
        let run_script = || {
            settle();
            let start = Instant::now();
            let output = Command::new(&python)
                .arg(&script)
                .arg(&info)
                .env_remove("REQUESTS_CA_BUNDLE")
                .env_remove("CURL_CA_BUNDLE")
                .output()
                .expect("run the peer script");
            let took = start.elapsed().as_secs_f64();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            let findings: BTreeSet<Vec<String>> =
                serde_json::from_value(summary["findings"].clone()).unwrap();
            let calls = summary["calls"].as_u64().unwrap_or(0);
            let throttled = summary["throttled"].as_u64().unwrap_or(0);
            (took, calls, throttled, findings)
        };
        // Warm-up: the compile cache, the interpreter's imports.
        let (_, _, expected) = run_exorun();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut our_429, mut their_429, mut their_calls) = (Vec::new(), Vec::new(), 0);
        for round in 0..rounds {
            let mut exorun_round = || {
                let (took, throttled, findings) = run_exorun();
                assert_eq!(findings, expected, "exorun's findings changed between runs");
                ours.push(took);
                our_429.push(throttled as f64);
            };
            let mut script_round = || {
                let (took, calls, throttled, findings) = run_script();
                assert_eq!(
                    findings, expected,
                    "the script and exorun disagree on the forwarding"
                );
                theirs.push(took);
                their_429.push(throttled as f64);
                their_calls = calls;
            };
            if round % 2 == 0 {
                exorun_round();
                script_round();
            } else {
                script_round();
                exorun_round();
            }
        }
        let (a, b) = (median(ours), median(theirs));
        println!(
            "{}: exorun {:.2} s (median of {rounds}, {:.0} 429s) vs the serial msal + requests script {:.2} s ({:.0} 429s of {} requests, {:.0} %): {:.1}× ; both found the same {} external forwarding entries",
            scenario.name,
            a,
            median(our_429),
            b,
            median(their_429.clone()),
            their_calls,
            median(their_429) * 100.0 / their_calls.max(1) as f64,
            b / a,
            expected.len(),
        );
        runtime.block_on(h.sim.shutdown());
    }
}
