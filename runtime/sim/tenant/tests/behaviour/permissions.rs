use exorun_cmdlet::Call;
use serde_json::json;

use crate::{admin, run, tenant};

#[test]
fn every_mailbox_has_a_self_entry_and_shared_mailboxes_have_full_access_delegates() {
    let t = tenant();
    let perms = run(
        &t,
        Call::new("Get-MailboxPermission").param("Identity", "sales"),
    );
    assert_eq!(perms[0]["User"], "NT AUTHORITY\\SELF");
    let users: Vec<_> = perms[1..]
        .iter()
        .map(|p| p["User"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        vec!["zoe.brooks@contoso.com", "francois.dupont@contoso.com"]
    );
    assert_eq!(perms[1]["AccessRights"], json!(["FullAccess"]));
    assert_eq!(perms[1]["IsInherited"], false);
    assert_eq!(perms[1]["Identity"], "Sales Team");
}

#[test]
fn some_generated_trustees_are_unresolved_sids() {
    let t = exorun_sim_tenant::Tenant::generate(&exorun_sim_tenant::GenerateOptions {
        mailboxes: 800,
        seed: 1,
    });
    let all = run(
        &t,
        Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
    );
    let sids = all
        .iter()
        .flat_map(|m| {
            run(
                &t,
                Call::new("Get-MailboxPermission").param("Identity", m["Guid"].as_str().unwrap()),
            )
        })
        .filter(|p| p["User"].as_str().unwrap().starts_with("S-1-5-21-"))
        .count();
    assert!(sids > 0);
}

#[test]
fn add_and_remove_mailbox_permission() {
    let t = tenant();
    let added = run(
        &t,
        Call::new("Add-MailboxPermission")
            .param("Identity", "admin")
            .param("User", "lei.li")
            .param("AccessRights", "FullAccess")
            .param("InheritanceType", "All"),
    );
    assert_eq!(added[0]["User"], "lei.li@contoso.com");
    let perms = run(
        &t,
        Call::new("Get-MailboxPermission")
            .param("Identity", "admin")
            .param("User", "lei.li@contoso.com"),
    );
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0]["AccessRights"], json!(["FullAccess"]));

    let removed = t
        .execute(
            &admin(),
            &Call::new("Remove-MailboxPermission")
                .param("Identity", "admin")
                .param("User", "lei.li")
                .param("AccessRights", "FullAccess"),
        )
        .unwrap();
    assert!(removed.warnings().is_empty());
    assert!(
        run(
            &t,
            Call::new("Get-MailboxPermission")
                .param("Identity", "admin")
                .param("User", "lei.li")
        )
        .is_empty()
    );
    let again = t
        .execute(
            &admin(),
            &Call::new("Remove-MailboxPermission")
                .param("Identity", "admin")
                .param("User", "lei.li")
                .param("AccessRights", "FullAccess"),
        )
        .unwrap();
    assert_eq!(again.warnings().len(), 1);
}

#[test]
fn send_as_is_managed_with_recipient_permissions() {
    let t = tenant();
    let before = run(
        &t,
        Call::new("Get-RecipientPermission").param("Identity", "sales"),
    );
    let trustees: Vec<_> = before
        .iter()
        .map(|p| p["Trustee"].as_str().unwrap())
        .collect();
    assert_eq!(
        trustees,
        vec!["NT AUTHORITY\\SELF", "zoe.brooks@contoso.com"]
    );
    assert_eq!(before[1]["AccessRights"], json!(["SendAs"]));

    run(
        &t,
        Call::new("Add-RecipientPermission")
            .param("Identity", "sales")
            .param("Trustee", "admin")
            .param("AccessRights", "SendAs"),
    );
    run(
        &t,
        Call::new("Remove-RecipientPermission")
            .param("Identity", "sales")
            .param("Trustee", "zoe.brooks")
            .param("AccessRights", "SendAs"),
    );
    let after = run(
        &t,
        Call::new("Get-RecipientPermission").param("Identity", "sales"),
    );
    let trustees: Vec<_> = after
        .iter()
        .map(|p| p["Trustee"].as_str().unwrap())
        .collect();
    assert_eq!(trustees, vec!["NT AUTHORITY\\SELF", "admin@contoso.com"]);
}
