use exorun_cmdlet::{Call, Leaf, Value as P};
use serde_json::json;

use crate::{admin, fail, mailbox, one, run, tenant};

fn table(entries: &[(&str, Leaf)]) -> P {
    P::Table(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

#[test]
fn set_mailbox_forwarding_smtp_address_reads_back_with_smtp_prefix() {
    let t = tenant();
    let e = t
        .execute(
            &admin(),
            &Call::new("Set-Mailbox")
                .param("Identity", "zoe.brooks")
                .param("ForwardingSmtpAddress", "zoe@example.org")
                .param("DeliverToMailboxAndForward", true),
        )
        .unwrap();
    assert_eq!(e.len(), 0);
    let m = mailbox(&t, "zoe.brooks");
    assert_eq!(m["ForwardingSmtpAddress"], "smtp:zoe@example.org");
    assert_eq!(m["DeliverToMailboxAndForward"], true);
}

#[test]
fn set_mailbox_null_clears_forwarding() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "jose.nunez")
            .param("ForwardingSmtpAddress", P::Null)
            .param("ForwardingAddress", P::Null),
    );
    let m = mailbox(&t, "jose.nunez");
    assert_eq!(m["ForwardingSmtpAddress"], serde_json::Value::Null);
    assert_eq!(m["ForwardingAddress"], serde_json::Value::Null);
}

#[test]
fn set_mailbox_forwarding_address_resolves_to_the_recipient_name() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("ForwardingAddress", "soren.jensen@contoso.com"),
    );
    assert_eq!(mailbox(&t, "admin")["ForwardingAddress"], "soren.jensen");
    let err = fail(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("ForwardingAddress", "ghost"),
    );
    assert_eq!(err.status, 404);
}

#[test]
fn set_mailbox_rejects_a_malformed_forwarding_address() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("ForwardingSmtpAddress", "not an address"),
    );
    assert_eq!(err.status, 400);
    assert_eq!(
        mailbox(&t, "admin")["ForwardingSmtpAddress"],
        serde_json::Value::Null
    );
}

#[test]
fn email_addresses_add_and_remove_hashtable_edits_the_list() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks")
            .param(
                "EmailAddresses",
                table(&[(
                    "Add",
                    Leaf::Texts(vec![
                        "zoe@fabrikam.com".into(),
                        "smtp:z.brooks@contoso.com".into(),
                    ]),
                )]),
            ),
    );
    let m = mailbox(&t, "zoe@fabrikam.com");
    assert_eq!(m["Alias"], "zoe.brooks");
    let addresses = m["EmailAddresses"].as_array().unwrap();
    assert!(addresses.contains(&json!("smtp:zoe@fabrikam.com")));
    assert!(addresses.contains(&json!("smtp:z.brooks@contoso.com")));
    assert_eq!(m["PrimarySmtpAddress"], "zoe.brooks@contoso.com");

    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks")
            .param(
                "EmailAddresses",
                table(&[("Remove", Leaf::Text("zoe@fabrikam.com".into()))]),
            ),
    );
    let err = fail(
        &t,
        Call::new("Get-Mailbox").param("Identity", "zoe@fabrikam.com"),
    );
    assert_eq!(err.status, 404);
}

#[test]
fn adding_a_primary_address_demotes_the_old_one() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks")
            .param(
                "EmailAddresses",
                table(&[("Add", Leaf::Text("SMTP:zoe@fabrikam.com".into()))]),
            ),
    );
    let m = mailbox(&t, "zoe.brooks");
    assert_eq!(m["PrimarySmtpAddress"], "zoe@fabrikam.com");
    assert_eq!(m["WindowsEmailAddress"], "zoe@fabrikam.com");
    assert!(
        m["EmailAddresses"]
            .as_array()
            .unwrap()
            .contains(&json!("smtp:zoe.brooks@contoso.com"))
    );
}

