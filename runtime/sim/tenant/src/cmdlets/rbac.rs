//! Exchange RBAC for apps: service principals, custom management roles and
//! their entries, management scopes and role groups with a write scope.
//! What they allow is enforced in [`crate::roles`].

use serde_json::Value;

use super::Invocation;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::filter::Filter;
use crate::model::{ManagementRole, ManagementScope, RoleEntry, RoleGroup, ServicePrincipal};
use crate::params::MultiValue;
use crate::roles;
use crate::shape::Obj;

fn ready(values: Vec<Value>, inv: &Invocation) -> Execution {
    Execution::new(
        values.into_iter().map(Item::Ready).collect(),
        inv.tenant.org(),
    )
}

fn already_exists(kind: &str, name: &str) -> ExoError {
    ExoError::task_argument(format!("The {kind} \"{name}\" already exists."))
}

fn render_sp(sp: &ServicePrincipal) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &sp.object_id)
        .str("AppId", &sp.app_id)
        .str("ObjectId", &sp.object_id)
        .str("DisplayName", &sp.display_name)
        .guid("Guid", sp.guid)
        .bool("IsValid", true);
    o.build()
}

fn render_role(role: &ManagementRole) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &role.name)
        .str("Name", &role.name)
        .str("Parent", &role.parent)
        .bool("IsRootRole", role.parent.is_empty())
        .bool("IsEndUserRole", false)
        .guid("Guid", role.guid)
        .bool("IsValid", true);
    o.build()
}

fn render_entry(role: &str, entry: &RoleEntry) -> Value {
    let mut o = Obj::new();
    o.str("Identity", format!("{role}\\{}", entry.cmdlet))
        .str("Name", &entry.cmdlet)
        .str("Role", role)
        .str("Type", "Cmdlet")
        .strings("Parameters", &entry.parameters);
    o.build()
}

fn render_scope(scope: &ManagementScope) -> Value {
    let mut o = Obj::new();
    o.str("Identity", &scope.name)
        .str("Name", &scope.name)
        .str("RecipientFilter", &scope.recipient_restriction_filter)
        .str("ScopeRestrictionType", "RecipientScope")
        .guid("Guid", scope.guid)
        .bool("IsValid", true);
    o.build()
}

/// `Role\Cmdlet` into its parts.
fn entry_identity(identity: &str) -> Result<(&str, &str), ExoError> {
    identity
        .trim()
        .split_once('\\')
        .filter(|(role, cmdlet)| !role.is_empty() && !cmdlet.is_empty())
        .ok_or_else(|| {
            ExoError::invalid_value(
                "Identity",
                format!("\"{identity}\" is not a role entry; use <role>\\<cmdlet>"),
            )
        })
}

pub fn new_service_principal(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let app_id = p.required_text("AppId")?.trim().to_owned();
    let sp = ServicePrincipal {
        display_name: p.text("DisplayName")?.unwrap_or_else(|| app_id.clone()),
        app_id,
        object_id: p.required_text("ObjectId")?.trim().to_owned(),
        guid: uuid::Uuid::new_v4(),
    };
    let mut dir = inv.tenant.write();
    if dir.service_principals.iter().any(|s| {
        s.app_id.eq_ignore_ascii_case(&sp.app_id) || s.object_id.eq_ignore_ascii_case(&sp.object_id)
    }) {
        return Err(already_exists("service principal", &sp.app_id));
    }
    let rendered = render_sp(&sp);
    dir.service_principals.push(sp);
    Ok(ready(vec![rendered], inv))
}

pub fn get_service_principal(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.text("Identity")?;
    let dir = inv.tenant.read();
    let found: Vec<Value> = dir
        .service_principals
        .iter()
        .filter(|sp| identity.as_deref().is_none_or(|i| roles::names(i, sp)))
        .map(render_sp)
        .collect();
    if let (Some(identity), true) = (&identity, found.is_empty()) {
        return Err(ExoError::not_found(identity));
    }
    Ok(ready(found, inv))
}

pub fn new_management_role(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let name = p.required_text("Name")?.trim().to_owned();
    let parent_name = p.required_text("Parent")?;
    let mut dir = inv.tenant.write();
    if roles::role(&dir, &name).is_some() {
        return Err(already_exists("management role", &name));
    }
    let parent =
        roles::role(&dir, &parent_name).ok_or_else(|| ExoError::not_found(&parent_name))?;
    let role = ManagementRole {
        name,
        parent: parent.name,
        entries: parent.entries,
        guid: uuid::Uuid::new_v4(),
    };
    let rendered = render_role(&role);
    dir.management_roles.push(role);
    Ok(ready(vec![rendered], inv))
}

