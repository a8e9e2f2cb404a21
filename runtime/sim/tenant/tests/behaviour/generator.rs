use std::collections::HashSet;

use exorun_cmdlet::Call;
use exorun_sim_tenant::{GenerateOptions, Tenant};

use crate::run;

#[test]
fn same_seed_gives_a_byte_identical_tenant() {
    let opts = GenerateOptions {
        mailboxes: 300,
        seed: 42,
    };
    assert_eq!(
        Tenant::generate(&opts).to_json(),
        Tenant::generate(&opts).to_json()
    );
}

#[test]
fn different_seeds_give_different_tenants() {
    let a = Tenant::generate(&GenerateOptions {
        mailboxes: 100,
        seed: 1,
    })
    .to_json();
    let b = Tenant::generate(&GenerateOptions {
        mailboxes: 100,
        seed: 2,
    })
    .to_json();
    assert_ne!(a, b);
}

#[test]
fn default_tenant_is_contoso_with_fifty_mailboxes() {
    let t = Tenant::generate(&GenerateOptions::default());
    let info = t.info();
    assert_eq!(info.display_name, "Contoso");
    assert_eq!(info.initial_domain, "contoso.onmicrosoft.com");
    assert_eq!(
        info.accepted_domains,
        vec!["contoso.com", "fabrikam.com", "contoso.onmicrosoft.com"]
    );
    assert!(uuid::Uuid::parse_str(&info.id).is_ok());
    assert_eq!(run(&t, Call::new("Get-Mailbox")).len(), 50);
}

#[test]
fn aliases_are_unique_and_kinds_are_mixed() {
    let t = Tenant::generate(&GenerateOptions {
        mailboxes: 2_000,
        seed: 9,
    });
    let all = run(
        &t,
        Call::new("Get-Mailbox").param("ResultSize", "Unlimited"),
    );
    let aliases: HashSet<_> = all
        .iter()
        .map(|m| m["Alias"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(aliases.len(), 2_000);
    let count = |kind: &str| {
        all.iter()
            .filter(|m| m["RecipientTypeDetails"] == kind)
            .count()
    };
    assert!(count("UserMailbox") > 1_800);
    assert!(count("SharedMailbox") > 10);
    assert!(count("RoomMailbox") > 5);
    assert_eq!(count("EquipmentMailbox"), 1);
    assert!(
        all.iter()
            .any(|m| !m["DisplayName"].as_str().unwrap().is_ascii())
    );
    assert!(all.iter().all(|m| m["Alias"].as_str().unwrap().is_ascii()));
    let forwarding = all
        .iter()
        .filter(|m| m["ForwardingSmtpAddress"].is_string())
        .count();
    assert!(forwarding > 20, "{forwarding}");
}

#[test]
fn to_json_round_trips_through_from_json() {
    let t = Tenant::generate(&GenerateOptions {
        mailboxes: 120,
        seed: 5,
    });
    run(
        &t,
        Call::new("Set-Mailbox")
            .param("Identity", "admin")
            .param("ForwardingSmtpAddress", "boss@example.org"),
    );
    run(
        &t,
        Call::new("New-InboxRule")
            .param("Mailbox", "admin")
            .param("Name", "Keep")
            .param("MarkAsRead", true),
    );
    let text = t.to_json();
    let loaded = Tenant::from_json(&text).unwrap();
    assert_eq!(loaded.to_json(), text);
    assert_eq!(loaded.info(), t.info());
    let m = crate::mailbox(&loaded, "admin");
    assert_eq!(m["ForwardingSmtpAddress"], "smtp:boss@example.org");
}

#[test]
fn from_json_reports_where_a_tenant_file_is_wrong() {
    let t = Tenant::generate(&GenerateOptions {
        mailboxes: 20,
        seed: 5,
    });
    let mut file: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    file["mailboxes"][3]
        .as_object_mut()
        .unwrap()
        .remove("display_name");
    let alias = file["mailboxes"][3]["alias"].as_str().unwrap().to_owned();
    let err = Tenant::from_json(&file.to_string())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("tenant file: at mailboxes[3] ({alias:?}): missing field `display_name`")
    );

    let err = Tenant::from_json("{\"format\": 1,")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("tenant file is not valid JSON"), "{err}");

    let mut file: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    file["mailboxes"][0]["email_addresses"] = serde_json::json!(["smtp:a@contoso.com"]);
    let err = Tenant::from_json(&file.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one primary address"), "{err}");
}

const MINIMAL: &str = r#"{
  "format": 1,
  "organization": {
    "id": "5f0c3a4e-8d8b-4a57-9a3e-0f1d2c3b4a59",
    "guid": "0b6c8e2a-1f4d-4c3b-8a9e-7d6c5b4a3f21",
    "display_name": "Tailspin Toys",
    "initial_domain": "tailspin.onmicrosoft.com",
    "default_domain": "tailspin.com",
    "accepted_domains": ["tailspin.com", "tailspin.onmicrosoft.com"],
    "when_created": 1600000000
  },
  "mailboxes": [
    {
      "name": "amy", "alias": "amy", "display_name": "Amy Öst",
      "user_principal_name": "amy@tailspin.com",
      "email_addresses": ["SMTP:amy@tailspin.com", "smtp:amy@tailspin.onmicrosoft.com"],
      "kind": "User",
      "inbox_rules": [
        {"rule_identity": 18000000000000000001, "name": "Fwd", "priority": 1,
         "forward_to": ["\"x@ext.example\" [SMTP:x@ext.example]"]}
      ]
    }
  ]
}"#;

#[test]
fn from_json_loads_a_minimal_hand_written_tenant_with_defaults() {
    let t = Tenant::from_json(MINIMAL).unwrap();
    assert_eq!(t.info().id, "5f0c3a4e-8d8b-4a57-9a3e-0f1d2c3b4a59");
    assert_eq!(t.info().display_name, "Tailspin Toys");
    let m = crate::mailbox(&t, "amy@tailspin.onmicrosoft.com");
    assert_eq!(m["DisplayName"], "Amy Öst");
    assert_eq!(m["ProhibitSendQuota"], "99 GB (106,300,440,576 bytes)");
    assert_ne!(m["Guid"], "00000000-0000-0000-0000-000000000000");
    assert_ne!(m["Guid"], m["ExchangeGuid"]);
    let rule = crate::one(&t, Call::new("Get-InboxRule").param("Mailbox", "amy"));
    assert_eq!(rule["RuleIdentity"], "18000000000000000001");
    assert_eq!(rule["Identity"], "amy\\18000000000000000001");
    let junk = crate::one(
        &t,
        Call::new("Get-MailboxJunkEmailConfiguration").param("Identity", "amy"),
    );
    assert_eq!(junk["Enabled"], true);
    // Derived GUIDs are stable: loading twice gives the same tenant.
    assert_eq!(Tenant::from_json(MINIMAL).unwrap().to_json(), t.to_json());
    assert_eq!(
        Tenant::from_json(&t.to_json()).unwrap().to_json(),
        t.to_json()
    );
}

#[test]
fn tiny_tenants_generate_without_panicking() {
    for mailboxes in [0, 1, 2, 9, 15] {
        let t = Tenant::generate(&GenerateOptions {
            mailboxes,
            seed: 11,
        });
        let e = t
            .execute(&crate::admin(), &Call::new("Get-Mailbox"))
            .unwrap();
        assert_eq!(e.len(), mailboxes);
        let groups = t
            .execute(&crate::admin(), &Call::new("Get-DistributionGroup"))
            .unwrap();
        assert_eq!(groups.len(), 7);
    }
}
