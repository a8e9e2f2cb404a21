use exorun_cmdlet::Call;

use crate::{fail, mailbox, one, tenant};

#[test]
fn get_mailbox_resolves_identity_by_name_alias_and_upn() {
    let t = tenant();
    for identity in ["jose.nunez", "JOSE.NUNEZ", "jose.nunez@contoso.com"] {
        assert_eq!(
            mailbox(&t, identity)["DisplayName"],
            "José Núñez",
            "{identity}"
        );
    }
}

#[test]
fn get_mailbox_resolves_identity_by_secondary_smtp_address() {
    let t = tenant();
    let m = mailbox(&t, "jose.nunez@contoso.onmicrosoft.com");
    assert_eq!(m["Alias"], "jose.nunez");
    let m = mailbox(&t, "smtp:Jose.Nunez@contoso.onmicrosoft.com");
    assert_eq!(m["Alias"], "jose.nunez");
}

#[test]
fn get_mailbox_resolves_identity_by_every_guid_and_the_distinguished_name() {
    let t = tenant();
    let m = mailbox(&t, "soren.jensen");
    for key in [
        "Guid",
        "ExchangeGuid",
        "ExternalDirectoryObjectId",
        "DistinguishedName",
        "LegacyExchangeDN",
    ] {
        let identity = m[key].as_str().unwrap();
        assert_eq!(mailbox(&t, identity)["Alias"], "soren.jensen", "{key}");
    }
    let upper = m["Guid"].as_str().unwrap().to_uppercase();
    assert_eq!(
        mailbox(&t, &format!("{{{upper}}}"))["Alias"],
        "soren.jensen"
    );
}

#[test]
fn get_mailbox_resolves_a_shared_mailbox_by_its_display_style_name() {
    let t = tenant();
    let m = mailbox(&t, "Sales Team");
    assert_eq!(m["Alias"], "sales");
    assert_eq!(m["Identity"], "Sales Team");
    assert_eq!(m["RecipientTypeDetails"], "SharedMailbox");
}

#[test]
fn an_identity_matching_two_mailboxes_is_ambiguous() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-Mailbox").param("Identity", "reception"));
    assert_eq!(err.string_id, "Ex9E65A2");
    assert_eq!(
        err.message,
        "The operation couldn't be performed because object 'reception' matches multiple entries."
    );
}

#[test]
fn get_mailbox_does_not_resolve_other_recipient_kinds() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-Mailbox").param("Identity", "allstaff"));
    assert_eq!(err.status, 404);
    let group = one(&t, Call::new("Get-Recipient").param("Identity", "allstaff"));
    assert_eq!(
        group["RecipientTypeDetails"],
        "MailUniversalDistributionGroup"
    );
}

#[test]
fn unknown_identity_is_not_found() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Get-Mailbox").param("Identity", "nobody@contoso.com"),
    );
    assert_eq!(err.code, "NotFound");
    assert_eq!(err.string_id, "Ex6F9304");
}
