//! Rate budgets end to end: `[limits] calls-per-second` from the operator
//! policy paces a run's requests (its calls and its scope's lookups), and
//! `inspect --effective` shows the rate and the weight the policy set.
//! Only lower bounds on time are asserted: a slow machine makes a paced run
//! slower, never faster.

use exorun_e2e::{SimHarness, exorun_command};
use exorun_sim_tenant::Caller;

const PLUGIN: &str = "tests/plugins/scope-probe";

fn millis(record: &serde_json::Value) -> i64 {
    let time = record["time"].as_str().unwrap();
    time.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_rate_spaces_every_request_of_a_run() {
    let harness = SimHarness::start(PLUGIN, 60, 3).await;
    let policy_dir = harness.path("policy");
    std::fs::create_dir(&policy_dir).unwrap();
    std::fs::write(
        policy_dir.join("default.toml"),
        "[plugin.scope-probe.limits]\ncalls-per-second = 20\n",
    )
    .unwrap();
    let admin = Caller::exchange_administrator("11111111-2222-3333-4444-555555555555");
    let call = exorun_cmdlet::Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
    let execution = harness.sim.tenant.execute(&admin, &call).unwrap();
    let sales: Vec<String> = execution
        .page(0, execution.len())
        .iter()
        .filter(|m| m["Department"] == "Sales")
        .map(|m| m["PrimarySmtpAddress"].as_str().unwrap().to_owned())
        .take(5)
        .collect();
    assert_eq!(sales.len(), 5);
    let targets = format!("targets={}", sales.join("\n"));
    let mut command = harness.command(&[
        "run",
        &harness.plugin,
        "--input",
        "action=write",
        "--input",
        &targets,
    ]);
    command.env("EXORUN_POLICY_DIR", &policy_dir);
    let out = exorun_e2e::run_blocking(command).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.matches(": ok 0").count(), 5, "{}", out.stdout);
    // Five writes and five lookups of their targets: ten requests, the
    // last at least nine turns of 50 ms after the first.
    let audit = harness.audit();
    let start = audit.iter().find(|r| r["kind"] == "run-start").unwrap();
    let calls: Vec<_> = audit.iter().filter(|r| r["kind"] == "call").collect();
    assert_eq!(calls.len(), 5);
    let spent = millis(calls[4]) - millis(start);
    assert!(spent >= 400, "ten requests at 20 a second took {spent} ms");

    // inspect --effective shows the rate and where it came from.
    std::fs::write(
        policy_dir.join("default.toml"),
        "[plugin.scope-probe.limits]\ncalls-per-second = 20\nweight = 4\n",
    )
    .unwrap();
    let inspect = exorun_command()
        .env("EXORUN_POLICY_DIR", &policy_dir)
        .args(["inspect", &harness.plugin, "--effective"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        stdout.contains(
            "Limits     memory 32 MiB · timeout 60 s · at most 200 cmdlet calls · at most 20 calls per second · weight 4"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("limits: calls-per-second unlimited → 20")
            && stdout.contains("limits: weight 1 → 4"),
        "{stdout}"
    );
}
