use exorun_cmdlet::{Call, Value as P};
use serde_json::json;

use crate::{admin, fail, one, run, tenant};

#[test]
fn inbox_rule_lifecycle_new_get_disable_set_remove() {
    let t = tenant();
    let created = one(
        &t,
        Call::new("New-InboxRule")
            .param("Mailbox", "zoe.brooks@contoso.com")
            .param("Name", "Forward invoices")
            .param("SubjectContainsWords", "invoice")
            .param(
                "ForwardTo",
                P::Texts(vec!["soren.jensen".into(), "books@outside.example".into()]),
            ),
    );
    let rule_id = created["RuleIdentity"].as_str().unwrap().to_owned();
    assert!(rule_id.parse::<u64>().unwrap() > i64::MAX as u64);
    assert_eq!(created["Identity"], format!("zoe.brooks\\{rule_id}"));
    assert_eq!(created["MailboxOwnerId"], "zoe.brooks");
    assert_eq!(created["Enabled"], true);
    let forward_to = created["ForwardTo"].as_array().unwrap();
    assert!(forward_to[0].as_str().unwrap().starts_with("\"Søren Jensen\" [EX:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn="));
    assert_eq!(
        forward_to[1],
        "\"books@outside.example\" [SMTP:books@outside.example]"
    );
    assert_eq!(created["ForwardTo@odata.type"], "#Collection(String)");

    let listed = run(
        &t,
        Call::new("Get-InboxRule").param("Mailbox", "zoe.brooks"),
    );
    assert!(listed.iter().any(|r| r["RuleIdentity"] == rule_id.as_str()));

    let identity = format!("zoe.brooks\\{rule_id}");
    assert_eq!(
        t.execute(
            &admin(),
            &Call::new("Disable-InboxRule")
                .param("Identity", identity.as_str())
                .param("Confirm", false)
        )
        .unwrap()
        .len(),
        0
    );
    let got = one(
        &t,
        Call::new("Get-InboxRule").param("Identity", identity.as_str()),
    );
    assert_eq!(got["Enabled"], false);

    run(
        &t,
        Call::new("Enable-InboxRule")
            .param("Mailbox", "zoe.brooks")
            .param("Identity", "Forward invoices"),
    );
    run(
        &t,
        Call::new("Set-InboxRule")
            .param("Identity", identity.as_str())
            .param("ForwardTo", P::Null)
            .param("DeleteMessage", true),
    );
    let got = one(
        &t,
        Call::new("Get-InboxRule")
            .param("Mailbox", "zoe.brooks")
            .param("Identity", rule_id.as_str()),
    );
    assert_eq!(got["Enabled"], true);
    assert_eq!(got["ForwardTo"], json!([]));
    assert_eq!(got["DeleteMessage"], true);

    run(
        &t,
        Call::new("Remove-InboxRule")
            .param("Identity", identity.as_str())
            .param("Confirm", false),
    );
    let err = fail(
        &t,
        Call::new("Get-InboxRule").param("Identity", identity.as_str()),
    );
    assert_eq!(err.status, 404);
    assert_eq!(
        run(
            &t,
            Call::new("Get-InboxRule").param("Mailbox", "zoe.brooks")
        )
        .len(),
        listed.len() - 1
    );
}

#[test]
fn new_inbox_rule_at_a_priority_pushes_others_down() {
    let t = tenant();
    let before = run(
        &t,
        Call::new("Get-InboxRule").param("Mailbox", "lukasz.kowalski"),
    );
    assert_eq!(before.len(), 2);
    run(
        &t,
        Call::new("New-InboxRule")
            .param("Mailbox", "lukasz.kowalski")
            .param("Name", "First")
            .param("Priority", P::Int(1))
            .param("MarkAsRead", true),
    );
    let after = run(
        &t,
        Call::new("Get-InboxRule").param("Mailbox", "lukasz.kowalski"),
    );
    let names: Vec<_> = after
        .iter()
        .map(|r| {
            (
                r["Name"].as_str().unwrap().to_owned(),
                r["Priority"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("First".into(), 1),
            ("Redirect invoices".into(), 2),
            ("Copy to Søren".into(), 3)
        ]
    );
}

#[test]
fn generated_rules_forward_and_redirect_externally() {
    let t = tenant();
    let jose = one(
        &t,
        Call::new("Get-InboxRule").param("Mailbox", "jose.nunez"),
    );
    assert_eq!(
        jose["ForwardTo"],
        json!(["\"jose.nunez.private@outlook.com\" [SMTP:jose.nunez.private@outlook.com]"])
    );
    let lukasz = run(
        &t,
        Call::new("Get-InboxRule").param("Mailbox", "lukasz.kowalski"),
    );
    assert_eq!(
        lukasz[0]["RedirectTo"],
        json!(["\"lukasz@example.org\" [SMTP:lukasz@example.org]"])
    );
    assert!(
        lukasz[1]["ForwardTo"][0]
            .as_str()
            .unwrap()
            .contains("[EX:/o=ExchangeLabs/")
    );
}

#[test]
fn get_inbox_rule_app_only_needs_a_mailbox() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-InboxRule"));
    assert_eq!(err.status, 404);
    assert_eq!(err.string_id, "Ex6F9304");
}

#[test]
fn new_inbox_rule_refuses_an_unresolvable_target() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("New-InboxRule")
            .param("Mailbox", "admin")
            .param("Name", "x")
            .param("RedirectTo", "nobody-here"),
    );
    assert_eq!(err.status, 404);
    assert!(
        run(&t, Call::new("Get-InboxRule").param("Mailbox", "admin"))
            .iter()
            .all(|r| r["Name"] != "x")
    );
}
