//! The policy gate, decision by decision.

use std::path::Path;

use exorun_cmdlet::{Call, Leaf, Value};
use exorun_policy::{Capabilities, DenyReason, Manifest, check};

fn caps() -> Capabilities {
    let text = r#"
[plugin]
name = "gate-test"
version = "0.1.0"
component = "x.wasm"

[[cmdlet]]
name = "Get-Mailbox"
parameters.Identity = {}
parameters.ResultSize = { set = ["Unlimited", "500"] }
parameters.RecipientTypeDetails = { set = ["UserMailbox", "SharedMailbox"] }

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = { pattern = '[^@]+@contoso\.com' }
parameters.ForwardingSmtpAddress = { set = ["$null"] }
parameters.HiddenFromAddressListsEnabled = { set = ["$true"] }
parameters.EmailAddresses = { pattern = 'smtp:[^@]+@contoso\.com' }

[[cmdlet]]
name = "Set-MailboxAutoReplyConfiguration"
parameters.Identity = { pattern = '[^@]+@contoso\.com' }
parameters.AutoReplyState = { set = ["Scheduled", "Disabled"] }
parameters.InternalMessage = { sensitive = true, pattern = '.{0,10}' }
"#;
    Manifest::parse(Path::new("exorun.toml"), text)
        .unwrap()
        .capabilities()
        .clone()
}

fn reason(call: &Call) -> DenyReason {
    check(&caps(), call).unwrap_err().reason
}

#[test]
fn allows_declared_cmdlet_with_declared_parameters() {
    let call = Call::new("Get-Mailbox")
        .param("Identity", "anything at all")
        .param("ResultSize", "Unlimited");
    assert_eq!(check(&caps(), &call), Ok(()));
}

#[test]
fn matches_cmdlet_and_parameter_names_ignoring_case() {
    let call = Call::new("get-MAILBOX").param("resultsize", "unlimited");
    assert_eq!(check(&caps(), &call), Ok(()));
}

#[test]
fn denies_undeclared_cmdlet_with_rule_and_hint() {
    let denial = check(&caps(), &Call::new("Remove-Mailbox").param("Identity", "x")).unwrap_err();
    assert_eq!(denial.reason, DenyReason::CmdletNotDeclared);
    assert_eq!(denial.rule(), "cmdlet-not-declared:Remove-Mailbox");
    assert_eq!(
        denial.message,
        "Remove-Mailbox is not declared in the plugin's exorun.toml; add a [[cmdlet]] table for it to allow it"
    );
}

#[test]
fn denies_unlisted_parameter_naming_it() {
    let denial = check(&caps(), &Call::new("Get-Mailbox").param("Filter", "x")).unwrap_err();
    assert_eq!(denial.reason, DenyReason::ParameterNotDeclared);
    assert_eq!(denial.rule(), "parameter-not-declared:Get-Mailbox/Filter");
}

#[test]
fn denies_value_outside_validate_set() {
    let denial = check(
        &caps(),
        &Call::new("Get-Mailbox").param("RecipientTypeDetails", "RoomMailbox"),
    )
    .unwrap_err();
    assert_eq!(denial.reason, DenyReason::NotInSet);
    assert_eq!(
        denial.rule(),
        "validate-set:Get-Mailbox/RecipientTypeDetails"
    );
    assert_eq!(
        denial.message,
        "Get-Mailbox -RecipientTypeDetails 'RoomMailbox' is not allowed: the manifest allows one of [UserMailbox, SharedMailbox]"
    );
}

#[test]
fn set_compares_ignoring_case() {
    let call = Call::new("Get-Mailbox").param("RecipientTypeDetails", "sharedmailbox");
    assert_eq!(check(&caps(), &call), Ok(()));
}

#[test]
fn integer_values_compare_as_their_decimal_text() {
    assert_eq!(
        check(
            &caps(),
            &Call::new("Get-Mailbox").param("ResultSize", 500i64)
        ),
        Ok(())
    );
    assert_eq!(
        reason(&Call::new("Get-Mailbox").param("ResultSize", 501i64)),
        DenyReason::NotInSet
    );
}

