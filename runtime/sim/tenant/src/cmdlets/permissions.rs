//! Mailbox permissions (FullAccess and friends) and recipient permissions
//! (SendAs).

use super::Invocation;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::model::{Mailbox, MailboxPermission};
use crate::render;

const SELF: &str = "NT AUTHORITY\\SELF";
const MAILBOX_RIGHTS: &[&str] = &[
    "FullAccess",
    "ChangeOwner",
    "ChangePermission",
    "DeleteItem",
    "ExternalAccount",
    "ReadPermission",
];
const INHERITANCE: &[&str] = &["All", "Children", "Descendents", "None", "SelfAndChildren"];

fn rights(inv: &Invocation, allowed: &[&str], type_name: &str) -> Result<Vec<String>, ExoError> {
    let values = inv
        .params
        .texts("AccessRights")?
        .ok_or_else(|| ExoError::missing_parameter("AccessRights"))?;
    let mut out: Vec<String> = Vec::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        let value = value.trim();
        let right = allowed
            .iter()
            .find(|r| r.eq_ignore_ascii_case(value))
            .ok_or_else(|| ExoError::invalid_enum("AccessRights", value, type_name, allowed))?;
        if !out.iter().any(|r| r == right) {
            out.push((*right).to_owned());
        }
    }
    if out.is_empty() {
        return Err(ExoError::missing_parameter("AccessRights"));
    }
    Ok(out)
}

/// A trustee as Exchange prints it: a resolved recipient's UPN, or the text
/// itself for well-known principals and SIDs.
fn trustee(inv: &Invocation, text: &str) -> Result<String, ExoError> {
    if text.eq_ignore_ascii_case(SELF)
        || text.starts_with("S-1-")
        || text.to_ascii_uppercase().starts_with("NT AUTHORITY\\")
    {
        return Ok(text.to_owned());
    }
    Ok(inv
        .tenant
        .read()
        .resolve_recipient(text)?
        .trustee_name()
        .to_owned())
}

fn mailbox(inv: &Invocation, identity: &str) -> Result<std::sync::Arc<Mailbox>, ExoError> {
    let dir = inv.tenant.read();
    let position = dir.resolve_mailbox(identity)?;
    dir.mailboxes
        .get(position)
        .cloned()
        .ok_or_else(|| ExoError::not_found(identity))
}

pub fn get_mailbox_permission(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let size = p.result_size()?;
    p.bool("IncludeUnresolvedPermissions")?;
    let user = p.text("User")?.map(|u| trustee(inv, &u)).transpose()?;
    let owner = mailbox(inv, &identity)?;
    let own = render::self_permission();
    let entries =
        std::iter::once((&own, false)).chain(owner.permissions.iter().map(|e| (e, false)));
    let items = entries
        .filter(|(e, _)| {
            user.as_deref()
                .is_none_or(|u| e.user.eq_ignore_ascii_case(u))
        })
        .map(|(e, inherited)| Item::Ready(render::mailbox_permission(&owner, e, inherited)))
        .collect();
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

pub fn add_mailbox_permission(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let user = trustee(inv, &p.required_text("User")?)?;
    let rights = rights(
        inv,
        MAILBOX_RIGHTS,
        "Microsoft.Exchange.Management.RecipientTasks.MailboxRights[]",
    )?;
    let deny = p.bool("Deny")?.unwrap_or(false);
    p.bool("AutoMapping")?;
    let inheritance = p
        .choice(
            "InheritanceType",
            "System.DirectoryServices.ActiveDirectorySecurityInheritance",
            INHERITANCE,
            |v| {
                INHERITANCE
                    .iter()
                    .find(|i| i.eq_ignore_ascii_case(v))
                    .map(|i| (*i).to_owned())
            },
        )?
        .unwrap_or_else(|| "All".to_owned());
    let (owner, entry) = inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let existing = mailbox
            .permissions
            .iter_mut()
            .find(|e| e.user.eq_ignore_ascii_case(&user) && e.deny == deny);
        let entry = match existing {
            Some(entry) => {
                for right in &rights {
                    if !entry.access_rights.contains(right) {
                        entry.access_rights.push(right.clone());
                    }
                }
                entry.clone()
            }
            None => {
                let entry = MailboxPermission {
                    user: user.clone(),
                    access_rights: rights.clone(),
                    deny,
                    inheritance_type: inheritance.clone(),
                };
                mailbox.permissions.push(entry.clone());
                entry
            }
        };
        Ok((mailbox.clone(), entry))
    })?;
    // Add-MailboxPermission prints the resulting entry, as the service does.
    let item = Item::Ready(render::mailbox_permission(&owner, &entry, false));
    Ok(Execution::new(vec![item], inv.tenant.org()))
}

