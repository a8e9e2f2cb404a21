//! The operator policy: it narrows a manifest and never widens it, every
//! refusal names the layer and the rule, and bad policy files are errors
//! at their line.

use std::path::Path;
use std::time::Duration;

use exorun_cmdlet::{Call, Leaf, Value};
use exorun_policy::{Denial, DenyReason, Layer, Manifest, Policy, PolicyFile, check};

const MANIFEST: &str = r#"
[plugin]
name = "mailbox-tidy"
version = "1.0.0"
component = "t.wasm"

[limits]
max-calls = 500
memory-mib = 128
timeout-seconds = 600

[outputs]
max-mib = 32

[[cmdlet]]
name = "Get-Mailbox"
parameters.Identity = {}
parameters.ResultSize = { set = ["Unlimited", "1000"] }

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = {}
parameters.Type = { set = ["Shared", "Regular", "Room"] }
parameters.CustomAttribute1 = { clear = true }
parameters.EmailAddresses = { pattern = 'smtp:[a-z0-9.]+@contoso\.com' }
parameters.ForwardingSmtpAddress = { sensitive = true, pattern = '.+@contoso\.com' }

[[cmdlet]]
name = "Remove-MailboxPermission"
parameters.Identity = {}
parameters.User = {}
"#;

fn manifest() -> Manifest {
    Manifest::parse(Path::new("exorun.toml"), MANIFEST).unwrap()
}

fn file(label: &str, text: &str) -> PolicyFile {
    PolicyFile::parse(Path::new("policy.toml"), label, text).unwrap()
}

fn policy(text: &str) -> Policy {
    let mut policy = Policy::none();
    policy.push(file("default policy", text));
    policy
}

fn narrowed(text: &str) -> Manifest {
    manifest().narrowed(&policy(text))
}

fn denial(manifest: &Manifest, call: &Call) -> Denial {
    check(manifest.capabilities(), call).unwrap_err()
}

fn policy_error(text: &str) -> String {
    PolicyFile::parse(Path::new("policy.toml"), "default policy", text)
        .unwrap_err()
        .to_string()
}

fn line_of(denial: &Denial) -> usize {
    match &denial.layer {
        Layer::Policy(origin) => origin.line,
        Layer::Manifest => panic!("expected a policy denial, got {denial:?}"),
    }
}

#[test]
fn deny_cmdlets_refuses_a_declared_cmdlet_and_names_the_policy_rule() {
    let m = narrowed("[all]\ndeny-cmdlets = [\"Remove-*\"]\n");
    let d = denial(
        &m,
        &Call::new("remove-mailboxpermission").param("Identity", "zoe"),
    );
    assert_eq!(d.reason, DenyReason::CmdletDenied);
    assert_eq!(d.rule(), "policy:cmdlet-denied:Remove-MailboxPermission");
    assert_eq!(line_of(&d), 2);
    assert_eq!(
        d.message,
        "Remove-MailboxPermission is refused by the operator policy (default policy, line 2): its deny-cmdlets lists 'Remove-*'"
    );
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Set-Mailbox").param("Type", "Shared")
        ),
        Ok(())
    );
}

#[test]
fn a_cmdlet_the_manifest_does_not_declare_is_refused_by_the_manifest_not_the_policy() {
    let m = narrowed("[all]\ndeny-cmdlets = [\"*-Mailbox\"]\n");
    let d = denial(&m, &Call::new("New-Mailbox"));
    assert_eq!(d.layer, Layer::Manifest);
    assert_eq!(d.rule(), "cmdlet-not-declared:New-Mailbox");
}

#[test]
fn forbid_writes_refuses_every_write_and_makes_the_plugin_read_only() {
    let m = narrowed("[all]\nforbid-writes = true\n");
    assert!(m.capabilities().is_read_only());
    assert!(!manifest().capabilities().is_read_only());
    for cmdlet in ["Set-Mailbox", "Remove-MailboxPermission"] {
        let d = denial(&m, &Call::new(cmdlet).param("Identity", "zoe"));
        assert_eq!(d.reason, DenyReason::WritesForbidden, "{cmdlet}");
        assert_eq!(d.rule(), format!("policy:writes-forbidden:{cmdlet}"));
    }
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Get-Mailbox").param("Identity", "zoe")
        ),
        Ok(())
    );
}