#[test]
fn list_values_must_each_be_in_the_set() {
    let ok = Call::new("Get-Mailbox").param(
        "RecipientTypeDetails",
        Value::Texts(vec!["UserMailbox".into(), "SharedMailbox".into()]),
    );
    assert_eq!(check(&caps(), &ok), Ok(()));
    let bad = Call::new("Get-Mailbox").param(
        "RecipientTypeDetails",
        Value::Texts(vec!["UserMailbox".into(), "RoomMailbox".into()]),
    );
    assert_eq!(reason(&bad), DenyReason::NotInSet);
}

#[test]
fn null_is_allowed_only_where_the_set_says_dollar_null() {
    let clear = Call::new("Set-Mailbox").param("ForwardingSmtpAddress", Value::Null);
    assert_eq!(check(&caps(), &clear), Ok(()));
    let text_null = Call::new("Set-Mailbox").param("ForwardingSmtpAddress", "$null");
    assert_eq!(reason(&text_null), DenyReason::NotInSet);
    let forward = Call::new("Set-Mailbox").param("ForwardingSmtpAddress", "evil@example.net");
    assert_eq!(reason(&forward), DenyReason::NotInSet);
}

#[test]
fn booleans_match_dollar_true_and_dollar_false() {
    let yes = Call::new("Set-Mailbox").param("HiddenFromAddressListsEnabled", true);
    assert_eq!(check(&caps(), &yes), Ok(()));
    let no = Call::new("Set-Mailbox").param("HiddenFromAddressListsEnabled", false);
    assert_eq!(reason(&no), DenyReason::NotInSet);
}

#[test]
fn pattern_must_match_the_whole_value() {
    let ok = Call::new("Set-Mailbox").param("Identity", "ann@CONTOSO.com");
    assert_eq!(check(&caps(), &ok), Ok(()));
    let suffix = Call::new("Set-Mailbox").param("Identity", "ann@contoso.com.evil.net");
    assert_eq!(reason(&suffix), DenyReason::PatternMismatch);
    let prefix = Call::new("Set-Mailbox").param("Identity", "x ann@contoso.com\nb@evil.net");
    assert_eq!(reason(&prefix), DenyReason::PatternMismatch);
}

#[test]
fn pattern_never_matches_null_or_boolean() {
    let null = Call::new("Set-Mailbox").param("Identity", Value::Null);
    assert_eq!(reason(&null), DenyReason::PatternMismatch);
    let boolean = Call::new("Set-Mailbox").param("Identity", true);
    assert_eq!(reason(&boolean), DenyReason::PatternMismatch);
}

#[test]
fn hashtable_edits_are_checked_entry_by_entry() {
    let ok = Call::new("Set-Mailbox").param(
        "EmailAddresses",
        Value::Table(vec![
            ("Add".into(), Leaf::Text("smtp:ann2@contoso.com".into())),
            (
                "remove".into(),
                Leaf::Texts(vec!["smtp:old@contoso.com".into()]),
            ),
        ]),
    );
    assert_eq!(check(&caps(), &ok), Ok(()));
    let sneaky = Call::new("Set-Mailbox").param(
        "EmailAddresses",
        Value::Table(vec![
            ("Add".into(), Leaf::Text("smtp:ann2@contoso.com".into())),
            ("Remove".into(), Leaf::Texts(vec!["smtp:x@evil.net".into()])),
        ]),
    );
    assert_eq!(reason(&sneaky), DenyReason::PatternMismatch);
    // The same key twice is refused before either value is looked at.
    let twice = Call::new("Set-Mailbox").param(
        "EmailAddresses",
        Value::Table(vec![
            ("Add".into(), Leaf::Text("smtp:ann2@contoso.com".into())),
            ("Add".into(), Leaf::Texts(vec!["smtp:x@evil.net".into()])),
        ]),
    );
    assert_eq!(reason(&twice), DenyReason::DuplicateKey);
    let bad_key = Call::new("Set-Mailbox").param(
        "EmailAddresses",
        Value::Table(vec![(
            "Replace".into(),
            Leaf::Text("smtp:a@contoso.com".into()),
        )]),
    );
    let denial = check(&caps(), &bad_key).unwrap_err();
    assert_eq!(denial.reason, DenyReason::BadHashtableKey);
    assert_eq!(
        denial.message,
        "Set-Mailbox -EmailAddresses takes a hashtable with Add and Remove keys only, not 'Replace'"
    );
}