pub fn remove_mailbox_permission(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let user = trustee(inv, &p.required_text("User")?)?;
    let rights = rights(
        inv,
        MAILBOX_RIGHTS,
        "Microsoft.Exchange.Management.RecipientTasks.MailboxRights[]",
    )?;
    let deny = p.bool("Deny")?.unwrap_or(false);
    p.text("InheritanceType")?;
    p.bool("BypassMasterAccountSid")?;
    let removed = inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let mut removed = false;
        for entry in mailbox.permissions.iter_mut() {
            if entry.user.eq_ignore_ascii_case(&user) && entry.deny == deny {
                let before = entry.access_rights.len();
                entry.access_rights.retain(|r| !rights.contains(r));
                removed |= entry.access_rights.len() != before;
            }
        }
        mailbox.permissions.retain(|e| !e.access_rights.is_empty());
        Ok(removed)
    })?;
    let execution = Execution::empty(inv.tenant.org());
    if removed {
        return Ok(execution);
    }
    Ok(execution.with_warning(format!(
        "Can't remove the access control entry on the object \"{identity}\" for account \"{user}\" because the ACE doesn't exist on the object."
    )))
}

pub fn get_recipient_permission(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let size = p.result_size()?;
    let filter_trustee = p.text("Trustee")?.map(|t| trustee(inv, &t)).transpose()?;
    if let Some(rights) = p.texts("AccessRights")?
        && let Some(bad) = rights.iter().find(|r| !r.eq_ignore_ascii_case("SendAs"))
    {
        return Err(ExoError::invalid_enum(
            "AccessRights",
            bad,
            "Microsoft.Exchange.Management.RecipientTasks.MultiValuedProperty`1[RecipientAccessRight]",
            &["SendAs"],
        ));
    }
    let mailboxes: Vec<std::sync::Arc<Mailbox>> = match p.text("Identity")? {
        Some(identity) => vec![mailbox(inv, &identity)?],
        None => inv.tenant.read().mailboxes.clone(),
    };
    let cap = usize::try_from(size.cap())
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut items = Vec::new();
    'outer: for owner in mailboxes {
        for trustee in std::iter::once(SELF).chain(owner.send_as.iter().map(String::as_str)) {
            if filter_trustee
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(trustee))
            {
                items.push(Item::SendAs {
                    owner: owner.clone(),
                    trustee: trustee.to_owned(),
                });
                if items.len() >= cap {
                    break 'outer;
                }
            }
        }
    }
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

fn send_as_rights(inv: &Invocation) -> Result<(), ExoError> {
    rights(
        inv,
        &["SendAs"],
        "Microsoft.Exchange.Management.RecipientTasks.MultiValuedProperty`1[RecipientAccessRight]",
    )
    .map(|_| ())
}

pub fn add_recipient_permission(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let trustee = trustee(inv, &p.required_text("Trustee")?)?;
    send_as_rights(inv)?;
    let (owner, added) = inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let present = trustee.eq_ignore_ascii_case(SELF)
            || mailbox
                .send_as
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&trustee));
        if !present {
            mailbox.send_as.push(trustee.clone());
        }
        Ok((mailbox.clone(), !present))
    })?;
    let item = Item::SendAs {
        owner: std::sync::Arc::new(owner),
        trustee,
    };
    let execution = Execution::new(vec![item], inv.tenant.org());
    if added {
        return Ok(execution);
    }
    Ok(execution
        .with_warning("The appropriate access control entry is already present on the object."))
}

pub fn remove_recipient_permission(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let trustee = trustee(inv, &p.required_text("Trustee")?)?;
    send_as_rights(inv)?;
    let removed = inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let before = mailbox.send_as.len();
        mailbox
            .send_as
            .retain(|t| !t.eq_ignore_ascii_case(&trustee));
        Ok(mailbox.send_as.len() != before)
    })?;
    let execution = Execution::empty(inv.tenant.org());
    if removed {
        return Ok(execution);
    }
    Ok(execution.with_warning(format!(
        "Can't remove the access control entry on the object \"{identity}\" for account \"{trustee}\" because the ACE doesn't exist on the object."
    )))
}