#[test]
fn forbid_writes_false_changes_nothing() {
    let m = narrowed("[all]\nforbid-writes = false\n");
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Set-Mailbox").param("Type", "Room")
        ),
        Ok(())
    );
}

#[test]
fn deny_parameters_refuses_one_parameter_of_a_matching_cmdlet() {
    let m = narrowed(
        "[[all.cmdlet]]\nname = \"Set-*\"\ndeny-parameters = [\"forwardingsmtpaddress\"]\n",
    );
    let d = denial(
        &m,
        &Call::new("Set-Mailbox").param("ForwardingSmtpAddress", "x@contoso.com"),
    );
    assert_eq!(d.reason, DenyReason::ParameterDenied);
    assert_eq!(
        d.rule(),
        "policy:parameter-denied:Set-Mailbox/ForwardingSmtpAddress"
    );
    assert_eq!(line_of(&d), 3);
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Set-Mailbox").param("Type", "Shared")
        ),
        Ok(())
    );
}

#[test]
fn a_policy_set_intersects_the_manifest_set() {
    let m = narrowed(
        "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Type = { set = [\"Shared\", \"Equipment\"] }\n",
    );
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Set-Mailbox").param("Type", "shared")
        ),
        Ok(())
    );
    // In the manifest's set, not in the policy's: the policy refuses.
    let d = denial(&m, &Call::new("Set-Mailbox").param("Type", "Room"));
    assert_eq!(d.reason, DenyReason::NotInSet);
    assert_eq!(d.rule(), "policy:validate-set:Set-Mailbox/Type");
    assert_eq!(
        d.message,
        "Set-Mailbox -Type 'Room' is not allowed: the operator policy (default policy, line 3) allows one of [Shared, Equipment]"
    );
    // In the policy's set, not in the manifest's: the policy cannot add it.
    let d = denial(&m, &Call::new("Set-Mailbox").param("Type", "Equipment"));
    assert_eq!(d.layer, Layer::Manifest);
    assert_eq!(d.rule(), "validate-set:Set-Mailbox/Type");
}

#[test]
fn a_policy_pattern_must_match_as_well_as_the_manifest_constraint() {
    let m = narrowed(
        "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Identity = { pattern = '[a-z]+@contoso\\.com' }\nparameters.EmailAddresses = { pattern = 'smtp:sales\\..+' }\n",
    );
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Set-Mailbox").param("Identity", "zoe@contoso.com")
        ),
        Ok(())
    );
    let d = denial(
        &m,
        &Call::new("Set-Mailbox").param("Identity", "zoe@fabrikam.com"),
    );
    assert_eq!(d.rule(), "policy:validate-pattern:Set-Mailbox/Identity");
    // Inside a hashtable edit, every added value is checked by both layers.
    let edit = |value: &str| {
        Call::new("Set-Mailbox").param(
            "EmailAddresses",
            Value::Table(vec![("Add".into(), Leaf::Texts(vec![value.into()]))]),
        )
    };
    assert_eq!(
        check(m.capabilities(), &edit("smtp:sales.eu@contoso.com")),
        Ok(())
    );
    assert_eq!(
        denial(&m, &edit("smtp:hr@contoso.com")).rule(),
        "policy:validate-pattern:Set-Mailbox/EmailAddresses"
    );
    assert_eq!(
        denial(&m, &edit("smtp:sales.eu@fabrikam.com")).rule(),
        "validate-pattern:Set-Mailbox/EmailAddresses"
    );
}

