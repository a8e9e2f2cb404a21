//! How the tenant's generated role, scope and group differ from the plan:
//! a role entry someone added, a parameter someone widened, a scope
//! changed, the app's membership gone.

use std::collections::BTreeMap;

use crate::plan::{Names, Plan};

/// What the tenant holds of the generated objects, as read with
/// `Get-ManagementRoleEntry`, `Get-ManagementScope`, `Get-RoleGroup` and
/// `Get-ServicePrincipal`. `None` where the object does not exist.
#[derive(Clone, Debug, Default)]
pub struct TenantRbac {
    /// Role name → its entries (cmdlet → parameters).
    pub roles: BTreeMap<String, Option<BTreeMap<String, Vec<String>>>>,
    /// The scope's `RecipientFilter`.
    pub write_scope: Option<String>,
    /// The group's roles, members and write scope.
    pub group: Option<(Vec<String>, Vec<String>, Option<String>)>,
    pub service_principal: bool,
}

/// One difference, and whether it gives the app more than the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// More than the plugins need (a risk), rather than less (a plugin
    /// will be refused).
    pub widens: bool,
    pub text: String,
}

fn more(text: String) -> Drift {
    Drift { widens: true, text }
}

fn less(text: String) -> Drift {
    Drift {
        widens: false,
        text,
    }
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Every difference between `tenant` and `plan`.
pub fn check(plan: &Plan, names: &Names, tenant: &TenantRbac) -> Vec<Drift> {
    let mut drift = Vec::new();
    for (role, planned) in &plan.roles {
        let Some(Some(actual)) = tenant.roles.get(role) else {
            drift.push(less(format!("role '{role}' does not exist")));
            continue;
        };
        for (cmdlet, parameters) in actual {
            match planned.iter().find(|(c, _)| c.eq_ignore_ascii_case(cmdlet)) {
                None => drift.push(more(format!(
                    "role '{role}' allows {cmdlet}, which no plugin needs"
                ))),
                Some((_, wanted)) => {
                    for p in parameters.iter().filter(|p| !has(wanted, p)) {
                        drift.push(more(format!(
                            "role '{role}' allows {cmdlet} -{p}, which no plugin needs"
                        )));
                    }
                    for p in wanted.iter().filter(|p| !has(parameters, p)) {
                        drift.push(less(format!(
                            "role '{role}' no longer allows {cmdlet} -{p}"
                        )));
                    }
                }
            }
        }
        for cmdlet in planned.keys() {
            if !actual.keys().any(|c| c.eq_ignore_ascii_case(cmdlet)) {
                drift.push(less(format!("role '{role}' no longer allows {cmdlet}")));
            }
        }
    }
    match (&plan.write_scope, &tenant.write_scope) {
        (Some(planned), Some(actual)) if planned != actual => drift.push(more(format!(
            "scope '{}' is {actual:?}, the plan says {planned:?}",
            names.scope()
        ))),
        (Some(_), None) => drift.push(more(format!("scope '{}' does not exist", names.scope()))),
        _ => {}
    }
    if !tenant.service_principal {
        drift.push(less(format!(
            "the app {} has no service principal in Exchange",
            names.app_id
        )));
    }
    match &tenant.group {
        None => drift.push(less(format!(
            "role group '{}' does not exist",
            names.group()
        ))),
        Some((roles, members, scope)) => {
            for role in roles.iter().filter(|r| !plan.roles.contains_key(*r)) {
                drift.push(more(format!(
                    "role group '{}' also has the role '{role}'",
                    names.group()
                )));
            }
            for role in plan.roles.keys().filter(|r| !has(roles, r)) {
                drift.push(less(format!(
                    "role group '{}' lacks the role '{role}'",
                    names.group()
                )));
            }
            if !has(members, &names.service_principal_object_id)
                && !has(members, &names.service_principal())
                && !has(members, &names.app_id)
            {
                drift.push(less(format!(
                    "the app is not a member of role group '{}'",
                    names.group()
                )));
            }
            let planned = plan.write_scope.as_ref().map(|_| names.scope());
            if !scope
                .as_deref()
                .map(str::to_ascii_lowercase)
                .eq(&planned.as_deref().map(str::to_ascii_lowercase))
            {
                drift.push(Drift {
                    widens: planned.is_some(),
                    text: format!(
                        "role group '{}' writes with scope {:?}, the plan says {:?}",
                        names.group(),
                        scope,
                        planned
                    ),
                });
            }
        }
    }
    drift
}
