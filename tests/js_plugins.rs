//! The JavaScript example plugins, built from source with the JavaScript SDK
//! (esbuild + componentize-js), run against the simulated tenant in process;
//! what they report and what they change is checked against the tenant itself.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, PageStream, Value};
use exorun_e2e::built_plugin;
use exorun_sandbox::{LogLevel, Plugin, RunReport, RunRequest, Sandbox};
use exorun_sim_tenant::{Caller, GenerateOptions, InProcessBackend, Tenant};
use serde_json::Value as Json;

fn sandbox() -> Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX
        .get_or_init(|| Sandbox::new(exorun_e2e::sandbox_config()).expect("sandbox"))
        .clone()
}

fn dg_membership_report() -> Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            Plugin::load(&sandbox(), &built_plugin("plugins/dg-membership-report"))
                .expect("load dg-membership-report")
        })
        .clone()
}

fn remove_external_forwarding() -> Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            Plugin::load(
                &sandbox(),
                &built_plugin("plugins/remove-external-forwarding"),
            )
            .expect("load remove-external-forwarding")
        })
        .clone()
}

fn tenant() -> Arc<Tenant> {
    Arc::new(Tenant::generate(&GenerateOptions {
        mailboxes: 120,
        seed: 7,
    }))
}

fn admin() -> Caller {
    Caller::exchange_administrator("11111111-2222-3333-4444-555555555555")
}

/// Every object of a call, read straight from the tenant.
fn objects(tenant: &Tenant, call: &Call) -> Vec<Json> {
    let execution = tenant.execute(&admin(), call).expect("tenant call");
    execution.page(0, execution.len())
}

/// A change made straight to the tenant (test setup).
fn execute(tenant: &Tenant, call: Call) {
    let shown = format!("{call:?}");
    tenant
        .execute(&admin(), &call)
        .unwrap_or_else(|e| panic!("{shown}: {e:?}"));
}

fn text(object: &Json, key: &str) -> String {
    object[key].as_str().unwrap_or_default().to_owned()
}

fn texts(values: &[&str]) -> Value {
    Value::Texts(values.iter().map(|v| (*v).to_owned()).collect())
}

/// Parses RFC 4180 CSV (quoted fields, doubled quotes), header included.
fn parse_csv(csv: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the CSV must end with a newline"
    );
    rows
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dg_membership_report_lists_exactly_the_tenants_group_memberships() {
    let tenant = tenant();
    let list_groups = Call::new("Get-DistributionGroup").param("ResultSize", "Unlimited");
    let members_of = |group: &str| {
        Call::new("Get-DistributionGroupMember")
            .param("Identity", group)
            .param("ResultSize", "Unlimited")
    };
    // A group without members must still appear in the report.
    let groups = objects(&tenant, &list_groups);
    let emptied = text(groups.last().expect("groups"), "PrimarySmtpAddress");
    for member in objects(&tenant, &members_of(&emptied)) {
        execute(
            &tenant,
            Call::new("Remove-DistributionGroupMember")
                .param("Identity", emptied.as_str())
                .param("Member", text(&member, "Guid")),
        );
    }

    // Pages of two groups, so the report has to follow the paged read.
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()).with_page_size(2));
    let report = sandbox()
        .run(&dg_membership_report(), RunRequest::new(backend))
        .await;
    let csv = report.outcome.clone().expect("report");

    let groups = objects(&tenant, &list_groups);
    assert!(groups.len() > 2, "more groups than fit in one page");
    let mut expected = vec![strings(&[
        "Group",
        "Group Address",
        "Member",
        "Member Address",
        "Member Type",
    ])];
    let mut member_types = BTreeSet::new();
    for group in &groups {
        let address = text(group, "PrimarySmtpAddress");
        let members = objects(&tenant, &members_of(&address));
        if members.is_empty() {
            expected.push(vec![
                text(group, "DisplayName"),
                address.clone(),
                "".into(),
                "".into(),
                "".into(),
            ]);
        }
        for member in members {
            member_types.insert(text(&member, "RecipientTypeDetails"));
            expected.push(vec![
                text(group, "DisplayName"),
                address.clone(),
                text(&member, "DisplayName"),
                text(&member, "PrimarySmtpAddress"),
                text(&member, "RecipientTypeDetails"),
            ]);
        }
    }
    assert!(
        expected.iter().any(|r| r[1] == emptied && r[2].is_empty()),
        "the emptied group has its own row"
    );
    assert!(
        member_types.len() > 1,
        "members of several types: {member_types:?}"
    );
    assert_eq!(parse_csv(&csv), expected);

    // One paged listing, then one member read per group; nothing denied.
    assert_eq!(report.calls.len(), 1 + groups.len());
    assert_eq!(report.calls[0].call.cmdlet, "Get-DistributionGroup");
    assert_eq!(report.calls[0].outcome, Ok(groups.len() as u64));
    let read: BTreeSet<String> = report.calls[1..]
        .iter()
        .map(|c| {
            assert_eq!(c.call.cmdlet, "Get-DistributionGroupMember");
            c.call
                .get("Identity")
                .and_then(Value::as_text)
                .unwrap()
                .to_owned()
        })
        .collect();
    let wanted: BTreeSet<String> = groups
        .iter()
        .map(|g| text(g, "PrimarySmtpAddress"))
        .collect();
    assert_eq!(read, wanted);
    assert_eq!(report.denials().count(), 0);
    assert_eq!(report.progress, Some((groups.len() as u64, None)));
}