#[test]
fn clearing_passes_a_policy_constraint_only_when_the_policy_says_clear() {
    let strict = narrowed(
        "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.CustomAttribute1 = { pattern = 'dept-.*' }\n",
    );
    for value in [Value::Null, Value::Texts(vec![])] {
        let d = denial(
            &strict,
            &Call::new("Set-Mailbox").param("CustomAttribute1", value.clone()),
        );
        assert!(matches!(d.layer, Layer::Policy(_)), "{value:?}: {d:?}");
    }
    let lenient = narrowed(
        "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.CustomAttribute1 = { pattern = 'dept-.*', clear = true }\nparameters.Type = { set = [\"Shared\"], clear = true }\n",
    );
    assert_eq!(
        check(
            lenient.capabilities(),
            &Call::new("Set-Mailbox").param("CustomAttribute1", Value::Null)
        ),
        Ok(())
    );
    // The policy's clear = true cannot let through what the manifest
    // does not allow to be cleared.
    assert_eq!(
        denial(
            &lenient,
            &Call::new("Set-Mailbox").param("Type", Value::Texts(vec![]))
        )
        .rule(),
        "empty-value:Set-Mailbox/Type"
    );
}

#[test]
fn a_sensitive_value_is_redacted_in_a_policy_denial() {
    let m = narrowed(
        "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.ForwardingSmtpAddress = { set = [\"desk@contoso.com\"] }\n",
    );
    let d = denial(
        &m,
        &Call::new("Set-Mailbox").param("ForwardingSmtpAddress", "secret.boss@contoso.com"),
    );
    assert!(matches!(d.layer, Layer::Policy(_)));
    assert!(!d.message.contains("secret.boss"), "{}", d.message);
    assert!(d.message.contains("<redacted>"), "{}", d.message);
}

#[test]
fn rules_about_what_the_manifest_does_not_declare_grant_nothing() {
    let m = narrowed(
        "[[all.cmdlet]]\nname = \"New-Mailbox\"\nparameters.Name = { set = [\"x\"] }\n[[all.cmdlet]]\nname = \"Get-Mailbox\"\nparameters.Filter = { set = [\"x\"] }\n",
    );
    assert_eq!(
        denial(&m, &Call::new("New-Mailbox").param("Name", "x")).rule(),
        "cmdlet-not-declared:New-Mailbox"
    );
    assert_eq!(
        denial(&m, &Call::new("Get-Mailbox").param("Filter", "x")).rule(),
        "parameter-not-declared:Get-Mailbox/Filter"
    );
    assert!(m.policy().unwrap().narrowings.is_empty());
}

#[test]
fn limits_are_lowered_and_never_raised() {
    let m = narrowed(
        "[all.limits]\nmax-calls = 50\nmemory-mib = 4096\ntimeout-seconds = 60\noutputs-mib = 8\n",
    );
    let limits = m.limits();
    assert_eq!(limits.max_calls, 50);
    assert_eq!(
        limits.memory_mib, 128,
        "a higher policy value changes nothing"
    );
    assert_eq!(limits.timeout, Duration::from_secs(60));
    assert_eq!(m.outputs().unwrap().max_mib, 8);
    let applied = m.policy().unwrap();
    let lowered = applied.lowered("limits.max-calls").unwrap();
    assert_eq!(lowered.text, "limits: max-calls 500 → 50");
    assert_eq!(lowered.origin.line, 2);
    assert!(applied.lowered("limits.memory-mib").is_none());
}

#[test]
fn a_policy_rate_sets_or_lowers_calls_per_second_and_never_raises_it() {
    // The manifest sets no rate: any policy rate is lower than none.
    let m = narrowed("[all.limits]\ncalls-per-second = 20\n");
    assert_eq!(m.limits().calls_per_second, Some(20));
    let lowered = m.policy().unwrap().lowered("limits.calls-per-second");
    assert_eq!(
        lowered.unwrap().text,
        "limits: calls-per-second unlimited → 20"
    );
    let text = MANIFEST.replace(
        "max-calls = 500\n",
        "max-calls = 500\ncalls-per-second = 10\n",
    );
    let rated = Manifest::parse(Path::new("exorun.toml"), &text).unwrap();
    assert_eq!(rated.limits().calls_per_second, Some(10));
    let kept = rated.narrowed(&policy("[all.limits]\ncalls-per-second = 50\n"));
    assert_eq!(
        kept.limits().calls_per_second,
        Some(10),
        "a policy never raises it"
    );
    let lower = rated.narrowed(&policy("[all.limits]\ncalls-per-second = 2\n"));
    assert_eq!(lower.limits().calls_per_second, Some(2));
}

