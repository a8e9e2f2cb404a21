//! Object scopes end to end: `tests/plugins/scope-probe` may write only to
//! mailboxes in the Sales department (its `[scope]`), run by the real
//! `exorun` binary against a simulated tenant. It tries to reach a mailbox
//! outside its scope every way Exchange accepts an identity; each try must
//! be refused before it reaches the tenant, lists must show only what is in
//! scope, and the operator policy and `exorun apply` must hold the scope
//! too.

use std::path::PathBuf;

use exorun_cmdlet::Call;
use exorun_e2e::{Exorun, SimHarness};
use exorun_sim_tenant::Caller;
use serde_json::Value as Json;

const PLUGIN: &str = "tests/plugins/scope-probe";
const MAILBOXES: usize = 60;
const SEED: u64 = 3;

struct Setup {
    harness: SimHarness,
    policy_dir: PathBuf,
}

/// A user mailbox as the tenant shows it.
#[derive(Clone, Debug)]
struct Mailbox {
    name: String,
    alias: String,
    guid: String,
    primary: String,
    secondary: String,
    distinguished_name: String,
    department: String,
    country: String,
}

impl Setup {
    async fn start() -> Setup {
        let harness = SimHarness::start(PLUGIN, MAILBOXES, SEED).await;
        let policy_dir = harness.path("policy");
        std::fs::create_dir(&policy_dir).unwrap();
        Setup {
            harness,
            policy_dir,
        }
    }

    fn tenant_call(&self, call: &Call) -> Vec<Json> {
        let admin = Caller::exchange_administrator("11111111-2222-3333-4444-555555555555");
        let execution = self.harness.sim.tenant.execute(&admin, call).unwrap();
        execution.page(0, execution.len())
    }

    /// Every user mailbox, read straight from the tenant.
    fn mailboxes(&self) -> Vec<Mailbox> {
        self.tenant_call(
            &Call::new("Get-Mailbox")
                .param("ResultSize", "Unlimited")
                .param("RecipientTypeDetails", "UserMailbox"),
        )
        .iter()
        .map(|m| {
            let text = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            let primary = text("PrimarySmtpAddress");
            let secondary = m["EmailAddresses"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Json::as_str)
                .find_map(|a| a.strip_prefix("smtp:"))
                .unwrap()
                .to_owned();
            Mailbox {
                name: text("Name"),
                alias: text("Alias"),
                guid: text("Guid"),
                primary,
                secondary,
                distinguished_name: text("DistinguishedName"),
                department: text("Department"),
                country: text("CustomAttribute1"),
            }
        })
        .collect()
    }

    /// A Sales mailbox (in scope) and one of another department (out).
    fn inside_and_outside(&self) -> (Mailbox, Mailbox) {
        let all = self.mailboxes();
        let inside = all.iter().find(|m| m.department == "Sales").unwrap();
        let outside = all
            .iter()
            .find(|m| !m.department.is_empty() && m.department != "Sales")
            .unwrap();
        (inside.clone(), outside.clone())
    }