pub fn get_management_role(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.text("Identity")?;
    let dir = inv.tenant.read();
    let mut found: Vec<ManagementRole> = Vec::new();
    match &identity {
        Some(name) => found.extend(roles::role(&dir, name)),
        None => {
            found.extend(
                roles::BUILT_IN
                    .iter()
                    .filter_map(|(n, _)| roles::built_in(n)),
            );
            found.extend(dir.management_roles.iter().cloned());
        }
    }
    if let (Some(identity), true) = (&identity, found.is_empty()) {
        return Err(ExoError::not_found(identity));
    }
    Ok(ready(found.iter().map(render_role).collect(), inv))
}

pub fn get_management_role_entry(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    let (role_name, cmdlet) = entry_identity(&identity)?;
    let dir = inv.tenant.read();
    let role = roles::role(&dir, role_name).ok_or_else(|| ExoError::not_found(role_name))?;
    let found: Vec<Value> = role
        .entries
        .iter()
        .filter(|e| crate::filter::wildcard(cmdlet, &e.cmdlet))
        .map(|e| render_entry(&role.name, e))
        .collect();
    if found.is_empty() && !cmdlet.contains('*') {
        return Err(ExoError::not_found(&identity));
    }
    Ok(ready(found, inv))
}

/// Runs `edit` on the custom role `role_name`; built-in roles cannot be
/// changed.
fn edit_custom_role<R>(
    inv: &Invocation,
    role_name: &str,
    edit: impl FnOnce(&mut ManagementRole) -> Result<R, ExoError>,
) -> Result<R, ExoError> {
    let mut dir = inv.tenant.write();
    match dir
        .management_roles
        .iter_mut()
        .find(|r| r.name.eq_ignore_ascii_case(role_name.trim()))
    {
        Some(role) => edit(role),
        None if roles::built_in(role_name).is_some() => Err(ExoError::task_argument(format!(
            "The built-in role \"{role_name}\" can't be changed. Create a role with New-ManagementRole -Parent \"{role_name}\" and change that."
        ))),
        None => Err(ExoError::not_found(role_name)),
    }
}

pub fn remove_management_role_entry(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    inv.params.bool("Confirm")?;
    let (role_name, cmdlet) = entry_identity(&identity)?;
    edit_custom_role(inv, role_name, |role| {
        let before = role.entries.len();
        role.entries
            .retain(|e| !e.cmdlet.eq_ignore_ascii_case(cmdlet.trim()));
        if role.entries.len() == before {
            return Err(ExoError::not_found(&identity));
        }
        Ok(())
    })?;
    Ok(Execution::empty(inv.tenant.org()))
}

pub fn set_management_role_entry(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let (role_name, cmdlet) = entry_identity(&identity)?;
    let given = p
        .multi("Parameters")?
        .ok_or_else(|| ExoError::missing_parameter("Parameters"))?;
    let add = p.bool("AddParameter")?.unwrap_or(false);
    let remove = p.bool("RemoveParameter")?.unwrap_or(false);
    let names = match given {
        MultiValue::Replace(names) => names,
        MultiValue::Edit { add, .. } => add,
    };
    let dir = inv.tenant.read();
    let parent_entry = {
        let role = roles::role(&dir, role_name).ok_or_else(|| ExoError::not_found(role_name))?;
        roles::role(&dir, &role.parent).and_then(|parent| {
            parent
                .entries
                .into_iter()
                .find(|e| e.cmdlet.eq_ignore_ascii_case(cmdlet.trim()))
        })
    };
    drop(dir);
    edit_custom_role(inv, role_name, |role| {
        let entry = role
            .entries
            .iter_mut()
            .find(|e| e.cmdlet.eq_ignore_ascii_case(cmdlet.trim()))
            .ok_or_else(|| ExoError::not_found(&identity))?;
        for name in &names {
            // A child role can only keep what its parent has.
            let known = parent_entry
                .as_ref()
                .is_some_and(|pe| pe.parameters.iter().any(|p| p.eq_ignore_ascii_case(name)));
            if !known && !remove {
                return Err(ExoError::task_argument(format!(
                    "The parameter \"{name}\" isn't available on the parent role's entry for \"{}\".",
                    entry.cmdlet
                )));
            }
        }
        let listed = |p: &String| names.iter().any(|n| n.eq_ignore_ascii_case(p));
        if remove {
            entry.parameters.retain(|p| !listed(p));
        } else if add {
            for name in &names {
                if !entry
                    .parameters
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(name))
                {
                    entry.parameters.push(name.clone());
                }
            }
        } else {
            entry.parameters = names.clone();
        }
        Ok(())
    })?;
    Ok(Execution::empty(inv.tenant.org()))
}

