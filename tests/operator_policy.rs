//! The operator policy end to end: the real `exorun` binary against a
//! simulated tenant, with policy files in a private policy folder and
//! given with `--policy`. A policy only narrows, every refusal names it,
//! and a broken policy stops the run before anything reaches the tenant.

use std::path::PathBuf;

use exorun_e2e::{Exorun, SimHarness, exorun_command};
use exorun_plan::Plan;

const MAILBOXES: usize = 120;
const SEED: u64 = 1;

struct Setup {
    harness: SimHarness,
    policy_dir: PathBuf,
}

impl Setup {
    async fn start() -> Setup {
        let harness = SimHarness::start("tests/plugins/forwarding-cleanup", MAILBOXES, SEED).await;
        let policy_dir = harness.path("policy");
        std::fs::create_dir(&policy_dir).unwrap();
        Setup {
            harness,
            policy_dir,
        }
    }

    fn domain(&self) -> String {
        self.harness.sim.info.initial_domain.clone()
    }

    /// Writes a file into the policy folder.
    fn policy(&self, name: &str, text: &str) -> PathBuf {
        let path = self.policy_dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `exorun <args> <connection flags>` with this setup's policy folder.
    async fn exorun(&self, args: &[&str]) -> Exorun {
        let mut command = self.harness.command(args);
        command.env("EXORUN_POLICY_DIR", &self.policy_dir);
        exorun_e2e::run_blocking(command).await
    }

    /// `exorun <args>` without connection flags (inspect).
    fn offline(&self, args: &[&str]) -> Exorun {
        let output = exorun_command()
            .env("EXORUN_POLICY_DIR", &self.policy_dir)
            .args(args)
            .output()
            .unwrap();
        Exorun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn run(&self, extra: &[&str]) -> Exorun {
        let outputs = self.harness.path("outputs");
        let mut args = vec![
            "run",
            self.harness.plugin.as_str(),
            "--outputs-dir",
            outputs.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.exorun(&args).await
    }

    fn records(&self, kind: &str) -> Vec<serde_json::Value> {
        self.harness
            .audit()
            .into_iter()
            .filter(|r| r["kind"] == kind)
            .collect()
    }

    /// Audit call records of `cmdlet`, by outcome.
    fn outcomes(&self, cmdlet: &str) -> Vec<String> {
        self.records("call")
            .iter()
            .filter(|r| r["cmdlet"] == cmdlet)
            .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_refusal_names_the_policy_rule_and_never_reaches_the_tenant() {
    let setup = Setup::start().await;
    setup.policy(
        "default.toml",
        "# remove nothing\n[plugin.forwarding-cleanup]\ndeny-cmdlets = [\"Remove-*\"]\n",
    );
    let rules_before = setup.harness.sim.tenant.to_json();
    let out = setup.run(&[]).await;
    assert!(
        out.stderr.contains(&format!(
            "exorun: operator policy: default policy ({})",
            setup.policy_dir.join("default.toml").display()
        )),
        "{}",
        out.stderr
    );
    let removes = setup.outcomes("Remove-InboxRule");
    assert!(
        !removes.is_empty(),
        "the plugin made no Remove-InboxRule call"
    );
    assert!(removes.iter().all(|o| o == "denied"), "{removes:?}");
    let denied = setup
        .records("call")
        .into_iter()
        .find(|r| r["cmdlet"] == "Remove-InboxRule")
        .unwrap();
    assert_eq!(denied["rule"], "policy:cmdlet-denied:Remove-InboxRule");
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("refused by the operator policy (default policy, line 3): its deny-cmdlets lists 'Remove-*'"),
        "{denied}"
    );
    // What the policy does not refuse still runs.
    let sets = setup.outcomes("Set-Mailbox");
    assert!(
        !sets.is_empty() && sets.iter().all(|o| o == "ok"),
        "{sets:?}"
    );
    // The run-start record names the policy file by its digest.
    let start = &setup.records("run-start")[0];
    let sha = exorun_build::sha256_file(&setup.policy_dir.join("default.toml")).unwrap();
    assert_eq!(start["policy"], format!("default policy sha256:{sha}"));
    // Every inbox rule the plugin wanted gone is still in the tenant.
    let now = setup.harness.sim.tenant.to_json();
    assert_ne!(
        now, rules_before,
        "the allowed Set-Mailbox calls changed nothing"
    );
    let expected = setup.harness.expected_after(&set_mailbox_calls(&setup));
    assert_eq!(now, expected, "only the allowed calls reached the tenant");
    let verify = setup.offline(&[
        "audit",
        "verify",
        "--audit-log",
        setup.harness.audit_path().to_str().unwrap(),
    ]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

/// The Set-Mailbox calls the audit trail shows were sent, as calls.
fn set_mailbox_calls(setup: &Setup) -> Vec<exorun_cmdlet::Call> {
    setup
        .records("call")
        .iter()
        .filter(|r| r["cmdlet"] == "Set-Mailbox" && r["outcome"] == "ok")
        .map(|r| {
            exorun_cmdlet::Call::new("Set-Mailbox")
                .param("Identity", r["parameters"]["Identity"].as_str().unwrap())
                .param("ForwardingSmtpAddress", exorun_cmdlet::Value::Null)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_file_applies_to_its_tenant_only() {
    let setup = Setup::start().await;
    let domain = setup.domain();
    setup.policy(&format!("{domain}.toml"), "[all]\nforbid-writes = true\n");
    setup.policy(
        "fabrikam.onmicrosoft.com.toml",
        "[all]\ndeny-cmdlets = [\"Get-*\"]\n",
    );
    let before = setup.harness.sim.tenant.to_json();
    let out = setup.run(&[]).await;
    assert_eq!(
        setup.harness.sim.tenant.to_json(),
        before,
        "a write reached the tenant: {}",
        out.stderr
    );
    let writes: Vec<serde_json::Value> = setup
        .records("call")
        .into_iter()
        .filter(|r| r["readOnly"] == false)
        .collect();
    assert!(!writes.is_empty(), "the plugin made no write call");
    for write in &writes {
        assert_eq!(
            write["rule"],
            format!(
                "policy:writes-forbidden:{}",
                write["cmdlet"].as_str().unwrap()
            ),
            "{write}"
        );
    }
    let reads = setup.outcomes("Get-Mailbox");
    assert_eq!(reads, ["ok"], "the other tenant's file applied");
    assert!(
        setup.records("call").iter().any(|r| r["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("(policy for {domain}, line 2)"))),
        "no refusal names the tenant's file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_file_stops_the_run_before_anything_is_sent() {
    let setup = Setup::start().await;
    setup.policy("default.toml", "[all]\nforbid-write = true\n");
    let before = setup.harness.sim.tenant.to_json();
    let out = setup.run(&[]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "default.toml:2:1: unknown field `forbid-write`, expected one of `forbid-writes`"
        ),
        "{}",
        out.stderr
    );
    assert!(setup.harness.audit().is_empty(), "the run started");
    assert_eq!(setup.harness.sim.tenant.to_json(), before);

    // A policy given with --policy that does not exist is no policy at
    // all: an error, never a run without it.
    std::fs::remove_file(setup.policy_dir.join("default.toml")).unwrap();
    let missing = setup.harness.path("no-such-policy.toml");
    let out = setup.run(&["--policy", missing.to_str().unwrap()]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "reading the operator policy {}",
            missing.display()
        )),
        "{}",
        out.stderr
    );
    assert!(setup.harness.audit().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_file_that_is_a_folder_is_an_error_not_skipped() {
    let setup = Setup::start().await;
    std::fs::create_dir(setup.policy_dir.join("default.toml")).unwrap();
    let out = setup.run(&[]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("reading the default policy"),
        "{}",
        out.stderr
    );
    assert!(setup.harness.audit().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_rechecks_every_planned_call_under_the_current_policy() {
    let setup = Setup::start().await;
    let plan = setup.harness.path("cleanup.plan.json");
    let out = setup
        .run(&["--what-if", "--plan", plan.to_str().unwrap()])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!Plan::read(&plan).unwrap().plan.calls.is_empty());
    let before = setup.harness.sim.tenant.to_json();

    // Since the plan was made, the operator forbade writes by this plugin.
    let policy = setup.harness.path("freeze.toml");
    std::fs::write(
        &policy,
        "[plugin.forwarding-cleanup]\nforbid-writes = true\n",
    )
    .unwrap();
    let plugin = setup.harness.plugin.clone();
    let out = setup
        .exorun(&[
            "apply",
            plan.to_str().unwrap(),
            "--plugin",
            &plugin,
            "--yes",
            "--policy",
            policy.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("exorun: apply refused:")
            && out.stderr.contains("policy:writes-forbidden:"),
        "{}",
        out.stderr
    );
    assert_eq!(setup.harness.sim.tenant.to_json(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_call_budget_names_the_policy_when_reached() {
    let setup = Setup::start().await;
    setup.policy("default.toml", "[all.limits]\nmax-calls = 3\n");
    setup.run(&[]).await;
    let over: Vec<serde_json::Value> = setup
        .records("call")
        .into_iter()
        .filter(|r| {
            r["message"].as_str().unwrap_or_default().contains(
                "this run may make at most 3 cmdlet calls (lowered by the operator policy: default policy, line 2)",
            )
        })
        .collect();
    assert!(!over.is_empty(), "{:#?}", setup.harness.audit());
    let sent = setup
        .records("call")
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .count();
    assert!(sent <= 3, "{sent} calls were sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_effective_shows_each_layer_and_what_it_narrowed() {
    let setup = Setup::start().await;
    let domain = setup.domain();
    setup.policy(
        "default.toml",
        "[all.limits]\nmax-calls = 500\n\n[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { pattern = '[a-z.]+@contoso\\.com' }\n",
    );
    setup.policy(
        &format!("{domain}.toml"),
        "[plugin.forwarding-cleanup]\ndeny-cmdlets = [\"Remove-InboxRule\"]\n",
    );
    let plugin = setup.harness.plugin.clone();

    let out = setup.offline(&["inspect", &plugin, "--effective", "--organization", &domain]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        format!("Remove-InboxRule WRITE REFUSED by the policy (policy for {domain}, line 2)"),
        "-Identity matches /[^@\\s]+@[^@\\s]+/ and matches /[a-z.]+@contoso\\.com/".to_owned(),
        "Limits memory 64 MiB · timeout 300 s · at most 500 cmdlet calls".to_owned(),
        "limits: max-calls 10000 → 500 [default policy, line 2]".to_owned(),
        format!(
            "Remove-InboxRule refused (deny-cmdlets 'Remove-InboxRule') [policy for {domain}, line 2]"
        ),
    ] {
        assert!(lines.contains(&expected), "{expected}\n{}", out.stdout);
    }

    // Without --organization only the default policy applies.
    let out = setup.offline(&["inspect", &plugin, "--effective", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["policy"]["files"].as_array().unwrap().len(), 1);
    assert_eq!(json["policy"]["files"][0]["label"], "default policy");
    assert_eq!(json["limits"]["maxCalls"], 500);
    let remove = json["cmdlets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Remove-InboxRule")
        .unwrap();
    assert!(remove.get("refusedBy").is_none());

    // Plain inspect shows the manifest alone, and --policy needs --effective.
    let out = setup.offline(&["inspect", &plugin]);
    assert!(!out.stdout.contains("REFUSED"), "{}", out.stdout);
    let out = setup.offline(&["inspect", &plugin, "--policy", "x.toml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--policy shows its effect with --effective; add --effective"),
        "{}",
        out.stderr
    );
    // A tenant name that is not a domain cannot reach outside the folder.
    let out = setup.offline(&[
        "inspect",
        &plugin,
        "--effective",
        "--organization",
        "../../etc/passwd",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is not a tenant domain"),
        "{}",
        out.stderr
    );
}
