//! The example plugins, built from source, run against the simulated tenant
//! in process; their reports are checked against the tenant itself.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use exorun_cmdlet::{Call, Value};
use exorun_e2e::built_plugin;
use exorun_sandbox::{Plugin, RunRequest, Sandbox, SandboxConfig};
use exorun_sim_tenant::{Caller, GenerateOptions, InProcessBackend, Tenant};
use serde_json::Value as Json;

fn sandbox() -> Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX
        .get_or_init(|| Sandbox::new(SandboxConfig::default()).expect("sandbox"))
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

fn text(object: &Json, key: &str) -> String {
    object[key].as_str().unwrap_or_default().to_owned()
}

fn csv_rows(csv: &str) -> Vec<Vec<String>> {
    // The plugins quote only fields that need it; the simulated tenant's
    // names have no commas in the columns compared here.
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_report_lists_every_user_and_shared_mailbox_with_its_size() {
    let tenant = tenant();
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()).with_page_size(25));
    let plugin = Plugin::load(&sandbox(), &built_plugin("plugins/mailbox-report")).unwrap();
    let report = sandbox()
        .run(&plugin, RunRequest::new(backend.clone()))
        .await;
    let csv = report.outcome.clone().expect("report");

    let expected = objects(
        &tenant,
        &Call::new("Get-Mailbox")
            .param("ResultSize", "Unlimited")
            .param(
                "RecipientTypeDetails",
                Value::Texts(vec!["UserMailbox".into(), "SharedMailbox".into()]),
            ),
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), expected.len());
    let listed: BTreeSet<String> = rows.iter().map(|r| r[2].clone()).collect();
    let wanted: BTreeSet<String> = expected
        .iter()
        .map(|m| text(m, "PrimarySmtpAddress"))
        .collect();
    assert_eq!(listed, wanted);

    // One Get-Mailbox plus one Get-MailboxStatistics per mailbox.
    assert_eq!(report.calls.len(), 1 + expected.len());
    assert_eq!(report.denials().count(), 0);

    // Sizes are the byte counts of the tenant's own statistics.
    let first = &expected[0];
    let stats = objects(
        &tenant,
        &Call::new("Get-MailboxStatistics").param("Identity", text(first, "PrimarySmtpAddress")),
    );
    let size = text(&stats[0], "TotalItemSize");
    let bytes: String = size
        .rsplit_once('(')
        .map(|(_, b)| b.trim_end_matches(" bytes)").replace(',', ""))
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r[2] == text(first, "PrimarySmtpAddress"))
        .unwrap();
    assert_eq!(row[5], bytes);
    assert_eq!(
        report.progress,
        Some((expected.len() as u64, Some(expected.len() as u64)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_audit_finds_exactly_the_external_forwarding_in_the_tenant() {
    let tenant = tenant();
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()));
    let plugin = Plugin::load(&sandbox(), &built_plugin("plugins/forwarding-audit")).unwrap();
    let report = sandbox().run(&plugin, RunRequest::new(backend)).await;
    let csv = report.outcome.clone().expect("audit");

    let accepted: BTreeSet<String> = objects(&tenant, &Call::new("Get-AcceptedDomain"))
        .iter()
        .map(|d| text(d, "DomainName").to_ascii_lowercase())
        .collect();
    let external = |address: &str| {
        let address = address
            .trim_start_matches("smtp:")
            .trim_start_matches("SMTP:");
        address
            .rsplit_once('@')
            .is_none_or(|(_, d)| !accepted.contains(&d.to_ascii_lowercase()))
    };
    let mailboxes = objects(
        &tenant,
        &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
    );
    let mut wanted = BTreeSet::new();
    for m in &mailboxes {
        let smtp = text(m, "PrimarySmtpAddress");
        if let Some(target) = m["ForwardingSmtpAddress"].as_str().filter(|t| external(t)) {
            let target = target
                .trim_start_matches("smtp:")
                .trim_start_matches("SMTP:");
            wanted.insert((
                smtp.clone(),
                "ForwardingSmtpAddress".to_owned(),
                target.to_owned(),
            ));
        }
        for rule in objects(
            &tenant,
            &Call::new("Get-InboxRule").param("Mailbox", smtp.as_str()),
        ) {
            for source in ["ForwardTo", "ForwardAsAttachmentTo", "RedirectTo"] {
                for entry in rule[source].as_array().into_iter().flatten() {
                    let entry = entry.as_str().unwrap_or_default();
                    if let Some(start) = entry.find("[SMTP:") {
                        let address = entry[start + 6..].trim_end_matches(']');
                        if external(address) {
                            wanted.insert((smtp.clone(), source.to_owned(), address.to_owned()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        !wanted.is_empty(),
        "the generated tenant forwards some mail outside"
    );
    let found: BTreeSet<(String, String, String)> = csv_rows(&csv)
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[3].clone()))
        .collect();
    assert_eq!(found, wanted);
    // Accepted domains, the mailbox list, and one Get-InboxRule per mailbox.
    assert_eq!(report.calls.len(), 2 + mailboxes.len());
}
