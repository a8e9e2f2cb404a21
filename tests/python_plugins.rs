//! The Python example plugins, built from source with componentize-py and
//! the exorun Python SDK, run against the simulated tenant in process; what
//! they report and what they change is checked against the tenant itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use exorun_cmdlet::{Backend, Call, CmdletError, Object, PageStream};
use exorun_e2e::built_plugin;
use exorun_sandbox::{Decision, Plugin, RunError, RunReport, RunRequest, Sandbox};
use exorun_sim_tenant::{Caller, GenerateOptions, InProcessBackend, Tenant};
use serde_json::Value as Json;

fn sandbox() -> Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX
        .get_or_init(|| Sandbox::new(exorun_e2e::sandbox_config()).expect("sandbox"))
        .clone()
}

fn autoreply_report() -> Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            Plugin::load(&sandbox(), &built_plugin("plugins/autoreply-report"))
                .expect("load autoreply-report")
        })
        .clone()
}

fn schedule_out_of_office() -> Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            Plugin::load(&sandbox(), &built_plugin("plugins/schedule-out-of-office"))
                .expect("load schedule-out-of-office")
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

fn text(object: &Json, key: &str) -> String {
    object[key].as_str().unwrap_or_default().to_owned()
}

fn mailboxes(tenant: &Tenant) -> Vec<Json> {
    objects(
        tenant,
        &Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
    )
}

fn auto_reply(tenant: &Tenant, identity: &str) -> Json {
    let mut found = objects(
        tenant,
        &Call::new("Get-MailboxAutoReplyConfiguration").param("Identity", identity),
    );
    assert_eq!(found.len(), 1, "one configuration for {identity}");
    found.remove(0)
}

/// Every mailbox's automatic-reply configuration, by primary address.
fn auto_replies(tenant: &Tenant) -> BTreeMap<String, Json> {
    mailboxes(tenant)
        .iter()
        .map(|m| {
            let smtp = text(m, "PrimarySmtpAddress");
            let config = auto_reply(tenant, &smtp);
            (smtp, config)
        })
        .collect()
}

/// RFC 4180 records (quoted fields may hold commas, quotes and newlines),
/// header included.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the CSV must end with a newline"
    );
    records
}

/// What reached the tenant, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    /// A call reached the backend.
    Open { cmdlet: String, identity: String },
    /// A page was requested: `Some(n)` objects, or `None` at the end.
    Page {
        cmdlet: String,
        objects: Option<usize>,
    },
}

/// The in-process tenant, recording every call and page request.
struct Recording {
    inner: InProcessBackend,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recording {
    fn new(inner: InProcessBackend) -> Self {
        Recording {
            inner,
            events: Arc::default(),
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The identities of the calls that reached the tenant.
    fn identities(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Open { identity, .. } => Some(identity),
                Event::Page { .. } => None,
            })
            .collect()
    }
}

struct RecordingPages {
    inner: Box<dyn PageStream>,
    cmdlet: String,
    events: Arc<Mutex<Vec<Event>>>,
}

#[async_trait]
impl PageStream for RecordingPages {
    async fn next_page(&mut self) -> Result<Option<Vec<Object>>, CmdletError> {
        let page = self.inner.next_page().await?;
        self.events.lock().unwrap().push(Event::Page {
            cmdlet: self.cmdlet.clone(),
            objects: page.as_ref().map(Vec::len),
        });
        Ok(page)
    }
}

#[async_trait]
impl Backend for Recording {
    async fn open_pages(&self, call: &Call) -> Result<Box<dyn PageStream>, CmdletError> {
        self.events.lock().unwrap().push(Event::Open {
            cmdlet: call.cmdlet.clone(),
            identity: call
                .get("Identity")
                .and_then(|v| v.as_text())
                .unwrap_or_default()
                .to_owned(),
        });
        let inner = self.inner.open_pages(call).await?;
        Ok(Box::new(RecordingPages {
            inner,
            cmdlet: call.cmdlet.clone(),
            events: self.events.clone(),
        }))
    }
}

const REPORT_HEADER: [&str; 7] = [
    "PrimarySmtpAddress",
    "DisplayName",
    "AutoReplyState",
    "StartTime",
    "EndTime",
    "ExternalAudience",
    "InternalMessagePreview",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoreply_report_lists_exactly_the_mailboxes_whose_replies_are_on() {
    let tenant = tenant();
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()).with_page_size(25));
    let report = sandbox()
        .run(&autoreply_report(), RunRequest::new(backend))
        .await;
    let csv = report.outcome.clone().expect("report");
    let records = parse_csv(&csv);
    assert_eq!(records[0], REPORT_HEADER);