#[test]
fn denies_a_parameter_passed_twice_in_different_case() {
    let call = Call::new("Set-Mailbox")
        .param("Identity", "ann@contoso.com")
        .param("IDENTITY", "boss@evil.net");
    let denial = check(&caps(), &call).unwrap_err();
    assert_eq!(denial.reason, DenyReason::DuplicateParameter);
    assert_eq!(denial.rule(), "duplicate-parameter:Set-Mailbox/IDENTITY");
}

#[test]
fn sensitive_values_are_redacted_in_denial_messages() {
    let call = Call::new("Set-MailboxAutoReplyConfiguration")
        .param("InternalMessage", "a secret message that is far too long");
    let denial = check(&caps(), &call).unwrap_err();
    assert_eq!(denial.reason, DenyReason::PatternMismatch);
    assert!(!denial.message.contains("secret"), "{}", denial.message);
    assert!(denial.message.contains("<redacted>"));
}

#[test]
fn non_ascii_values_compare_ignoring_case() {
    let text = r#"
[plugin]
name = "x"
version = "0.1.0"
component = "x.wasm"
[[cmdlet]]
name = "Get-Mailbox"
parameters.Identity = { set = ["ÅSA.ÖBERG@contoso.com"] }
"#;
    let caps = Manifest::parse(Path::new("exorun.toml"), text)
        .unwrap()
        .capabilities()
        .clone();
    let call = Call::new("Get-Mailbox").param("Identity", "åsa.öberg@CONTOSO.com");
    assert_eq!(check(&caps, &call), Ok(()));
}

/// The grants of a manifest with these `[[cmdlet]]` tables.
fn caps_with(cmdlets: &str) -> Capabilities {
    let text = format!(
        "[plugin]\nname = \"gate-test\"\nversion = \"0.1.0\"\ncomponent = \"x.wasm\"\n{cmdlets}"
    );
    Manifest::parse(Path::new("exorun.toml"), &text)
        .unwrap()
        .capabilities()
        .clone()
}

