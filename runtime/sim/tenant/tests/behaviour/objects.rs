use exorun_cmdlet::Call;
use serde_json::json;

use crate::{mailbox, one, run, tenant};

#[test]
fn mailbox_carries_the_wire_annotations() {
    let t = tenant();
    let m = mailbox(&t, "jose.nunez");
    assert_eq!(m["Identity"], "jose.nunez");
    assert_eq!(m["Name"], "jose.nunez");
    assert_eq!(m["EmailAddresses@odata.type"], "#Collection(String)");
    assert_eq!(m["Guid@data.type"], "System.Guid");
    assert_eq!(m["Guid@odata.type"], "#Guid");
    assert_eq!(m["ExchangeGuid@odata.type"], "#Guid");
    assert_eq!(m["WhenCreated@data.type"], "System.DateTime");
    assert!(
        m["WhenCreated"]
            .as_str()
            .unwrap()
            .ends_with(".0000000+00:00")
    );
    assert!(m["WhenCreatedUTC"].as_str().unwrap().ends_with(".0000000Z"));
    assert_eq!(m["ForwardingSmtpAddress"], "smtp:jose.nunez@gmail.com");
    assert_eq!(m["PrimarySmtpAddress"], "jose.nunez@contoso.com");
    assert_eq!(m["UserPrincipalName"], "jose.nunez@contoso.com");
    assert_eq!(m["MaxSendSize"], "35 MB (36,700,160 bytes)");
    let quota = m["ProhibitSendQuota"].as_str().unwrap();
    assert!(
        quota == "99 GB (106,300,440,576 bytes)" || quota == "49.5 GB (53,150,220,288 bytes)",
        "{quota}"
    );
    assert_eq!(
        m["DistinguishedName"],
        "CN=jose.nunez,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,DC=EMUPR01A001,DC=PROD,DC=OUTLOOK,DC=COM"
    );
    let addresses = m["EmailAddresses"].as_array().unwrap();
    assert!(addresses.contains(&json!("SMTP:jose.nunez@contoso.com")));
    assert!(addresses.contains(&json!("smtp:jose.nunez@contoso.onmicrosoft.com")));
}

#[test]
fn mailbox_statistics_sizes_are_byte_quantified_strings() {
    let t = tenant();
    let s = one(
        &t,
        Call::new("Get-MailboxStatistics").param("Identity", "admin@contoso.com"),
    );
    let size = s["TotalItemSize"].as_str().unwrap();
    let re =
        regex::Regex::new(r"^\d+(\.\d{1,3})? (B|KB|MB|GB|TB) \(\d{1,3}(,\d{3})* bytes\)$").unwrap();
    assert!(re.is_match(size), "{size}");
    assert!(re.is_match(s["TotalDeletedItemSize"].as_str().unwrap()));
    assert!(s["ItemCount"].is_u64());
    assert_eq!(s["DisplayName"], "MOD Administrator");
    assert_eq!(s["MailboxGuid@odata.type"], "#Guid");
}

#[test]
fn organization_and_domains() {
    let t = tenant();
    let org = one(&t, Call::new("Get-OrganizationConfig"));
    assert_eq!(org["DisplayName"], "Contoso");
    assert_eq!(org["Identity"], "contoso.onmicrosoft.com");
    let domains = run(&t, Call::new("Get-AcceptedDomain"));
    assert_eq!(domains.len(), 3);
    let default = one(
        &t,
        Call::new("Get-AcceptedDomain").param("Identity", "contoso.com"),
    );
    assert_eq!(default["Default"], true);
    assert_eq!(default["InitialDomain"], false);
}

#[test]
fn users_mail_users_and_contacts_are_listed() {
    let t = tenant();
    let users = run(&t, Call::new("Get-User").param("ResultSize", "Unlimited"));
    assert!(
        users
            .iter()
            .any(|u| u["RecipientTypeDetails"] == "GuestMailUser")
    );
    assert!(
        users
            .iter()
            .any(|u| u["UserPrincipalName"] == "lei.li@contoso.com" && u["FirstName"] == "雷")
    );
    let mail_users = run(&t, Call::new("Get-MailUser"));
    assert!(mail_users.iter().any(|u| {
        u["ExternalEmailAddress"]
            .as_str()
            .unwrap()
            .starts_with("SMTP:")
    }));
    let contacts = run(&t, Call::new("Get-MailContact"));
    assert!(!contacts.is_empty());
    assert!(
        contacts
            .iter()
            .all(|c| c["RecipientTypeDetails"] == "MailContact")
    );
    let recipients = run(
        &t,
        Call::new("Get-Recipient").param("RecipientType", "MailContact"),
    );
    assert_eq!(recipients.len(), contacts.len());
}

#[test]
fn transport_rules_include_redirects_and_role_groups_exist() {
    let t = tenant();
    let rules = run(
        &t,
        Call::new("Get-TransportRule").param("ResultSize", "Unlimited"),
    );
    assert!(
        rules
            .iter()
            .filter(|r| !r["RedirectMessageTo"].as_array().unwrap().is_empty())
            .count()
            >= 2
    );
    assert_eq!(rules.iter().filter(|r| r["State"] == "Disabled").count(), 1);
    let groups = run(&t, Call::new("Get-RoleGroup"));
    assert!(
        groups
            .iter()
            .any(|g| g["Name"] == "Organization Management")
    );
    let org_mgmt = one(
        &t,
        Call::new("Get-RoleGroup").param("Identity", "organization management"),
    );
    assert!(
        org_mgmt["Members"]
            .as_array()
            .unwrap()
            .contains(&json!("admin"))
    );
}

#[test]
fn page_json_renders_the_same_objects_as_page() {
    let t = tenant();
    let calls = [
        Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
        Call::new("Get-Recipient").param("ResultSize", "Unlimited"),
        Call::new("Get-User").param("ResultSize", "Unlimited"),
        Call::new("Get-MailUser"),
        Call::new("Get-MailContact"),
        Call::new("Get-DistributionGroup"),
        Call::new("Get-DistributionGroupMember").param("Identity", "All Staff"),
        Call::new("Get-MailboxStatistics").param("Identity", "lei.li"),
        Call::new("Get-RecipientPermission"),
        Call::new("Get-InboxRule").param("Mailbox", "lukasz.kowalski"),
        Call::new("Get-TransportRule"),
    ];
    for call in calls {
        let e = t.execute(&crate::admin(), &call).unwrap();
        let tree = e.page(0, e.len());
        let text: Vec<serde_json::Value> = e
            .page_json(0, e.len())
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        assert!(!tree.is_empty(), "{}", call.cmdlet);
        assert_eq!(tree, text, "{}", call.cmdlet);
    }
}