    let all = mailboxes(&tenant);
    let mut wanted = Vec::new();
    for m in &all {
        let smtp = text(m, "PrimarySmtpAddress");
        let config = auto_reply(&tenant, &smtp);
        let state = text(&config, "AutoReplyState");
        let scheduled = state == "Scheduled";
        if state == "Enabled" || scheduled {
            let window = |key: &str| {
                if scheduled {
                    text(&config, key)
                } else {
                    String::new()
                }
            };
            wanted.push(vec![
                smtp,
                text(m, "DisplayName"),
                state.clone(),
                window("StartTime"),
                window("EndTime"),
                text(&config, "ExternalAudience"),
            ]);
        }
    }
    assert!(
        wanted.iter().any(|r| r[2] == "Enabled") && wanted.iter().any(|r| r[2] == "Scheduled"),
        "the generated tenant has both enabled and scheduled replies: {wanted:?}"
    );
    let listed: Vec<Vec<String>> = records[1..].iter().map(|r| r[..6].to_vec()).collect();
    assert_eq!(listed, wanted);

    // The preview is the internal message as plain text, cut at 60 characters.
    let preview = |smtp: &str| {
        records
            .iter()
            .find(|r| r[0] == smtp)
            .unwrap_or_else(|| panic!("{smtp} is listed"))[6]
            .clone()
    };
    assert_eq!(
        preview("asa.oberg@contoso.com"),
        "Semester! Tillbaka den 15 juli."
    );
    let long = preview("zoe.brooks@contoso.com");
    assert!(
        long.starts_with("I'm away until Monday. For urgent matters contact S"),
        "{long}"
    );
    assert!(long.ends_with('…') && long.chars().count() == 60, "{long}");

