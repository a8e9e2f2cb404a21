//! Distribution group membership.

use super::Invocation;
use crate::directory::RecipientId;
use crate::error::ExoError;
use crate::execution::{Execution, Item};

fn group_position(dir: &crate::directory::Directory, identity: &str) -> Result<usize, ExoError> {
    match dir.resolve(identity, |id| matches!(id, RecipientId::Group(_)))? {
        RecipientId::Group(i) => Ok(i as usize),
        _ => Err(ExoError::not_found(identity)),
    }
}

pub fn get_members(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    let size = inv.params.result_size()?;
    let dir = inv.tenant.read();
    let position = group_position(&dir, &identity)?;
    let group = dir
        .groups
        .get(position)
        .cloned()
        .ok_or_else(|| ExoError::not_found(&identity))?;
    let items = group
        .members
        .iter()
        .filter_map(|guid| dir.by_guid(*guid))
        .map(Item::Recipient)
        .collect();
    drop(dir);
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

pub fn add_member(inv: &Invocation) -> Result<Execution, ExoError> {
    change_members(inv, true)
}

pub fn remove_member(inv: &Invocation) -> Result<Execution, ExoError> {
    change_members(inv, false)
}

fn change_members(inv: &Invocation, add: bool) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let member = p.required_text("Member")?;
    p.bool("BypassSecurityGroupManagerCheck")?;
    let mut dir = inv.tenant.write();
    let position = group_position(&dir, &identity)?;
    let recipient = dir.resolve_recipient(&member)?;
    let Some(mut group) = dir.groups.get(position).map(|g| g.as_ref().clone()) else {
        return Err(ExoError::not_found(&identity));
    };
    let guid = recipient.guid();
    let present = group.members.contains(&guid);
    match (add, present) {
        (true, true) => return Err(ExoError::member_already_exists(&member, &group.name)),
        (false, false) => return Err(ExoError::member_not_found(&member, &group.name)),
        (true, false) if guid == group.guid => {
            return Err(ExoError::task_argument(format!(
                "The group \"{}\" can't be a member of itself.",
                group.name
            )));
        }
        (true, false) => group.members.push(guid),
        (false, true) => group.members.retain(|g| *g != guid),
    }
    dir.replace_group(position, group);
    drop(dir);
    Ok(Execution::empty(inv.tenant.org()))
}