#[test]
fn email_addresses_refuse_foreign_domains_and_taken_addresses() {
    let t = tenant();
    let foreign = fail(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks")
            .param(
                "EmailAddresses",
                table(&[("Add", Leaf::Text("zoe@gmail.com".into()))]),
            ),
    );
    assert!(
        foreign.message.contains("isn't an accepted domain"),
        "{}",
        foreign.message
    );
    let taken = fail(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks")
            .param(
                "EmailAddresses",
                table(&[("Add", Leaf::Text("admin@contoso.com".into()))]),
            ),
    );
    assert!(
        taken.message.contains("is already being used"),
        "{}",
        taken.message
    );
}

#[test]
fn email_addresses_full_list_replaces_everything() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "zoe.brooks")
            .param(
                "EmailAddresses",
                P::Texts(vec![
                    "SMTP:zoe.brooks@contoso.com".into(),
                    "zb@contoso.com".into(),
                ]),
            ),
    );
    let m = mailbox(&t, "zb@contoso.com");
    assert_eq!(
        m["EmailAddresses"],
        json!(["SMTP:zoe.brooks@contoso.com", "smtp:zb@contoso.com"])
    );
    // The old onmicrosoft address no longer resolves.
    assert_eq!(
        fail(
            &t,
            Call::new("Get-Mailbox").param("Identity", "zoe.brooks@contoso.onmicrosoft.com")
        )
        .status,
        404
    );
}

#[test]
fn grant_send_on_behalf_to_accepts_lists_and_hashtables() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox").param("Identity", "sales").param(
            "GrantSendOnBehalfTo",
            P::Texts(vec!["zoe.brooks@contoso.com".into()]),
        ),
    );
    assert_eq!(
        mailbox(&t, "sales")["GrantSendOnBehalfTo"],
        json!(["zoe.brooks"])
    );
    run(
        &t,
        Call::new("Set-Mailbox").param("Identity", "sales").param(
            "GrantSendOnBehalfTo",
            table(&[
                ("Add", Leaf::Text("admin".into())),
                ("Remove", Leaf::Text("zoe.brooks".into())),
            ]),
        ),
    );
    assert_eq!(
        mailbox(&t, "sales")["GrantSendOnBehalfTo"],
        json!(["admin"])
    );
}

#[test]
fn set_mailbox_display_name_hidden_and_type() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "francois.dupont")
            .param("DisplayName", "François Dupont-Moreau")
            .param("HiddenFromAddressListsEnabled", true)
            .param("Type", "Shared"),
    );
    let m = mailbox(&t, "francois.dupont");
    assert_eq!(m["DisplayName"], "François Dupont-Moreau");
    assert_eq!(m["HiddenFromAddressListsEnabled"], true);
    assert_eq!(m["RecipientTypeDetails"], "SharedMailbox");
}

#[test]
fn set_mailbox_without_changes_warns() {
    let t = tenant();
    let e = t
        .execute(
            &admin(),
            &Call::new("Set-Mailbox")
                .param("Identity", "admin")
                .param("HiddenFromAddressListsEnabled", false),
        )
        .unwrap();
    assert_eq!(
        e.warnings(),
        ["The command completed successfully but no settings of 'admin' have been modified."]
    );
}

#[test]
fn what_if_changes_nothing() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("DisplayName", "Changed")
            .param("WhatIf", true),
    );
    assert_eq!(mailbox(&t, "admin")["DisplayName"], "MOD Administrator");
}

#[test]
fn auto_reply_set_wraps_messages_in_html_and_validates_the_schedule() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-MailboxAutoReplyConfiguration")
            .param("Identity", "admin@contoso.com")
            .param("AutoReplyState", "scheduled")
            .param("StartTime", "2024-07-01T08:00:00")
            .param("EndTime", "2024-07-15T17:00:00")
            .param("InternalMessage", "Out of office")
            .param("ExternalMessage", "<html><body>Away</body></html>")
            .param("ExternalAudience", "Known"),
    );
    let r = one(
        &t,
        Call::new("Get-MailboxAutoReplyConfiguration").param("Identity", "admin"),
    );
    assert_eq!(r["AutoReplyState"], "Scheduled");
    assert_eq!(r["ExternalAudience"], "Known");
    assert_eq!(r["StartTime"], "2024-07-01T08:00:00.0000000+00:00");
    assert_eq!(r["EndTime"], "2024-07-15T17:00:00.0000000+00:00");
    assert_eq!(
        r["InternalMessage"],
        "<html><body>Out of office</body></html>"
    );
    assert_eq!(r["ExternalMessage"], "<html><body>Away</body></html>");

    let err = fail(
        &t,
        Call::new("Set-MailboxAutoReplyConfiguration")
            .param("Identity", "admin")
            .param("EndTime", "2024-06-01T00:00:00"),
    );
    assert_eq!(err.status, 400);
    let bad_audience = fail(
        &t,
        Call::new("Set-MailboxAutoReplyConfiguration")
            .param("Identity", "admin")
            .param("ExternalAudience", "Everyone"),
    );
    assert!(
        bad_audience.message.contains("None, Known, All"),
        "{}",
        bad_audience.message
    );
}

