//! Exchange RBAC for an app, beside the Entra roles of [`crate::rbac`]:
//! an app whose service principal (`New-ServicePrincipal`) is a member of
//! role groups may run what those groups' roles allow, and nothing else:
//! - only the cmdlets the roles have entries for;
//! - only the parameters those entries list;
//! - for writes, only to recipients inside the group's
//!   `CustomRecipientWriteScope`.
//!
//! An app that also holds an Entra role that allows the call keeps that
//! right: Exchange adds the two up. This is why the advice is to remove the
//! broad Entra role once the role group is in place.
//!
//! Built-in roles are listed here with the cmdlets the simulator serves.
//! Which built-in role holds which cmdlet follows each cmdlet's
//! "Permissions" note on Microsoft Learn (unverified for the inbox rule,
//! auto-reply and junk e-mail cmdlets, which live in several roles; here
//! they are in Mail Recipients). Each entry allows every parameter the
//! simulator knows for its cmdlet.

use crate::Tenant;
use crate::cmdlets::{self, CmdletSpec};
use crate::directory::Directory;
use crate::error::ExoError;
use crate::filter::Filter;
use crate::model::{ManagementRole, RoleEntry, ServicePrincipal};
use crate::rbac::{Access, Caller};

/// Built-in roles and their cmdlets.
pub const BUILT_IN: &[(&str, &[&str])] = &[
    (
        "Mail Recipients",
        &[
            "Get-Mailbox",
            "Set-Mailbox",
            "Get-Recipient",
            "Get-User",
            "Set-User",
            "Get-MailUser",
            "Get-MailContact",
            "Get-MailboxStatistics",
            "Get-MailboxPermission",
            "Add-MailboxPermission",
            "Remove-MailboxPermission",
            "Get-RecipientPermission",
            "Add-RecipientPermission",
            "Remove-RecipientPermission",
            "Get-MailboxAutoReplyConfiguration",
            "Set-MailboxAutoReplyConfiguration",
            "Get-MailboxJunkEmailConfiguration",
            "Set-MailboxJunkEmailConfiguration",
            "Get-InboxRule",
            "New-InboxRule",
            "Set-InboxRule",
            "Enable-InboxRule",
            "Disable-InboxRule",
            "Remove-InboxRule",
        ],
    ),
    (
        "Distribution Groups",
        &[
            "Get-Recipient",
            "Get-DistributionGroup",
            "Get-DistributionGroupMember",
            "Add-DistributionGroupMember",
            "Remove-DistributionGroupMember",
        ],
    ),
    (
        "View-Only Configuration",
        &[
            "Get-AcceptedDomain",
            "Get-OrganizationConfig",
            "Get-TransportRule",
            "Get-RoleGroup",
        ],
    ),
    (
        "Role Management",
        &[
            "Get-RoleGroup",
            "New-RoleGroup",
            "Add-RoleGroupMember",
            "Get-ManagementRole",
            "New-ManagementRole",
            "Get-ManagementRoleEntry",
            "Set-ManagementRoleEntry",
            "Remove-ManagementRoleEntry",
            "Get-ManagementScope",
            "New-ManagementScope",
            "Get-ServicePrincipal",
            "New-ServicePrincipal",
        ],
    ),
];

/// The built-in role `name` as entries (any case), or `None`.
pub fn built_in(name: &str) -> Option<ManagementRole> {
    let (role, cmdlets) = BUILT_IN
        .iter()
        .find(|(role, _)| role.eq_ignore_ascii_case(name.trim()))?;
    Some(ManagementRole {
        name: (*role).to_owned(),
        parent: String::new(),
        entries: cmdlets
            .iter()
            .filter_map(|c| cmdlets::find(c))
            .map(|spec| RoleEntry {
                cmdlet: spec.name.to_owned(),
                parameters: spec.parameters.iter().map(|p| (*p).to_owned()).collect(),
            })
            .collect(),
        guid: uuid::Uuid::nil(),
    })
}

/// A custom or built-in role by name.
pub fn role(dir: &Directory, name: &str) -> Option<ManagementRole> {
    dir.management_roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
        .cloned()
        .or_else(|| built_in(name))
}

/// Whether a role group member names this service principal: by its
/// display name, object id or app id, as `-Members` accepts them.
pub fn names(member: &str, sp: &ServicePrincipal) -> bool {
    let member = member.trim();
    [&sp.display_name, &sp.object_id, &sp.app_id]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(member))
}