fn caps_with_clear() -> Capabilities {
    caps_with(
        r#"
[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = { pattern = '[^@]+@contoso\.com' }
parameters.EmailAddresses = { pattern = 'smtp:[^@]+@contoso\.com' }
parameters.GrantSendOnBehalfTo = { pattern = '[^@]+@contoso\.com', clear = true }
parameters.ForwardingSmtpAddress = { set = ["$null"] }
"#,
    )
}

fn set_mailbox(name: &str, value: Value) -> Call {
    Call::new("Set-Mailbox")
        .param("Identity", "ann@contoso.com")
        .param(name, value)
}

#[test]
fn denies_empty_list_on_a_constrained_parameter() {
    let denial = check(
        &caps_with_clear(),
        &set_mailbox("EmailAddresses", Value::Texts(vec![])),
    )
    .unwrap_err();
    assert_eq!(denial.reason, DenyReason::EmptyValue);
    assert_eq!(denial.rule(), "empty-value:Set-Mailbox/EmailAddresses");
    assert!(
        denial
            .message
            .contains("add clear = true to allow clearing")
    );
}

#[test]
fn denies_empty_table_and_null_or_empty_edits_even_where_the_set_allows_null() {
    for value in [
        Value::Table(vec![]),
        Value::Texts(vec![]),
        Value::Table(vec![("Add".into(), Leaf::Null)]),
        Value::Table(vec![("Remove".into(), Leaf::Texts(vec![]))]),
    ] {
        assert_eq!(
            check(
                &caps_with_clear(),
                &set_mailbox("ForwardingSmtpAddress", value.clone())
            )
            .unwrap_err()
            .reason,
            DenyReason::EmptyValue,
            "{value:?}"
        );
    }
}

#[test]
fn allows_clearing_where_the_manifest_says_clear() {
    for value in [
        Value::Texts(vec![]),
        Value::Table(vec![]),
        Value::Null,
        Value::Table(vec![("Add".into(), Leaf::Null)]),
    ] {
        assert_eq!(
            check(
                &caps_with_clear(),
                &set_mailbox("GrantSendOnBehalfTo", value.clone())
            ),
            Ok(()),
            "{value:?}"
        );
    }
    assert_eq!(
        check(
            &caps_with_clear(),
            &set_mailbox("GrantSendOnBehalfTo", Value::from("eve@evil.example"))
        )
        .unwrap_err()
        .reason,
        DenyReason::PatternMismatch
    );
}

#[test]
fn denies_add_or_remove_given_twice_in_any_case() {
    let call = set_mailbox(
        "EmailAddresses",
        Value::Table(vec![
            ("Add".into(), Leaf::Text("smtp:a@contoso.com".into())),
            ("add".into(), Leaf::Text("smtp:b@contoso.com".into())),
        ]),
    );
    let denial = check(&caps_with_clear(), &call).unwrap_err();
    assert_eq!(denial.reason, DenyReason::DuplicateKey);
    assert_eq!(denial.rule(), "duplicate-key:Set-Mailbox/EmailAddresses");
}

#[test]
fn denies_a_call_larger_than_one_mebibyte_whatever_its_grants() {
    let call = Call::new("Get-Mailbox").param("Identity", "a".repeat(1 << 20));
    let denial = check(&caps(), &call).unwrap_err();
    assert_eq!(denial.reason, DenyReason::TooLarge);
    assert_eq!(denial.rule(), "call-too-large:Get-Mailbox");
    let just_under = Call::new("Get-Mailbox").param("Identity", "a".repeat((1 << 20) - 40));
    assert_eq!(check(&caps(), &just_under), Ok(()));
}

#[test]
fn denies_kelvin_sign_and_long_s_where_ascii_letters_are_allowed() {
    let kelvin = Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
    assert_eq!(check(&caps(), &kelvin), Ok(()));
    let look_alike = Call::new("Get-Mailbox").param("RecipientTypeDetails", "\u{17F}haredMailbox");
    assert_eq!(reason(&look_alike), DenyReason::NotInSet);
    let pattern = Call::new("Set-Mailbox").param("Identity", "ceo@conto\u{17F}o.com");
    assert_eq!(reason(&pattern), DenyReason::PatternMismatch);
    let kelvin_pattern =
        Call::new("Set-Mailbox").param("EmailAddresses", "smtp:a@\u{212A}ontoso.com");
    assert_eq!(reason(&kelvin_pattern), DenyReason::PatternMismatch);
}

#[test]
fn allows_non_ascii_letters_that_dotnet_upper_cases_alike() {
    let caps = caps_with(
        r#"
[[cmdlet]]
name = "Set-User"
parameters.City = { set = ["München"] }
parameters.Identity = { pattern = 'müller@contoso\.com' }
"#,
    );
    let call = Call::new("Set-User")
        .param("City", "MÜNCHEN")
        .param("Identity", "MÜLLER@CONTOSO.COM");
    assert_eq!(check(&caps, &call), Ok(()));
}

#[test]
fn denies_a_nul_character_in_a_constrained_value() {
    let call = Call::new("Set-Mailbox").param("Identity", "ceo\0@contoso.com");
    let denial = check(&caps(), &call).unwrap_err();
    assert_eq!(denial.reason, DenyReason::NulCharacter);
    assert_eq!(denial.rule(), "nul-character:Set-Mailbox/Identity");
    // An unconstrained parameter takes any value, as the manifest says.
    let any = Call::new("Get-Mailbox").param("Identity", "a\0b");
    assert_eq!(check(&caps(), &any), Ok(()));
}