#[test]
fn the_weight_is_the_operators_and_the_last_rule_sets_it() {
    assert_eq!(manifest().limits().weight, 1);
    let m = narrowed("[all.limits]\nweight = 2\n\n[plugin.mailbox-tidy.limits]\nweight = 8\n");
    assert_eq!(m.limits().weight, 8);
    let set = m.policy().unwrap().lowered("limits.weight").unwrap();
    assert_eq!(
        (set.text.as_str(), set.origin.line),
        ("limits: weight 2 → 8", 5)
    );
    // A later file decides over an earlier one, lower or higher.
    let mut stacked = Policy::none();
    stacked.push(file("default policy", "[all.limits]\nweight = 8\n"));
    stacked.push(file(
        "policy for contoso.onmicrosoft.com",
        "[all.limits]\nweight = 3\n",
    ));
    assert_eq!(manifest().narrowed(&stacked).limits().weight, 3);

    // A manifest may not pick its own priority.
    let text = MANIFEST.replace("max-calls = 500\n", "max-calls = 500\nweight = 100\n");
    assert_eq!(
        Manifest::parse(Path::new("exorun.toml"), &text)
            .unwrap_err()
            .to_string(),
        "exorun.toml:9:10: [limits] weight is not the plugin's to choose: the operator sets it in the operator policy (docs/operator-policy.md)"
    );
    assert_eq!(
        policy_error("[all.limits]\nweight = 1001\n"),
        "policy.toml:2:10: [limits] weight is at most 1000"
    );
    assert_eq!(
        policy_error("[all.limits]\nweight = 0\n"),
        "policy.toml:2:10: [limits] weight must be greater than 0 (to forbid a plugin, deny its cmdlets)"
    );
}

#[test]
fn a_plugin_without_outputs_gets_none_from_a_policy() {
    let text = MANIFEST.replace("[outputs]\nmax-mib = 32\n", "");
    let m = Manifest::parse(Path::new("exorun.toml"), &text)
        .unwrap()
        .narrowed(&policy("[all.limits]\noutputs-mib = 8\n"));
    assert!(m.outputs().is_none());
}

#[test]
fn plugin_tables_apply_to_that_plugin_only() {
    let other = "[plugin.other-plugin]\nforbid-writes = true\n";
    assert!(!narrowed(other).capabilities().is_read_only());
    let mine = "[plugin.mailbox-tidy]\nforbid-writes = true\n";
    assert!(narrowed(mine).capabilities().is_read_only());
}

#[test]
fn stacked_files_each_narrow_and_the_refusal_names_its_file() {
    let mut stack = Policy::none();
    stack.push(file(
        "default policy",
        "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Type = { set = [\"Shared\", \"Room\"] }\n",
    ));
    stack.push(file(
        "policy for contoso.onmicrosoft.com",
        "\n[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Type = { set = [\"Regular\", \"Room\"] }\n",
    ));
    let m = manifest().narrowed(&stack);
    assert_eq!(
        check(
            m.capabilities(),
            &Call::new("Set-Mailbox").param("Type", "Room")
        ),
        Ok(())
    );
    let d = denial(&m, &Call::new("Set-Mailbox").param("Type", "Shared"));
    let Layer::Policy(origin) = &d.layer else {
        panic!("{d:?}")
    };
    assert_eq!(
        origin.to_string(),
        "policy for contoso.onmicrosoft.com, line 4"
    );
    let d = denial(&m, &Call::new("Set-Mailbox").param("Type", "Regular"));
    assert_eq!(
        d.layer,
        Layer::Policy(exorun_policy::Origin {
            layer: "default policy".into(),
            line: 3
        })
    );
    assert_eq!(m.policy().unwrap().files.len(), 2);
}