/// Forwarding the generated tenant lacks, so that every rule of the plugin
/// meets a case: internal forwarding by SMTP address, an external rule that
/// is already disabled, a rule forwarding both inside and outside, and a
/// rule target that is an SMTP address inside an accepted domain.
fn forwarding_tenant() -> Arc<Tenant> {
    let tenant = tenant();
    execute(
        &tenant,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks@contoso.com")
            .param("ForwardingSmtpAddress", "Soren.Jensen@FABRIKAM.com"),
    );
    for rule in objects(
        &tenant,
        &Call::new("Get-InboxRule").param("Mailbox", "jose.nunez@contoso.com"),
    ) {
        execute(
            &tenant,
            Call::new("Disable-InboxRule").param("Identity", text(&rule, "Identity")),
        );
    }
    execute(
        &tenant,
        Call::new("New-InboxRule")
            .param("Mailbox", "asa.oberg@contoso.com")
            .param("Name", "Copy to team and home")
            .param(
                "ForwardTo",
                texts(&["soren.jensen@contoso.com", "asa@Partner.Example"]),
            ),
    );
    execute(
        &tenant,
        Call::new("New-InboxRule")
            .param("Mailbox", "francois.dupont@contoso.com")
            .param("Name", "Copy to the shared desk")
            .param("RedirectTo", texts(&["desk@CONTOSO.com"])),
    );
    tenant
}

