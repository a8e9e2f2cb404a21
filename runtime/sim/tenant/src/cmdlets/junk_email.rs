//! Get/Set-MailboxJunkEmailConfiguration.

use super::Invocation;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::params::MultiValue;
use crate::render;

pub fn get(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    let size = inv.params.result_size()?;
    let dir = inv.tenant.read();
    let position = dir.resolve_mailbox(&identity)?;
    let mailbox = dir
        .mailboxes
        .get(position)
        .cloned()
        .ok_or_else(|| ExoError::not_found(&identity))?;
    drop(dir);
    let items = vec![Item::Ready(render::junk_email(&mailbox))];
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

fn apply(list: &mut Vec<String>, edit: MultiValue) {
    match edit {
        MultiValue::Replace(values) => *list = values,
        MultiValue::Edit { add, remove } => {
            list.retain(|entry| !remove.iter().any(|r| r.eq_ignore_ascii_case(entry)));
            for new in add {
                if !list.iter().any(|e| e.eq_ignore_ascii_case(&new)) {
                    list.push(new);
                }
            }
        }
    }
}

pub fn set(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let enabled = p.bool("Enabled")?;
    let trusted_only = p.bool("TrustedListsOnly")?;
    let contacts = p.bool("ContactsTrusted")?;
    let trusted = p.multi("TrustedSendersAndDomains")?;
    let blocked = p.multi("BlockedSendersAndDomains")?;
    inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let junk = &mut mailbox.junk_email;
        if let Some(flag) = enabled {
            junk.enabled = flag;
        }
        if let Some(flag) = trusted_only {
            junk.trusted_lists_only = flag;
        }
        if let Some(flag) = contacts {
            junk.contacts_trusted = flag;
        }
        if let Some(edit) = trusted {
            apply(&mut junk.trusted_senders_and_domains, edit);
        }
        if let Some(edit) = blocked {
            apply(&mut junk.blocked_senders_and_domains, edit);
        }
        Ok(())
    })?;
    Ok(Execution::empty(inv.tenant.org()))
}