    // One paged Get-Mailbox and one configuration read per mailbox.
    assert_eq!(report.calls.len(), 1 + all.len());
    assert_eq!(report.denials().count(), 0);
    assert_eq!(report.progress, Some((all.len() as u64, None)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoreply_report_reads_the_mailboxes_one_page_at_a_time() {
    let tenant = tenant();
    let backend = Arc::new(Recording::new(
        InProcessBackend::new(tenant.clone(), admin()).with_page_size(25),
    ));
    let report = sandbox()
        .run(&autoreply_report(), RunRequest::new(backend.clone()))
        .await;
    report.outcome.expect("report");

    // The next page of mailboxes is asked for only once every mailbox of
    // the previous page has been looked up: one page in memory at a time.
    let all = mailboxes(&tenant);
    let page = |objects: Option<usize>| Event::Page {
        cmdlet: "Get-Mailbox".into(),
        objects,
    };
    let mut wanted = vec![Event::Open {
        cmdlet: "Get-Mailbox".into(),
        identity: String::new(),
    }];
    for chunk in all.chunks(25) {
        wanted.push(page(Some(chunk.len())));
        wanted.extend(chunk.iter().map(|m| Event::Open {
            cmdlet: "Get-MailboxAutoReplyConfiguration".into(),
            identity: text(m, "PrimarySmtpAddress"),
        }));
    }
    wanted.push(page(None));
    let seen: Vec<Event> = backend
        .events()
        .into_iter()
        .filter(|e| !matches!(e, Event::Page { cmdlet, .. } if cmdlet != "Get-Mailbox"))
        .collect();
    assert_eq!(seen, wanted);
}

async fn schedule(backend: Arc<dyn Backend>, inputs: &[(&str, &str)]) -> RunReport {
    let mut request = RunRequest::new(backend);
    for (name, value) in inputs {
        request = request.input(name, value);
    }
    sandbox().run(&schedule_out_of_office(), request).await
}

/// User mailboxes of the tenant's domain whose replies are off.
fn users_without_replies(tenant: &Tenant, count: usize) -> Vec<String> {
    let users: Vec<String> = mailboxes(tenant)
        .iter()
        .filter(|m| text(m, "RecipientTypeDetails") == "UserMailbox")
        .map(|m| text(m, "PrimarySmtpAddress"))
        .filter(|smtp| smtp.ends_with("@contoso.com"))
        .filter(|smtp| text(&auto_reply(tenant, smtp), "AutoReplyState") == "Disabled")
        .take(count)
        .collect();
    assert_eq!(users.len(), count, "the tenant has {count} such users");
    users
}

const START: &str = "2024-09-02T08:00:00Z";
const END: &str = "2024-09-13T17:30:00+02:00";
const MESSAGE: &str = "Away until 13 September; for anything urgent, call the desk.";

/// The configuration a user has after a scheduled reply with the inputs above.
fn assert_scheduled(config: &Json) {
    assert_eq!(text(config, "AutoReplyState"), "Scheduled", "{config}");
    assert_eq!(
        text(config, "StartTime"),
        "2024-09-02T08:00:00.0000000+00:00"
    );
    // 17:30 at +02:00 is 15:30 UTC; the tenant keeps UTC.
    assert_eq!(text(config, "EndTime"), "2024-09-13T15:30:00.0000000+00:00");
    let html = format!("<html><body>{MESSAGE}</body></html>");
    assert_eq!(text(config, "InternalMessage"), html);
    assert_eq!(text(config, "ExternalMessage"), html);
    assert_eq!(text(config, "ExternalAudience"), "Known");
}

/// Every mailbox but `changed` has the configuration it had `before`.
fn assert_untouched_except(
    before: &BTreeMap<String, Json>,
    after: &BTreeMap<String, Json>,
    changed: &[&str],
) {
    assert_eq!(before.len(), after.len());
    for (smtp, config) in before {
        if !changed.contains(&smtp.as_str()) {
            assert_eq!(&after[smtp], config, "{smtp} must be untouched");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_replies_for_the_given_users_and_leaves_the_others_untouched() {
    let tenant = tenant();
    let users = users_without_replies(&tenant, 3);
    let before = auto_replies(&tenant);
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()));
    let report = schedule(
        backend,
        &[
            ("users", &users.join(",")),
            ("start", START),
            ("end", END),
            ("internal-message", MESSAGE),
        ],
    )
    .await;
    let csv = report.outcome.clone().expect("summary");

    let after = auto_replies(&tenant);
    for user in &users {
        assert_scheduled(&after[user]);
    }
    let changed: Vec<&str> = users.iter().map(String::as_str).collect();
    assert_untouched_except(&before, &after, &changed);

    let window = "2024-09-02T08:00:00+00:00 to 2024-09-13T17:30:00+02:00";
    let mut wanted = vec![vec!["User".to_owned(), "Result".into(), "Detail".into()]];
    wanted.extend(
        users
            .iter()
            .map(|u| vec![u.clone(), "scheduled".into(), window.into()]),
    );
    assert_eq!(parse_csv(&csv), wanted);
    assert_eq!(report.calls.len(), 3);
    assert_eq!(report.denials().count(), 0);
    assert_eq!(report.progress, Some((3, Some(3))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_what_if_run_each_user_is_reported_planned_and_nothing_changes() {
    let tenant = tenant();
    let users = users_without_replies(&tenant, 2);
    let before = auto_replies(&tenant);
    let capture = Arc::new(exorun_plan::WhatIfBackend::new(Arc::new(
        InProcessBackend::new(tenant.clone(), admin()),
    )));
    let mut request = RunRequest::new(capture.clone()).what_if(true);
    for (name, value) in [
        ("users", users.join(",").as_str()),
        ("start", START),
        ("end", END),
        ("internal-message", MESSAGE),
    ] {
        request = request.input(name, value);
    }
    let report = sandbox().run(&schedule_out_of_office(), request).await;
    let csv = report.outcome.clone().expect("summary");
    let window = "2024-09-02T08:00:00+00:00 to 2024-09-13T17:30:00+02:00";
    let mut wanted = vec![vec!["User".to_owned(), "Result".into(), "Detail".into()]];
    wanted.extend(
        users
            .iter()
            .map(|u| vec![u.clone(), "planned".into(), window.into()]),
    );
    assert_eq!(parse_csv(&csv), wanted);
    // The writes are in the plan, not in the tenant.
    assert_eq!(capture.captured().len(), 2);
    assert_eq!(auto_replies(&tenant), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_an_unknown_user_and_schedules_the_others() {
    let tenant = tenant();
    let users = users_without_replies(&tenant, 2);
    let before = auto_replies(&tenant);
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()));
    let ghost = "nobody.here@contoso.com";
    let list = format!("{},{ghost},{}", users[0], users[1]);
    let report = schedule(
        backend,
        &[
            ("users", &list),
            ("start", START),
            ("end", END),
            ("internal-message", MESSAGE),
        ],
    )
    .await;
    let csv = report
        .outcome
        .clone()
        .expect("a missing user does not fail the run");

    let records = parse_csv(&csv);
    let results: Vec<(&str, &str)> = records[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        results,
        [
            (users[0].as_str(), "scheduled"),
            (ghost, "not found"),
            (users[1].as_str(), "scheduled"),
        ]
    );
    assert!(records[2][2].contains(ghost), "{:?}", records[2]);

    let after = auto_replies(&tenant);
    assert_scheduled(&after[&users[0]]);
    assert_scheduled(&after[&users[1]]);
    assert_untouched_except(&before, &after, &[&users[0], &users[1]]);
}

/// A mailbox that also has an address in the tenant's second domain
/// (fabrikam.com), outside the manifest's Identity pattern.
fn user_with_fabrikam_address(tenant: &Tenant) -> (String, String) {
    mailboxes(tenant)
        .iter()
        .filter(|m| text(m, "RecipientTypeDetails") == "UserMailbox")
        .find_map(|m| {
            let addresses = m["EmailAddresses"].as_array()?;
            let other = addresses.iter().filter_map(Json::as_str).find_map(|a| {
                a.strip_prefix("smtp:")
                    .filter(|a| a.ends_with("@fabrikam.com"))
            })?;
            Some((text(m, "PrimarySmtpAddress"), other.to_owned()))
        })
        .expect("the generated tenant has a mailbox with a fabrikam.com address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_identity_outside_tenant_domain() {
    let tenant = tenant();
    let (primary, outside) = user_with_fabrikam_address(&tenant);
    // The address names a real mailbox: only the manifest stands between
    // the plugin and that mailbox.
    assert_eq!(auto_reply(&tenant, &outside), auto_reply(&tenant, &primary));
    let before = auto_replies(&tenant);
    let backend = Arc::new(Recording::new(InProcessBackend::new(
        tenant.clone(),
        admin(),
    )));
    let report = schedule(
        backend.clone(),
        &[
            ("users", &outside),
            ("start", START),
            ("end", END),
            ("internal-message", MESSAGE),
        ],
    )
    .await;

    let rule = "validate-pattern:Set-MailboxAutoReplyConfiguration/Identity";
    assert_eq!(report.calls.len(), 1);
    assert!(
        matches!(&report.calls[0].decision, Decision::Denied { rule: r, .. } if r == rule),
        "{:?}",
        report.calls[0].decision
    );
    assert_eq!(backend.events(), [], "nothing may reach the tenant");
    assert_eq!(auto_replies(&tenant), before);
    let Err(RunError::Plugin(message)) = &report.outcome else {
        panic!("a denied user fails the run: {:?}", report.outcome);
    };
    assert!(
        message.starts_with("1 of 1 users could not be changed; per user:\n"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{outside},denied,{rule}: ")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_user_fails_the_run_but_the_allowed_users_are_still_scheduled() {
    let tenant = tenant();
    let (primary, outside) = user_with_fabrikam_address(&tenant);
    let inside = users_without_replies(&tenant, 1).remove(0);
    assert_ne!(inside, primary);
    let before = auto_replies(&tenant);
    let backend = Arc::new(Recording::new(InProcessBackend::new(
        tenant.clone(),
        admin(),
    )));
    let report = schedule(
        backend.clone(),
        &[
            ("users", &format!("{outside},{inside}")),
            ("start", START),
            ("end", END),
            ("internal-message", MESSAGE),
        ],
    )
    .await;

    assert_eq!(backend.identities(), [inside.as_str()]);
    let after = auto_replies(&tenant);
    assert_scheduled(&after[&inside]);
    assert_untouched_except(&before, &after, &[&inside]);
    let Err(RunError::Plugin(message)) = &report.outcome else {
        panic!("a denied user fails the run: {:?}", report.outcome);
    };
    let summary = message
        .split_once('\n')
        .map(|(_, csv)| parse_csv(csv))
        .expect("the error carries the summary");
    let results: Vec<(&str, &str)> = summary[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        results,
        [(outside.as_str(), "denied"), (inside.as_str(), "scheduled")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disables_replies_when_asked_and_keeps_the_messages() {
    let tenant = tenant();
    let user = "zoe.brooks@contoso.com";
    let before = auto_replies(&tenant);
    assert_eq!(text(&before[user], "AutoReplyState"), "Enabled");
    let backend = Arc::new(InProcessBackend::new(tenant.clone(), admin()));
    let report = schedule(backend, &[("users", user), ("disable", "true")]).await;
    let csv = report.outcome.clone().expect("summary");
    assert_eq!(
        parse_csv(&csv)[1],
        [user, "disabled", "automatic replies off"]
    );

    let after = auto_replies(&tenant);
    let mut expected = before[user].clone();
    expected["AutoReplyState"] = "Disabled".into();
    assert_eq!(after[user], expected);
    assert_untouched_except(&before, &after, &[user]);
    let Some(Call { parameters, .. }) = report.calls.first().map(|c| &c.call) else {
        panic!("one call");
    };
    let names: Vec<&str> = parameters.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Identity", "AutoReplyState"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_end_before_the_start_without_touching_any_mailbox() {
    let tenant = tenant();
    let users = users_without_replies(&tenant, 2);
    let backend = Arc::new(Recording::new(InProcessBackend::new(
        tenant.clone(),
        admin(),
    )));
    let report = schedule(
        backend.clone(),
        &[
            ("users", &users.join(",")),
            ("start", "2024-09-13T08:00:00Z"),
            ("end", "2024-09-02T08:00:00Z"),
            ("internal-message", MESSAGE),
        ],
    )
    .await;
    assert_eq!(
        report.outcome,
        Err(RunError::Plugin(
            "end (2024-09-02T08:00:00+00:00) must be after start (2024-09-13T08:00:00+00:00)"
                .into()
        ))
    );
    assert!(report.calls.is_empty());
    assert_eq!(backend.events(), []);
}
