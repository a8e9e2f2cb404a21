//! The generated role from manifests: the union of what the plugins need,
//! every unneeded entry and parameter removed by name, one scope for the
//! writers, and the drift `check` finds.

use std::collections::BTreeMap;
use std::path::Path;

use exorun_policy::Manifest;
use exorun_rbac::powershell::command;
use exorun_rbac::{Names, Needs, PlanError, TenantRbac, check, plan};

fn manifest(name: &str, body: &str) -> Manifest {
    let text = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"p.wasm\"\n\n{body}"
    );
    Manifest::parse(Path::new("exorun.toml"), &text).unwrap()
}

fn names() -> Names {
    Names {
        prefix: "exorun".into(),
        app_id: "app-1".into(),
        service_principal_object_id: "sp-1".into(),
    }
}

/// The parent roles as a tenant lists them.
fn parents() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let entry = |c: &str, ps: &[&str]| (c.to_owned(), ps.iter().map(|p| (*p).to_owned()).collect());
    BTreeMap::from([(
        "Mail Recipients".to_owned(),
        BTreeMap::from([
            entry("Get-Mailbox", &["Identity", "ResultSize", "Filter"]),
            entry(
                "Set-Mailbox",
                &["Identity", "CustomAttribute5", "ForwardingSmtpAddress"],
            ),
            entry("Get-Recipient", &["Identity", "ResultSize", "Anr"]),
            entry("Remove-InboxRule", &["Identity", "Mailbox"]),
        ]),
    )])
}

const TAGGER: &str = r#"
[scope]
recipients = "Department -eq 'Sales'"

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = {}
parameters.CustomAttribute5 = { set = ["x"] }
"#;

const REPORT: &str = r#"
[[cmdlet]]
name = "Get-Mailbox"
parameters.ResultSize = { set = ["Unlimited"] }
"#;

fn script(manifests: &[&Manifest]) -> Vec<String> {
    let needs = Needs::of(manifests);
    plan(&needs, &parents(), &names())
        .unwrap()
        .calls
        .iter()
        .map(command)
        .collect()
}

#[test]
fn a_scoped_writer_and_a_report_get_exactly_their_union() {
    let tagger = manifest("tagger", TAGGER);
    let report = manifest("report", REPORT);
    assert_eq!(
        script(&[&tagger, &report]),
        [
            "New-ManagementRole -Name 'exorun Mail Recipients' -Parent 'Mail Recipients'",
            "Remove-ManagementRoleEntry -Identity 'exorun Mail Recipients\\Remove-InboxRule' -Confirm:$false",
            "Set-ManagementRoleEntry -Identity 'exorun Mail Recipients\\Get-Mailbox' -Parameters 'Identity','Filter' -RemoveParameter:$true",
            // The host's own lookups for the scope.
            "Set-ManagementRoleEntry -Identity 'exorun Mail Recipients\\Get-Recipient' -Parameters 'Anr' -RemoveParameter:$true",
            "Set-ManagementRoleEntry -Identity 'exorun Mail Recipients\\Set-Mailbox' -Parameters 'ForwardingSmtpAddress' -RemoveParameter:$true",
            "New-ManagementScope -Name 'exorun write scope' -RecipientRestrictionFilter 'Department -eq ''Sales'''",
            "New-ServicePrincipal -AppId 'app-1' -ObjectId 'sp-1' -DisplayName 'exorun'",
            "New-RoleGroup -Name 'exorun plugins' -Roles 'exorun Mail Recipients' -Members 'sp-1' -CustomRecipientWriteScope 'exorun write scope'",
        ]
    );
}

#[test]
fn an_unscoped_writer_leaves_no_write_scope_and_says_so() {
    let writer = manifest(
        "cleaner",
        &TAGGER.replace("[scope]\nrecipients = \"Department -eq 'Sales'\"\n", ""),
    );
    let needs = Needs::of(&[&writer]);
    assert_eq!(needs.unscoped_writers, ["cleaner"]);
    let plan = plan(&needs, &parents(), &names()).unwrap();
    assert!(!plan.calls.iter().any(|c| c.cmdlet == "New-ManagementScope"));
    assert!(
        plan.notes[0].starts_with("no write scope: cleaner writes without a [scope]"),
        "{:?}",
        plan.notes
    );
}

#[test]
fn a_cmdlet_without_a_known_parent_role_is_an_error() {
    let odd = manifest("odd", "[[cmdlet]]\nname = \"Set-TransportConfig\"\n");
    assert_eq!(
        plan(&Needs::of(&[&odd]), &parents(), &names()).unwrap_err(),
        PlanError::NoParent(vec!["Set-TransportConfig".into()])
    );
    assert_eq!(
        plan(&Needs::of(&[&odd]), &parents(), &names())
            .unwrap_err()
            .to_string(),
        "exorun does not know which built-in role holds Set-TransportConfig; a generated role cannot include it"
    );
}

#[test]
fn check_reports_what_widens_and_what_narrows() {
    let tagger = manifest("tagger", TAGGER);
    let plan = plan(&Needs::of(&[&tagger]), &parents(), &names()).unwrap();
    let mut roles = plan.roles.clone();
    let role = roles.get_mut("exorun Mail Recipients").unwrap();
    // Someone added Remove-InboxRule and a parameter, and took one away.
    role.insert("Remove-InboxRule".into(), vec!["Identity".into()]);
    role.get_mut("Set-Mailbox")
        .unwrap()
        .push("ForwardingSmtpAddress".into());
    role.get_mut("Set-Mailbox")
        .unwrap()
        .retain(|p| p != "CustomAttribute5");
    let tenant = TenantRbac {
        roles: roles.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        write_scope: Some("Department -eq 'Finance'".into()),
        group: Some((
            vec!["exorun Mail Recipients".into(), "Mail Recipients".into()],
            vec!["sp-1".into()],
            Some("exorun write scope".into()),
        )),
        service_principal: true,
    };
    let drift: Vec<(bool, String)> = check(&plan, &names(), &tenant)
        .into_iter()
        .map(|d| (d.widens, d.text))
        .collect();
    assert_eq!(
        drift,
        [
            (true, "role 'exorun Mail Recipients' allows Remove-InboxRule, which no plugin needs".to_owned()),
            (true, "role 'exorun Mail Recipients' allows Set-Mailbox -ForwardingSmtpAddress, which no plugin needs".to_owned()),
            (false, "role 'exorun Mail Recipients' no longer allows Set-Mailbox -CustomAttribute5".to_owned()),
            (true, "scope 'exorun write scope' is \"Department -eq 'Finance'\", the plan says \"Department -eq 'Sales'\"".to_owned()),
            (true, "role group 'exorun plugins' also has the role 'Mail Recipients'".to_owned()),
        ]
    );
    // The tenant as planned: no drift.
    let in_step = TenantRbac {
        roles: plan
            .roles
            .clone()
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        write_scope: plan.write_scope.clone(),
        group: Some((
            vec!["exorun Mail Recipients".into()],
            vec!["sp-1".into()],
            Some("exorun write scope".into()),
        )),
        service_principal: true,
    };
    assert!(check(&plan, &names(), &in_step).is_empty());
}