/// The changes the plugin must make, worked out from the tenant: its CSV
/// rows (without the Result column) and the writes that make them.
fn external_forwarding(tenant: &Tenant) -> (BTreeSet<Vec<String>>, Vec<Call>) {
    let accepted: BTreeSet<String> = objects(tenant, &Call::new("Get-AcceptedDomain"))
        .iter()
        .map(|d| text(d, "DomainName").to_ascii_lowercase())
        .collect();
    let external = |address: &str| {
        address
            .rsplit_once('@')
            .is_none_or(|(_, d)| !accepted.contains(&d.to_ascii_lowercase()))
    };
    let mut rows = BTreeSet::new();
    let mut writes = Vec::new();
    let mailboxes = objects(
        tenant,
        &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
    );
    for m in &mailboxes {
        let smtp = text(m, "PrimarySmtpAddress");
        if let Some(target) = m["ForwardingSmtpAddress"].as_str() {
            let bare = target
                .strip_prefix("smtp:")
                .or_else(|| target.strip_prefix("SMTP:"))
                .unwrap_or(target);
            if external(bare) {
                rows.insert(vec![
                    smtp.clone(),
                    "Cleared ForwardingSmtpAddress".into(),
                    String::new(),
                    String::new(),
                    bare.to_owned(),
                ]);
                writes.push(
                    Call::new("Set-Mailbox")
                        .param("Identity", smtp.as_str())
                        .param("ForwardingSmtpAddress", Value::Null),
                );
            }
        }
        let rules = objects(
            tenant,
            &Call::new("Get-InboxRule").param("Mailbox", smtp.as_str()),
        );
        for rule in rules.iter().filter(|r| r["Enabled"] == Json::Bool(true)) {
            let mut targets: Vec<String> = Vec::new();
            for source in ["ForwardTo", "ForwardAsAttachmentTo", "RedirectTo"] {
                for entry in rule[source].as_array().into_iter().flatten() {
                    let entry = entry.as_str().unwrap_or_default();
                    if let Some(start) = entry.find("[SMTP:") {
                        let address = entry[start + 6..].trim_end_matches(']').to_owned();
                        if external(&address) && !targets.contains(&address) {
                            targets.push(address);
                        }
                    }
                }
            }
            if !targets.is_empty() {
                rows.insert(vec![
                    smtp.clone(),
                    "Disabled inbox rule".into(),
                    text(rule, "Name"),
                    text(rule, "Identity"),
                    targets.join("; "),
                ]);
                writes.push(
                    Call::new("Disable-InboxRule")
                        .param("Identity", text(rule, "Identity"))
                        .param("Mailbox", smtp.as_str()),
                );
            }
        }
    }
    (rows, writes)
}

/// The plugin's rows split into the change and its Result column.
fn changes(csv: &str) -> (BTreeSet<Vec<String>>, BTreeSet<String>) {
    let mut rows = parse_csv(csv);
    assert_eq!(
        rows.remove(0),
        strings(&[
            "Mailbox",
            "Change",
            "Rule",
            "Rule Identity",
            "External Targets",
            "Result"
        ])
    );
    let count = rows.len();
    let mut results = BTreeSet::new();
    let changes: BTreeSet<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            results.insert(r.pop().expect("a Result column"));
            r
        })
        .collect();
    assert_eq!(changes.len(), count, "each change is listed once");
    (changes, results)
}