#[test]
fn generated_auto_replies_include_enabled_and_scheduled() {
    let t = tenant();
    let zoe = one(
        &t,
        Call::new("Get-MailboxAutoReplyConfiguration").param("Identity", "zoe.brooks"),
    );
    assert_eq!(zoe["AutoReplyState"], "Enabled");
    let asa = one(
        &t,
        Call::new("Get-MailboxAutoReplyConfiguration").param("Identity", "asa.oberg"),
    );
    assert_eq!(asa["AutoReplyState"], "Scheduled");
    assert_eq!(asa["StartTime"], "2024-07-01T08:00:00.0000000+00:00");
    assert_eq!(asa["StartTime@data.type"], "System.DateTime");
}

#[test]
fn junk_email_configuration_round_trips() {
    let t = tenant();
    run(
        &t,
        Call::new("Set-MailboxJunkEmailConfiguration")
            .param("Identity", "admin")
            .param("Enabled", false)
            .param(
                "BlockedSendersAndDomains",
                table(&[(
                    "Add",
                    Leaf::Texts(vec!["bad.example".into(), "worse.example".into()]),
                )]),
            ),
    );
    run(
        &t,
        Call::new("Set-MailboxJunkEmailConfiguration")
            .param("Identity", "admin")
            .param(
                "BlockedSendersAndDomains",
                table(&[("Remove", Leaf::Text("bad.example".into()))]),
            ),
    );
    let j = one(
        &t,
        Call::new("Get-MailboxJunkEmailConfiguration").param("Identity", "admin"),
    );
    assert_eq!(j["Enabled"], false);
    assert_eq!(j["BlockedSendersAndDomains"], json!(["worse.example"]));
}

#[test]
fn distribution_group_membership_add_remove_and_duplicates() {
    let t = tenant();
    let before = run(
        &t,
        Call::new("Get-DistributionGroupMember").param("Identity", "Board"),
    )
    .len();
    run(
        &t,
        Call::new("Add-DistributionGroupMember")
            .param("Identity", "Board")
            .param("Member", "sales"),
    );
    let members = run(
        &t,
        Call::new("Get-DistributionGroupMember").param("Identity", "board@contoso.com"),
    );
    assert_eq!(members.len(), before + 1);
    assert!(
        members
            .iter()
            .any(|m| m["Alias"] == "sales" && m["DisplayName"] == "Sales Team")
    );

    let dup = fail(
        &t,
        Call::new("Add-DistributionGroupMember")
            .param("Identity", "Board")
            .param("Member", "sales"),
    );
    assert_eq!(
        dup.class,
        "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"
    );
    assert_eq!(
        dup.message,
        "The recipient \"sales\" is already a member of the group \"Board\"."
    );
    assert_eq!(dup.to_cmdlet_error().kind(), "failed");

    run(
        &t,
        Call::new("Remove-DistributionGroupMember")
            .param("Identity", "Board")
            .param("Member", "sales@contoso.com"),
    );
    assert_eq!(
        run(
            &t,
            Call::new("Get-DistributionGroupMember").param("Identity", "Board")
        )
        .len(),
        before
    );
    let missing = fail(
        &t,
        Call::new("Remove-DistributionGroupMember")
            .param("Identity", "Board")
            .param("Member", "sales"),
    );
    assert_eq!(
        missing.class,
        "Microsoft.Exchange.Management.Tasks.MemberNotFoundException"
    );
}