/// Decides a call the caller's Entra roles refused (`refused`) by the role
/// groups its service principal is a member of.
pub(crate) fn authorize_by_role_groups(
    tenant: &Tenant,
    caller: &Caller,
    spec: &CmdletSpec,
    call: &exorun_cmdlet::Call,
    refused: ExoError,
) -> Result<(), ExoError> {
    let dir = tenant.read();
    let Some(sp) = dir
        .service_principals
        .iter()
        .find(|sp| sp.app_id.eq_ignore_ascii_case(&caller.app_id))
    else {
        return Err(refused);
    };
    let groups: Vec<_> = dir
        .role_groups
        .iter()
        .filter(|g| g.members.iter().any(|m| names(m, sp)))
        .collect();
    if groups.is_empty() {
        return Err(refused);
    }
    // The cmdlet must be in one of the roles, with every parameter given.
    let mut has_cmdlet = false;
    let mut missing_parameter: Option<String> = None;
    let mut scopes: Vec<Option<&str>> = Vec::new();
    for group in &groups {
        for role_name in &group.roles {
            let Some(role) = role(&dir, role_name) else {
                continue;
            };
            let Some(entry) = role
                .entries
                .iter()
                .find(|e| e.cmdlet.eq_ignore_ascii_case(spec.name))
            else {
                continue;
            };
            has_cmdlet = true;
            let not_allowed = call.parameters.iter().map(|(name, _)| name).find(|name| {
                !entry
                    .parameters
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(name))
                    && !is_common_parameter(name)
            });
            match not_allowed {
                Some(name) => missing_parameter = Some(name.clone()),
                None => scopes.push(group.custom_recipient_write_scope.as_deref()),
            }
        }
    }
    if !has_cmdlet {
        // The session was never given the cmdlet: to the caller it does
        // not exist.
        return Err(ExoError::unknown_cmdlet(spec.name));
    }
    if scopes.is_empty() {
        let name = missing_parameter.unwrap_or_default();
        return Err(ExoError::unknown_parameter(&name));
    }
    if spec.access == Access::Read || scopes.iter().any(Option::is_none) {
        return Ok(());
    }
    // A write: its target must be inside one of the groups' write scopes.
    let Some(target) = target_of(spec.name, call) else {
        return Err(out_of_scope(spec.name, "(no target)"));
    };
    let recipient = dir.resolve_recipient(&target)?;
    let org = tenant.org();
    let mut object = crate::shape::Obj::new();
    crate::render::recipient(&mut object, &recipient, &org);
    let object = object.build();
    for scope in scopes.into_iter().flatten() {
        let Some(scope) = dir
            .management_scopes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(scope))
        else {
            continue;
        };
        let filter = Filter::parse(&scope.recipient_restriction_filter)?;
        if filter.matches(&object)? {
            return Ok(());
        }
    }
    Err(out_of_scope(spec.name, &target))
}

/// PowerShell's common parameters, which no role entry lists and every
/// cmdlet takes.
fn is_common_parameter(name: &str) -> bool {
    [
        "Confirm",
        "WhatIf",
        "ErrorAction",
        "WarningAction",
        "Verbose",
    ]
    .iter()
    .any(|c| c.eq_ignore_ascii_case(name))
}

/// The recipient a write acts on: `-Mailbox`, or the mailbox part of an
/// inbox rule's `-Identity`, or `-Identity`.
fn target_of(cmdlet: &str, call: &exorun_cmdlet::Call) -> Option<String> {
    let text = |name: &str| match call.get(name) {
        Some(exorun_cmdlet::Value::Text(t)) => Some(t.clone()),
        _ => None,
    };
    if cmdlet.to_ascii_lowercase().ends_with("-inboxrule") {
        if let Some(mailbox) = text("Mailbox") {
            return Some(mailbox);
        }
        return text("Identity").and_then(|i| i.split_once('\\').map(|(m, _)| m.to_owned()));
    }
    text("Identity")
}

/// Exchange's refusal of a write outside the caller's write scope
/// (wording unverified).
fn out_of_scope(cmdlet: &str, target: &str) -> ExoError {
    ExoError::access_denied(format!(
        "The operation couldn't be performed because '{target}' is outside the write scope of the role assignment that allows '{cmdlet}'."
    ))
}