fn writes(report: &RunReport) -> Vec<&Call> {
    report
        .calls
        .iter()
        .map(|c| &c.call)
        .filter(|c| !c.cmdlet.starts_with("Get-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_external_forwarding_ends_all_external_forwarding_and_lists_each_change() {
    let tenant = forwarding_tenant();
    let before = tenant.to_json();
    let (wanted, wanted_writes) = external_forwarding(&tenant);
    assert!(
        wanted
            .iter()
            .any(|r| r[1] == "Cleared ForwardingSmtpAddress")
            && wanted.iter().any(|r| r[1] == "Disabled inbox rule"),
        "the tenant forwards outside by both means: {wanted:?}"
    );

    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()).with_page_size(7));
    let report = sandbox()
        .run(&remove_external_forwarding(), RunRequest::new(backend))
        .await;
    let csv = report.outcome.clone().expect("run");
    let (listed, results) = changes(&csv);
    assert_eq!(listed, wanted);
    assert_eq!(results, BTreeSet::from(["done".to_owned()]));
    // The mixed rule is disabled, and only its external target is named.
    assert!(
        listed.iter().any(|r| r[0] == "asa.oberg@contoso.com"
            && r[2] == "Copy to team and home"
            && r[4] == "asa@Partner.Example"),
        "{listed:?}"
    );

    // Nothing forwards outside any more…
    let (left, _) = external_forwarding(&tenant);
    assert_eq!(left, BTreeSet::new());
    // …and the tenant is exactly the old one with the listed writes applied:
    // internal forwarding, disabled rules and everything else are untouched.
    let model = Tenant::from_json(&before).expect("reload the tenant");
    for call in &wanted_writes {
        execute(&model, call.clone());
    }
    assert_eq!(tenant.to_json(), model.to_json());
    let zoe = objects(
        &tenant,
        &Call::new("Get-Mailbox").param("Identity", "zoe.brooks@contoso.com"),
    );
    assert_eq!(
        zoe[0]["ForwardingSmtpAddress"],
        "smtp:Soren.Jensen@FABRIKAM.com"
    );

    // Exactly one write per listed change, none denied.
    assert_eq!(writes(&report).len(), wanted.len());
    assert_eq!(report.denials().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_external_forwarding_in_what_if_mode_lists_the_same_changes_and_makes_none() {
    let tenant = forwarding_tenant();
    let before = tenant.to_json();
    let (wanted, _) = external_forwarding(&tenant);

    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()));
    let report = sandbox()
        .run(
            &remove_external_forwarding(),
            RunRequest::new(backend).input("what-if", "true"),
        )
        .await;
    let (listed, results) = changes(&report.outcome.clone().expect("run"));
    assert_eq!(listed, wanted);
    assert_eq!(results, BTreeSet::from(["planned".to_owned()]));
    assert_eq!(writes(&report), Vec::<&Call>::new());
    assert_eq!(tenant.to_json(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_external_forwarding_in_a_what_if_run_plans_each_change_and_says_planned() {
    let tenant = forwarding_tenant();
    let before = tenant.to_json();
    let (wanted, wanted_calls) = external_forwarding(&tenant);

    let capture = Arc::new(exorun_plan::WhatIfBackend::new(Arc::new(
        InProcessBackend::new(tenant.clone(), admin()),
    )));
    let report = sandbox()
        .run(
            &remove_external_forwarding(),
            RunRequest::new(capture.clone()).what_if(true),
        )
        .await;
    let (listed, results) = changes(&report.outcome.clone().expect("run"));
    assert_eq!(listed, wanted);
    assert_eq!(results, BTreeSet::from(["planned".to_owned()]));
    // Every change was made into the plan; none reached the tenant.
    assert_eq!(capture.captured().len(), wanted_calls.len());
    assert_eq!(tenant.to_json(), before);
}

/// The tenant, except that the first Disable-InboxRule is throttled once.
struct ThrottleOnce {
    inner: InProcessBackend,
    throttled: AtomicBool,
}

#[async_trait]
impl Backend for ThrottleOnce {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        if call.cmdlet == "Disable-InboxRule" && !self.throttled.swap(true, Ordering::SeqCst) {
            return Err(CmdletError::Throttled {
                retry_after_ms: 300,
            });
        }
        self.inner.open_pages(call).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_external_forwarding_waits_out_throttling_in_its_async_run_and_retries() {
    let tenant = forwarding_tenant();
    let (wanted, _) = external_forwarding(&tenant);
    let backend = Arc::new(ThrottleOnce {
        inner: InProcessBackend::new(tenant.clone(), admin()),
        throttled: AtomicBool::new(false),
    });
    let report = sandbox()
        .run(&remove_external_forwarding(), RunRequest::new(backend))
        .await;
    let (listed, results) = changes(&report.outcome.clone().expect("run"));
    assert_eq!(listed, wanted);
    assert_eq!(results, BTreeSet::from(["done".to_owned()]));
    assert_eq!(external_forwarding(&tenant).0, BTreeSet::new());

    // The throttled write was sent again, after the wait the tenant asked for.
    let throttled: Vec<_> = report
        .calls
        .iter()
        .filter(|c| {
            c.outcome
                == Err(CmdletError::Throttled {
                    retry_after_ms: 300,
                })
        })
        .collect();
    assert_eq!(throttled.len(), 1);
    let retried = report
        .calls
        .iter()
        .filter(|c| c.call == throttled[0].call && c.outcome.is_ok())
        .count();
    assert_eq!(retried, 1);
    assert_eq!(writes(&report).len(), wanted.len() + 1);
    assert!(
        report
            .log
            .iter()
            .any(|l| l.level == LogLevel::Warn
                && l.message == "throttled; retrying 1 change in 300 ms"),
        "{:?}",
        report.log
    );
    assert!(report.elapsed.as_millis() >= 300, "{:?}", report.elapsed);
}