    /// `CustomAttribute5` of the mailbox `identity`, read from the tenant.
    fn tag(&self, identity: &str) -> String {
        self.tenant_call(&Call::new("Get-Mailbox").param("Identity", identity))[0]
            ["CustomAttribute5"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn exorun(&self, args: &[&str]) -> Exorun {
        let mut command = self.harness.command(args);
        command.env("EXORUN_POLICY_DIR", &self.policy_dir);
        exorun_e2e::run_blocking(command).await
    }

    /// Runs the probe with `action` over `targets` (one per line).
    async fn probe(&self, action: &str, targets: &[&str], extra: &[&str]) -> Exorun {
        let action = format!("action={action}");
        let targets = format!("targets={}", targets.join("\n"));
        let mut args = vec![
            "run",
            self.harness.plugin.as_str(),
            "--input",
            &action,
            "--input",
            &targets,
        ];
        args.extend_from_slice(extra);
        self.exorun(&args).await
    }

    fn denied_calls(&self) -> Vec<Json> {
        self.harness
            .audit()
            .into_iter()
            .filter(|r| r["kind"] == "call" && r["outcome"] == "denied")
            .collect()
    }
}

/// The probe's output lines.
fn lines(out: &Exorun) -> Vec<String> {
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    out.stdout.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_outside_the_scope_is_refused_however_the_target_is_named() {
    let setup = Setup::start().await;
    let (inside, outside) = setup.inside_and_outside();
    let out_wildcard = format!("{}*", &outside.alias[..3]);
    let targets = [
        inside.primary.as_str(),
        outside.alias.as_str(),
        outside.guid.as_str(),
        outside.secondary.as_str(),
        outside.distinguished_name.as_str(),
        outside.name.as_str(),
        &out_wildcard,
        "*",
        "no-such-mailbox@nowhere.example",
    ];
    let out = setup.probe("write", &targets, &[]).await;
    let refused = "denied scope:out-of-scope:Set-Mailbox/Identity";
    let unresolved = "denied scope:unresolved:Set-Mailbox/Identity";
    assert_eq!(
        lines(&out),
        [
            format!("{}: ok 0", inside.primary),
            format!("{}: {refused}", outside.alias),
            format!("{}: {refused}", outside.guid),
            format!("{}: {refused}", outside.secondary),
            format!("{}: {refused}", outside.distinguished_name),
            format!("{}: {refused}", outside.name),
            format!("{out_wildcard}: {unresolved}"),
            format!("*: {unresolved}"),
            format!("no-such-mailbox@nowhere.example: {unresolved}"),
        ]
    );
    // Six lookups: wildcards are refused without one, and the name is
    // the alias here (one lookup, cached for the run). The run says so.
    let end = setup
        .harness
        .audit()
        .into_iter()
        .find(|r| r["kind"] == "run-end")
        .unwrap();
    assert_eq!(outside.name, outside.alias);
    assert_eq!(end["scopeLookups"], 6, "{end}");
    assert!(
        out.stderr
            .contains("9 cmdlet calls (8 denied, 0 failed; 6 scope lookups)"),
        "{}",
        out.stderr
    );
    // Only the mailbox in scope was changed.
    assert_eq!(setup.tag(&inside.primary), "probed");
    assert_eq!(setup.tag(&outside.primary), "");
    // Each refusal is in the audit trail with its rule and says why.
    let denied = setup.denied_calls();
    assert_eq!(denied.len(), 8, "{denied:#?}");
    let by_alias = denied
        .iter()
        .find(|r| r["parameters"]["Identity"] == outside.alias.as_str())
        .unwrap();
    assert_eq!(by_alias["rule"], "scope:out-of-scope:Set-Mailbox/Identity");
    assert_eq!(
        by_alias["message"],
        format!(
            "denied by scope:out-of-scope:Set-Mailbox/Identity: Set-Mailbox -Identity '{}' is {}, outside the recipients this plugin may touch: the manifest's [scope] requires Department -eq 'Sales'",
            outside.alias, outside.primary
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_rule_calls_are_scoped_by_the_mailbox_in_either_parameter() {
    let setup = Setup::start().await;
    let (inside, outside) = setup.inside_and_outside();
    // `<in>\<out>\1`: the host cannot tell where Exchange would end the
    // mailbox part (domain\account is an identity too), so it refuses.
    let both = format!("{}\\{}", inside.alias, outside.alias);
    let out = setup
        .probe("rules", &[&inside.alias, &outside.alias, &both], &[])
        .await;
    let lines = lines(&out);
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("-Mailbox {}: ok ", inside.alias)),
        "{lines:?}"
    );
    // The rule id does not exist, but the call was let through to find out.
    assert_eq!(
        lines[1],
        format!("-Identity {}\\1: not-found", inside.alias)
    );
    assert_eq!(
        lines[2..],
        [
            format!(
                "-Mailbox {}: denied scope:out-of-scope:Get-InboxRule/Mailbox",
                outside.alias
            ),
            format!(
                "-Identity {}\\1: denied scope:out-of-scope:Get-InboxRule/Identity",
                outside.alias
            ),
            format!("-Mailbox {both}: denied scope:unresolved:Get-InboxRule/Mailbox"),
            format!("-Identity {both}\\1: denied scope:unresolved:Get-InboxRule/Identity"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_shows_only_recipients_inside_the_scope() {
    let setup = Setup::start().await;
    let (inside, outside) = setup.inside_and_outside();
    let sales: Vec<String> = setup
        .tenant_call(&Call::new("Get-Mailbox").param("ResultSize", "Unlimited"))
        .iter()
        .filter(|m| m["Department"] == "Sales")
        .map(|m| format!("  {} Sales", m["PrimarySmtpAddress"].as_str().unwrap()))
        .collect();
    assert!(sales.len() > 1 && sales.len() < MAILBOXES, "{sales:?}");
    let out = setup
        .probe("list", &[&inside.primary, &outside.primary], &[])
        .await;
    let mut expected = vec![format!("all: ok {}", sales.len())];
    expected.extend(sales);
    expected.push(format!("{}: ok 1", inside.primary));
    // Out of scope reads as if it were not there.
    expected.push(format!("{}: ok 0", outside.primary));
    assert_eq!(lines(&out), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cmdlet_whose_target_exorun_cannot_tell_is_refused_to_a_scoped_plugin() {
    let setup = Setup::start().await;
    let out = setup.probe("unscoped", &[], &[]).await;
    assert_eq!(
        lines(&out),
        ["Set-TransportConfig: denied scope:cmdlet-unscoped:Set-TransportConfig"]
    );
    let denied = setup.denied_calls();
    assert_eq!(denied.len(), 1);
    assert!(
        denied[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("denied by scope:cmdlet-unscoped:Set-TransportConfig: Set-TransportConfig is not in exorun's table of cmdlets whose target recipient it knows"),
        "{}",
        denied[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_policy_narrows_the_scope_and_is_named_in_the_refusal() {
    let setup = Setup::start().await;
    let all = setup.mailboxes();
    let sales: Vec<&Mailbox> = all.iter().filter(|m| m.department == "Sales").collect();
    let country = &sales[0].country;
    let other = sales
        .iter()
        .find(|m| &m.country != country)
        .expect("two Sales mailboxes in different countries");
    let policy = format!("[plugin.scope-probe]\nscope = \"CustomAttribute1 -eq '{country}'\"\n");
    std::fs::write(setup.policy_dir.join("default.toml"), policy).unwrap();
    let out = setup
        .probe("write", &[&sales[0].primary, &other.primary], &[])
        .await;
    assert_eq!(
        lines(&out),
        [
            format!("{}: ok 0", sales[0].primary),
            format!(
                "{}: denied scope:out-of-scope:Set-Mailbox/Identity",
                other.primary
            ),
        ]
    );
    let denied = setup.denied_calls();
    assert!(
        denied[0]["message"].as_str().unwrap().ends_with(&format!(
            "the operator policy (default policy, line 2) requires CustomAttribute1 -eq '{country}'"
        )),
        "{}",
        denied[0]
    );
    assert_eq!(setup.tag(&other.primary), "");

    // inspect --effective shows both scopes.
    let output = exorun_e2e::exorun_command()
        .env("EXORUN_POLICY_DIR", &setup.policy_dir)
        .args(["inspect", &setup.harness.plugin, "--effective"])
        .output()
        .unwrap();
    let inspect = Exorun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        inspect
            .stdout
            .contains("Department -eq 'Sales'  [manifest]")
            && inspect.stdout.contains(&format!(
                "CustomAttribute1 -eq '{country}'  [policy: default policy, line 2]"
            )),
        "{}{}",
        inspect.stdout,
        inspect.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_checks_each_planned_target_against_the_scope_again() {
    let setup = Setup::start().await;
    let (inside, _) = setup.inside_and_outside();
    let plan = setup.harness.path("probe.plan.json");
    let out = setup
        .probe(
            "write",
            &[&inside.primary],
            &["--what-if", "--plan", plan.to_str().unwrap()],
        )
        .await;
    assert_eq!(lines(&out), [format!("{}: ok 0", inside.primary)]);
    assert_eq!(setup.tag(&inside.primary), "", "a what-if run wrote");

    // Since the plan was made, the mailbox moved to another department.
    // (Written straight into the tenant, as an HR sync would.)
    setup.tenant_call(
        &Call::new("Set-User")
            .param("Identity", inside.primary.as_str())
            .param("Department", "Finance"),
    );
    let out = setup
        .exorun(&[
            "apply",
            plan.to_str().unwrap(),
            "--plugin",
            &setup.harness.plugin,
            "--yes",
        ])
        .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("scope:out-of-scope:Set-Mailbox/Identity"),
        "{}",
        out.stderr
    );
    assert_eq!(setup.tag(&inside.primary), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_of_a_batch_is_held_to_the_scope() {
    let setup = Setup::start().await;
    let (inside, outside) = setup.inside_and_outside();
    let out = setup
        .probe(
            "batch",
            &[&outside.primary, &inside.primary, &outside.guid],
            &[],
        )
        .await;
    assert_eq!(
        lines(&out),
        [
            format!(
                "{}: denied scope:out-of-scope:Set-Mailbox/Identity",
                outside.primary
            ),
            format!("{}: ok 0", inside.primary),
            format!(
                "{}: denied scope:out-of-scope:Set-Mailbox/Identity",
                outside.guid
            ),
        ]
    );
    assert_eq!(setup.tag(&inside.primary), "probed");
    assert_eq!(setup.tag(&outside.primary), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_what_if_run_plans_only_the_writes_inside_the_scope() {
    let setup = Setup::start().await;
    let (inside, outside) = setup.inside_and_outside();
    let plan = setup.harness.path("probe.plan.json");
    let out = setup
        .probe(
            "write",
            &[&inside.primary, &outside.alias],
            &["--what-if", "--plan", plan.to_str().unwrap()],
        )
        .await;
    assert_eq!(
        lines(&out),
        [
            format!("{}: ok 0", inside.primary),
            format!(
                "{}: denied scope:out-of-scope:Set-Mailbox/Identity",
                outside.alias
            ),
        ]
    );
    let planned = exorun_plan::Plan::read(&plan).unwrap().plan.calls;
    let identities: Vec<_> = planned
        .iter()
        .map(|c| format!("{:?}", c.get("Identity")))
        .collect();
    assert_eq!(
        identities,
        [format!(
            "{:?}",
            Some(exorun_cmdlet::Value::Text(inside.primary.clone()))
        )]
    );
    assert_eq!(setup.tag(&inside.primary), "", "a what-if run wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_may_not_add_members_to_a_group_its_scope_is_defined_by() {
    let setup = Setup::start().await;
    let groups =
        setup.tenant_call(&Call::new("Get-DistributionGroup").param("ResultSize", "Unlimited"));
    let distribution: Vec<String> = groups
        .iter()
        .filter(|g| g["RecipientTypeDetails"] == "MailUniversalDistributionGroup")
        .map(|g| g["PrimarySmtpAddress"].as_str().unwrap().to_owned())
        .collect();
    let members_of = |group: &str| -> Vec<String> {
        setup
            .tenant_call(&Call::new("Get-DistributionGroupMember").param("Identity", group))
            .iter()
            .map(|m| {
                m["PrimarySmtpAddress"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    // The scope's own group: the smallest, so that someone is outside it.
    let mut by_size: Vec<&String> = distribution.iter().collect();
    by_size.sort_by_key(|g| members_of(g).len());
    let (own, other_group) = (by_size[0], by_size[1]);
    let members_of_own = || members_of(own);
    let before = members_of_own();
    let outsider = setup
        .mailboxes()
        .into_iter()
        .find(|m| !before.contains(&m.primary))
        .unwrap();
    // In scope: the distribution groups themselves, and members of `own`.
    let scope = format!(
        "recipients = \"RecipientTypeDetails -eq 'MailUniversalDistributionGroup' -or MemberOfGroup -eq '{own}'\""
    );
    let plugin = exorun_e2e::plugin_copy(PLUGIN, &setup.harness.path("copy"), |text| {
        text.replace("recipients = \"Department -eq 'Sales'\"", &scope)
    });
    let plugin = plugin.display().to_string();
    let targets = |group: &str| format!("targets={group}\n{}", outsider.primary);
    let add = ["run", &plugin, "--input", "action=add-member", "--input"];
    // Into another group in scope: the member is not the target, as in
    // Exchange's own scopes.
    let out = setup
        .exorun(&[&add[..], &[&targets(other_group)]].concat())
        .await;
    assert_eq!(
        lines(&out),
        [format!("{other_group} += {}: ok 0", outsider.primary)]
    );
    // Into the group that defines the scope: that would widen it.
    let out = setup.exorun(&[&add[..], &[&targets(own)]].concat()).await;
    assert_eq!(
        lines(&out),
        [format!(
            "{own} += {}: denied scope:own-scope-group:Add-DistributionGroupMember",
            outsider.primary
        )]
    );
    assert_eq!(members_of_own(), before, "the scope's own group changed");
}
