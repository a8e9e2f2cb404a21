//! The commands that give the app exactly what its plugins need.

use std::collections::BTreeMap;

use exorun_cmdlet::{Call, Value};

use crate::needs::Needs;
use crate::parents::parent_of;

/// A needed cmdlet: its spelling and its parameters (lower-case key →
/// spelling).
type Need = (String, BTreeMap<String, String>);

/// What the generated objects are called, and who the app is.
#[derive(Clone, Debug)]
pub struct Names {
    /// Prefix of every object made (`exorun`): roles are `<prefix> <parent>`,
    /// the scope `<prefix> write scope`, the group `<prefix> plugins`.
    pub prefix: String,
    pub app_id: String,
    /// The enterprise application's object id in Entra.
    pub service_principal_object_id: String,
}

impl Names {
    pub fn role(&self, parent: &str) -> String {
        format!("{} {parent}", self.prefix)
    }

    pub fn scope(&self) -> String {
        format!("{} write scope", self.prefix)
    }

    pub fn group(&self) -> String {
        format!("{} plugins", self.prefix)
    }

    pub fn service_principal(&self) -> String {
        self.prefix.clone()
    }
}

/// The commands, in order, and what the admin should know.
#[derive(Clone, Debug)]
pub struct Plan {
    pub calls: Vec<Call>,
    pub notes: Vec<String>,
    /// Each custom role and the entries it keeps: what `check` compares.
    pub roles: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The write scope's filter, as the plan writes it.
    pub write_scope: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "exorun does not know which built-in role holds {}; a generated role cannot include {}",
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    NoParent(Vec<String>),
    #[error("no plugin needs any cmdlet: there is nothing to grant")]
    Nothing,
    #[error("the tenant's role '{parent}' has no entry for {cmdlet}, which {plugins} may call")]
    NotInParent {
        parent: String,
        cmdlet: String,
        plugins: String,
    },
}

/// The plan for `needs`. `parent_entries` are the entries of each parent
/// role as the tenant lists them (`Get-ManagementRoleEntry "<role>\*"`):
/// every entry not needed is removed by name.
pub fn plan(
    needs: &Needs,
    parent_entries: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    names: &Names,
) -> Result<Plan, PlanError> {
    if needs.cmdlets.is_empty() {
        return Err(PlanError::Nothing);
    }
    let orphans: Vec<String> = needs
        .cmdlets
        .values()
        .filter(|(name, _)| parent_of(name).is_none())
        .map(|(name, _)| name.clone())
        .collect();
    if !orphans.is_empty() {
        return Err(PlanError::NoParent(orphans));
    }
    let mut calls = Vec::new();
    let mut notes = Vec::new();
    let mut roles = BTreeMap::new();
    // Parent → the needed cmdlets it holds.
    let mut by_parent: BTreeMap<&str, Vec<&Need>> = BTreeMap::new();
    for need in needs.cmdlets.values() {
        if let Some(parent) = parent_of(&need.0) {
            by_parent.entry(parent).or_default().push(need);
        }
    }
    for (parent, needed) in &by_parent {
        let role = names.role(parent);
        let empty = BTreeMap::new();
        let entries = parent_entries.get(*parent).unwrap_or(&empty);
        calls.push(
            Call::new("New-ManagementRole")
                .param("Name", role.as_str())
                .param("Parent", *parent),
        );
        for cmdlet in entries.keys() {
            let keep = needed.iter().any(|(n, _)| n.eq_ignore_ascii_case(cmdlet));
            if !keep {
                calls.push(
                    Call::new("Remove-ManagementRoleEntry")
                        .param("Identity", format!("{role}\\{cmdlet}"))
                        .param("Confirm", false),
                );
            }
        }
        let mut kept = BTreeMap::new();
        for (cmdlet, parameters) in needed {
            let Some((spelling, offered)) = entries
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(cmdlet))
            else {
                return Err(PlanError::NotInParent {
                    parent: (*parent).to_owned(),
                    cmdlet: cmdlet.clone(),
                    plugins: needs.plugins.join(", "),
                });
            };
            let mut allowed = Vec::new();
            for wanted in parameters.values() {
                match offered.iter().find(|o| o.eq_ignore_ascii_case(wanted)) {
                    Some(name) => allowed.push(name.clone()),
                    None => notes.push(format!(
                        "{spelling} -{wanted}: the tenant's '{parent}' role does not offer it, so the tenant will refuse it"
                    )),
                }
            }
            // Remove what is not needed (the documented -RemoveParameter,
            // rather than replacing the list), so the entry keeps exactly
            // the parameters needed that the parent offers.
            let unneeded: Vec<String> = offered
                .iter()
                .filter(|o| !parameters.values().any(|w| w.eq_ignore_ascii_case(o)))
                .cloned()
                .collect();
            if !unneeded.is_empty() {
                calls.push(
                    Call::new("Set-ManagementRoleEntry")
                        .param("Identity", format!("{role}\\{spelling}"))
                        .param("Parameters", Value::Texts(unneeded))
                        .param("RemoveParameter", true),
                );
            }
            kept.insert(spelling.clone(), allowed);
        }
        roles.insert(role, kept);
    }
    let write_scope = needs.write_scope.as_ref().map(ToString::to_string);
    if let Some(filter) = &write_scope {
        calls.push(
            Call::new("New-ManagementScope")
                .param("Name", names.scope())
                .param("RecipientRestrictionFilter", filter.as_str()),
        );
    }
    if !needs.unscoped_writers.is_empty() {
        notes.push(format!(
            "no write scope: {} write{} without a [scope], so the app may write to every recipient its roles reach",
            needs.unscoped_writers.join(", "),
            if needs.unscoped_writers.len() == 1 { "s" } else { "" }
        ));
    }
    calls.push(
        Call::new("New-ServicePrincipal")
            .param("AppId", names.app_id.as_str())
            .param("ObjectId", names.service_principal_object_id.as_str())
            .param("DisplayName", names.service_principal()),
    );
    let mut group = Call::new("New-RoleGroup")
        .param("Name", names.group())
        .param("Roles", Value::Texts(roles.keys().cloned().collect()))
        .param(
            "Members",
            Value::Texts(vec![names.service_principal_object_id.clone()]),
        );
    if write_scope.is_some() {
        group = group.param("CustomRecipientWriteScope", names.scope());
    }
    calls.push(group);
    notes.push(
        "then remove the app's Entra role (Exchange Administrator or Exchange Recipient Administrator): while the app holds it, Exchange adds it to the role group and the role group narrows nothing".to_owned(),
    );
    Ok(Plan {
        calls,
        notes,
        roles,
        write_scope,
    })
}
