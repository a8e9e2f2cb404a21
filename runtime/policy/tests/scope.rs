//! `[scope]` in a manifest and `scope` in the operator policy: parsing,
//! narrowing, and the permission diff.

use std::path::Path;

use exorun_policy::scope::{Facts, Property, Scope};
use exorun_policy::{Grants, Layer, Manifest, Policy, PolicyFile};

const PLUGIN: &str = r#"
[plugin]
name = "sales-tidy"
version = "1.0.0"
component = "t.wasm"

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = {}
"#;

fn parse(scope: &str) -> Result<Manifest, String> {
    Manifest::parse(Path::new("exorun.toml"), &format!("{PLUGIN}\n{scope}"))
        .map_err(|e| e.to_string())
}

fn scope_of(m: &Manifest) -> &Scope {
    m.grant::<Scope>().expect("a scope")
}

struct Recipient {
    department: &'static str,
    groups: &'static [&'static str],
}

impl Facts for Recipient {
    fn value(&self, property: Property) -> Option<&str> {
        match property {
            Property::Department => Some(self.department),
            Property::CustomAttribute(_) => Some(""),
            _ => None,
        }
    }
    fn member_of(&self, group: &str) -> Option<bool> {
        Some(self.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
    }
}

#[test]
fn a_filter_and_groups_must_both_hold() {
    let m = parse(
        "[scope]\nrecipients = \"Department -eq 'Sales'\"\ngroups = [\"eu@contoso.com\", \"us@contoso.com\"]\n",
    )
    .unwrap();
    let scope = scope_of(&m);
    assert_eq!(scope.rules.len(), 1);
    assert_eq!(scope.rules[0].layer, Layer::Manifest);
    assert_eq!(
        scope.rules[0].filter.to_string(),
        "(Department -eq 'Sales') -and ((MemberOfGroup -eq 'eu@contoso.com') -or (MemberOfGroup -eq 'us@contoso.com'))"
    );
    let inside = Recipient {
        department: "sales",
        groups: &["US@contoso.com"],
    };
    let wrong_group = Recipient {
        department: "Sales",
        groups: &["hr@contoso.com"],
    };
    let wrong_department = Recipient {
        department: "HR",
        groups: &["eu@contoso.com"],
    };
    assert_eq!(scope.first_failed(&inside), Ok(None));
    assert!(scope.first_failed(&wrong_group).unwrap().is_some());
    assert!(scope.first_failed(&wrong_department).unwrap().is_some());
    assert_eq!(scope.groups(), vec!["eu@contoso.com", "us@contoso.com"]);
}

#[test]
fn bad_scopes_are_errors_at_their_line() {
    assert_eq!(
        parse("[scope]\n").unwrap_err(),
        "exorun.toml:11:1: [scope] needs recipients (a filter) or groups; without either it would scope nothing"
    );
    assert_eq!(
        parse("[scope]\nrecipients = \"Title -eq 'x'\"\n").unwrap_err(),
        "exorun.toml:12:14: [scope] recipients is not a scope filter: 'Title' is not a property scope filters support (Department, CustomAttribute1-15, RecipientTypeDetails, PrimarySmtpAddress, MemberOfGroup)"
    );
    assert_eq!(
        parse("[scope]\ngroups = [\"sales*\"]\n").unwrap_err(),
        "exorun.toml:12:11: a [scope] group is one group's identity (its address or name), without wildcards"
    );
    assert!(
        parse("[scope]\nfilter = \"Department -eq 'x'\"\n")
            .unwrap_err()
            .contains("unknown field `filter`, expected `recipients` or `groups`")
    );
}

#[test]
fn a_policy_scope_is_added_to_the_manifests_and_to_an_unscoped_plugin() {
    let mut policy = Policy::none();
    policy.push(
        PolicyFile::parse(
            Path::new("p.toml"),
            "default policy",
            "[all]\nscope = \"CustomAttribute1 -ne 'vip'\"\n",
        )
        .unwrap(),
    );
    let scoped = parse("[scope]\nrecipients = \"Department -eq 'Sales'\"\n")
        .unwrap()
        .narrowed(&policy);
    let rules = &scope_of(&scoped).rules;
    assert_eq!(rules.len(), 2);
    let Layer::Policy(origin) = &rules[1].layer else {
        panic!("{rules:?}")
    };
    assert_eq!(origin.to_string(), "default policy, line 2");
    assert_eq!(
        rules[1].who(),
        "the operator policy (default policy, line 2)"
    );

    let unscoped = parse("").unwrap();
    assert!(unscoped.grant::<Scope>().is_none());
    let narrowed = unscoped.narrowed(&policy);
    assert_eq!(scope_of(&narrowed).rules.len(), 1);
}

#[test]
fn a_bad_policy_scope_is_an_error_at_its_line() {
    let error = PolicyFile::parse(
        Path::new("p.toml"),
        "default policy",
        "[plugin.x]\nscope = \"Department -eq\"\n",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "p.toml:2:9: scope is not a scope filter: expected a quoted value after Department -eq"
    );
}

#[test]
fn gaining_a_scope_narrows_losing_or_changing_one_widens() {
    let none = parse("").unwrap();
    let sales = parse("[scope]\nrecipients = \"Department -eq 'Sales'\"\n").unwrap();
    let hr = parse("[scope]\nrecipients = \"Department -eq 'HR'\"\n").unwrap();
    let changes = |a: &Manifest, b: &Manifest| -> Vec<String> {
        Grants::compare(a.grants(), b.grants())
            .into_iter()
            .map(|c| format!("{:?}: {}", c.direction, c.text))
            .collect()
    };
    assert_eq!(
        changes(&none, &sales),
        ["Narrows: scope: now limited to a set of recipients"]
    );
    assert_eq!(
        changes(&sales, &none),
        ["Widens: scope removed: EVERY RECIPIENT"]
    );
    assert_eq!(
        changes(&sales, &hr),
        ["Widens: scope changed: Department -eq 'Sales' → Department -eq 'HR'"]
    );
    assert!(changes(&sales, &sales).is_empty());
}

#[test]
fn a_manifest_without_scope_keeps_its_permissions_digest() {
    let json = parse("").unwrap().grants().permissions_json();
    assert!(json.get("scope").is_none(), "{json}");
    let scoped = parse("[scope]\nrecipients = \"Department -eq 'Sales'\"\n").unwrap();
    assert_eq!(
        scoped.grants().permissions_json()["scope"],
        serde_json::json!([{"filter": "Department -eq 'Sales'"}])
    );
}