pub fn new_management_scope(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let name = p.required_text("Name")?.trim().to_owned();
    let filter = p.required_text("RecipientRestrictionFilter")?;
    Filter::parse(&filter)?;
    let mut dir = inv.tenant.write();
    if dir
        .management_scopes
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(&name))
    {
        return Err(already_exists("management scope", &name));
    }
    let scope = ManagementScope {
        name,
        recipient_restriction_filter: filter,
        guid: uuid::Uuid::new_v4(),
    };
    let rendered = render_scope(&scope);
    dir.management_scopes.push(scope);
    Ok(ready(vec![rendered], inv))
}

pub fn get_management_scope(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.text("Identity")?;
    let dir = inv.tenant.read();
    let found: Vec<Value> = dir
        .management_scopes
        .iter()
        .filter(|s| {
            identity
                .as_deref()
                .is_none_or(|i| s.name.eq_ignore_ascii_case(i.trim()))
        })
        .map(render_scope)
        .collect();
    if let (Some(identity), true) = (&identity, found.is_empty()) {
        return Err(ExoError::not_found(identity));
    }
    Ok(ready(found, inv))
}

/// Every member given must be a service principal Exchange knows.
fn check_members(dir: &crate::directory::Directory, members: &[String]) -> Result<(), ExoError> {
    for member in members {
        let known = dir
            .service_principals
            .iter()
            .any(|sp| roles::names(member, sp))
            || dir.resolve_recipient(member).is_ok();
        if !known {
            return Err(ExoError::not_found(member));
        }
    }
    Ok(())
}

pub fn new_role_group(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let name = p.required_text("Name")?.trim().to_owned();
    let role_names = p.texts("Roles")?.unwrap_or_default();
    let members = p.texts("Members")?.unwrap_or_default();
    let scope = p.text("CustomRecipientWriteScope")?;
    let description = p.text("Description")?.unwrap_or_default();
    let mut dir = inv.tenant.write();
    if dir
        .role_groups
        .iter()
        .any(|g| g.name.eq_ignore_ascii_case(&name))
    {
        return Err(already_exists("role group", &name));
    }
    let mut roles_found = Vec::new();
    for role_name in &role_names {
        let role = roles::role(&dir, role_name).ok_or_else(|| ExoError::not_found(role_name))?;
        roles_found.push(role.name);
    }
    if let Some(scope) = &scope
        && !dir
            .management_scopes
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(scope.trim()))
    {
        return Err(ExoError::not_found(scope));
    }
    check_members(&dir, &members)?;
    let group = RoleGroup {
        name,
        description,
        roles: roles_found,
        members,
        custom_recipient_write_scope: scope.map(|s| s.trim().to_owned()),
        guid: uuid::Uuid::new_v4(),
        when_created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    };
    let org = inv.tenant.org();
    let rendered = crate::render::role_group(&group, &org);
    dir.role_groups.push(std::sync::Arc::new(group));
    Ok(ready(vec![rendered], inv))
}

pub fn add_role_group_member(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let member = p.required_text("Member")?;
    let mut dir = inv.tenant.write();
    check_members(&dir, std::slice::from_ref(&member))?;
    let position = dir
        .role_groups
        .iter()
        .position(|g| g.name.eq_ignore_ascii_case(identity.trim()))
        .ok_or_else(|| ExoError::not_found(&identity))?;
    let mut group = RoleGroup::clone(&dir.role_groups[position]);
    if group
        .members
        .iter()
        .any(|m| m.eq_ignore_ascii_case(member.trim()))
    {
        return Err(ExoError::member_already_exists(&member, &group.name));
    }
    group.members.push(member.trim().to_owned());
    dir.role_groups[position] = std::sync::Arc::new(group);
    Ok(Execution::empty(inv.tenant.org()))
}
