use exorun_cmdlet::{Call, Value as P};

use crate::{fail, run, tenant};

fn aliases(objects: &[serde_json::Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["Alias"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn filter_by_equality_returns_only_matching_mailboxes() {
    let t = tenant();
    let shared = run(
        &t,
        Call::new("Get-Mailbox").param("Filter", "RecipientTypeDetails -eq 'SharedMailbox'"),
    );
    assert!(!shared.is_empty());
    assert!(
        shared
            .iter()
            .all(|m| m["RecipientTypeDetails"] == "SharedMailbox")
    );
    assert!(aliases(&shared).contains(&"sales".to_owned()));
}

#[test]
fn filter_on_forwarding_with_null_and_like() {
    let t = tenant();
    let forwarding = run(
        &t,
        Call::new("Get-Mailbox")
            .param("Filter", "ForwardingSmtpAddress -ne $null")
            .param("ResultSize", "Unlimited"),
    );
    assert!(aliases(&forwarding).contains(&"jose.nunez".to_owned()));
    assert!(
        forwarding
            .iter()
            .all(|m| m["ForwardingSmtpAddress"].is_string())
    );
    let gmail = run(
        &t,
        Call::new("Get-Mailbox").param("Filter", "ForwardingSmtpAddress -like '*@gmail.com'"),
    );
    assert!(aliases(&gmail).contains(&"jose.nunez".to_owned()));
}

#[test]
fn filter_combines_and_or_not_with_parentheses_and_double_quotes() {
    let t = tenant();
    let filter = "(Alias -eq \"jose.nunez\" -or Alias -like 'zoe.b*') -and -not (RecipientTypeDetails -eq 'SharedMailbox')";
    let found = run(&t, Call::new("Get-Mailbox").param("Filter", filter));
    assert_eq!(aliases(&found), vec!["jose.nunez", "zoe.brooks"]);
}

#[test]
fn filter_boolean_literals_match_boolean_properties() {
    let t = tenant();
    let hidden = run(
        &t,
        Call::new("Get-Mailbox").param("Filter", "HiddenFromAddressListsEnabled -eq $true"),
    );
    assert_eq!(aliases(&hidden), vec!["projector1"]);
}

#[test]
fn recipient_type_details_accepts_one_value_or_a_list() {
    let t = tenant();
    let rooms = run(
        &t,
        Call::new("Get-Mailbox").param("RecipientTypeDetails", "RoomMailbox"),
    );
    assert!(
        rooms
            .iter()
            .all(|m| m["RecipientTypeDetails"] == "RoomMailbox")
    );
    assert!(aliases(&rooms).contains(&"room.oslo".to_owned()));
    let both = run(
        &t,
        Call::new("Get-Mailbox").param(
            "RecipientTypeDetails",
            P::Texts(vec!["RoomMailbox".into(), "EquipmentMailbox".into()]),
        ),
    );
    assert_eq!(both.len(), rooms.len() + 1);
}

#[test]
fn unknown_recipient_type_details_is_refused() {
    let t = tenant();
    let err = fail(
        &t,
        Call::new("Get-Mailbox").param("RecipientTypeDetails", "Spaceship"),
    );
    assert_eq!(err.status, 400);
}

#[test]
fn malformed_filter_is_an_invalid_parameter() {
    let t = tenant();
    let err = fail(&t, Call::new("Get-Mailbox").param("Filter", "Alias -eq"));
    assert!(
        err.message.contains("Invalid filter syntax"),
        "{}",
        err.message
    );
}

#[test]
fn anr_matches_name_prefixes() {
    let t = tenant();
    let found = run(&t, Call::new("Get-Recipient").param("Anr", "Søren"));
    assert!(aliases(&found).contains(&"soren.jensen".to_owned()));
}

#[test]
fn get_distribution_group_filters_by_type() {
    let t = tenant();
    let security = run(
        &t,
        Call::new("Get-DistributionGroup")
            .param("RecipientTypeDetails", "MailUniversalSecurityGroup"),
    );
    assert!(aliases(&security).contains(&"itadmins".to_owned()));
    assert!(
        security
            .iter()
            .all(|g| g["RecipientTypeDetails"] == "MailUniversalSecurityGroup")
    );
}

#[test]
fn sort_by_orders_before_result_size_caps() {
    let t = tenant();
    let sorted = run(
        &t,
        Call::new("Get-Mailbox")
            .param("SortBy", "DisplayName")
            .param("ResultSize", P::Int(3)),
    );
    let names: Vec<_> = sorted
        .iter()
        .map(|m| m["DisplayName"].as_str().unwrap().to_lowercase())
        .collect();
    let all = run(&t, Call::new("Get-Mailbox"));
    let mut expected: Vec<_> = all
        .iter()
        .map(|m| m["DisplayName"].as_str().unwrap().to_lowercase())
        .collect();
    expected.sort();
    assert_eq!(names, expected[..3].to_vec());
    assert_eq!(
        fail(&t, Call::new("Get-Mailbox").param("SortBy", "Shoe size")).status,
        400
    );
}