#[test]
fn narrowing_an_already_narrowed_manifest_narrows_further() {
    let once = narrowed("[all]\ndeny-cmdlets = [\"Remove-*\"]\n");
    let twice = once.narrowed(&policy("[all]\nforbid-writes = true\n"));
    assert!(twice.capabilities().is_read_only());
    // The first refusal stays the one named.
    assert_eq!(
        denial(&twice, &Call::new("Remove-MailboxPermission")).reason,
        DenyReason::CmdletDenied
    );
}

#[test]
fn an_empty_policy_leaves_the_manifest_as_it_is() {
    let m = manifest().narrowed(&Policy::none());
    assert!(m.policy().is_none());
    let m = narrowed("");
    assert_eq!(
        m.grants().permissions_sha256(),
        manifest().grants().permissions_sha256()
    );
}

#[test]
fn policy_files_are_validated_strictly_at_their_line() {
    assert_eq!(
        policy_error("[all]\nforbid-write = true\n"),
        "policy.toml:2:1: unknown field `forbid-write`, expected one of `forbid-writes`, `deny-cmdlets`, `limits`, `cmdlet`, `scope`"
    );
    assert_eq!(
        policy_error("[al]\n"),
        "policy.toml:1:2: unknown field `al`, expected `all` or `plugin`"
    );
    assert_eq!(
        policy_error("[all]\ndeny-cmdlets = [\"Remove\"]\n"),
        "policy.toml:2:17: 'Remove' is not a cmdlet name (Verb-Noun, like Remove-Mailbox), a wildcard such as Remove-* or *"
    );
    assert_eq!(
        policy_error("[all.limits]\nmax-calls = 0\n"),
        "policy.toml:2:13: [limits] max-calls must be greater than 0 (to forbid a plugin, deny its cmdlets)"
    );
    assert_eq!(
        policy_error("[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Type = { set = [] }\n"),
        "policy.toml:3:19: Set-Mailbox -Type has an empty set; to refuse the parameter, list it under deny-parameters"
    );
    assert_eq!(
        policy_error("[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Type = {}\n"),
        "policy.toml:3:19: Set-Mailbox -Type has neither set nor pattern; a policy only narrows, so give the values it may take (or list the parameter under deny-parameters)"
    );
    assert!(
        policy_error(
            "[[all.cmdlet]]\nname = \"Set-Mailbox\"\nparameters.Type = { pattern = '(' }\n"
        )
        .starts_with(
            "policy.toml:3:31: pattern for Set-Mailbox -Type is not a valid regular expression"
        )
    );
    assert_eq!(
        policy_error("[plugin.Bad_Name]\nforbid-writes = true\n"),
        "policy.toml:1:9: 'Bad_Name' is not a plugin name (1-64 lowercase letters, digits and dashes, as in [plugin] name)"
    );
    assert_eq!(
        policy_error("[[all.cmdlet]]\nname = \"Set-Mailbox\"\ndeny-parameters = [\"-Type\"]\n"),
        "policy.toml:3:20: '-Type' is not a parameter name (letters and digits, without the leading dash)"
    );
    assert_eq!(
        policy_error("[all]\nforbid-writes = \"yes\"\n"),
        "policy.toml:2:17: invalid type: string \"yes\", expected a boolean"
    );
}

#[test]
fn effective_view_shows_what_is_left_and_which_rule_narrowed_it() {
    let m = narrowed(
        "[all]\ndeny-cmdlets = [\"Remove-*\"]\n[[all.cmdlet]]\nname = \"Set-Mailbox\"\ndeny-parameters = [\"ForwardingSmtpAddress\"]\nparameters.Type = { set = [\"Shared\", \"Equipment\"] }\n",
    );
    let section = exorun_policy::capability::REGISTRY[0].describe(m.grants());
    // Compared with runs of spaces folded: the columns are for people.
    let lines: Vec<String> = section
        .text
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "Access READ AND WRITE",
        "Remove-MailboxPermission WRITE REFUSED by the policy (default policy, line 2)",
        "-ForwardingSmtpAddress REFUSED by the policy (default policy, line 5)",
        "-Type one of [Shared]",
        "narrowed by the policy (default policy, line 6): one of [Shared, Equipment]",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected}\n{lines:#?}"
        );
    }
}
