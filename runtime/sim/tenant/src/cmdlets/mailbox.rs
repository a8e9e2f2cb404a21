//! Get-MailboxStatistics, Set-Mailbox and Set-User.

use super::Invocation;
use crate::directory::Directory;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::model::{Mailbox, MailboxKind, Organization};
use crate::names::{is_smtp_address, strip_smtp_prefix};
use crate::params::MultiValue;

pub fn get_statistics(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    let archive = inv.params.bool("Archive")?.unwrap_or(false);
    let dir = inv.tenant.read();
    let position = dir.resolve_mailbox(&identity)?;
    let mailbox = dir
        .mailboxes
        .get(position)
        .cloned()
        .ok_or_else(|| ExoError::not_found(&identity))?;
    if archive && mailbox.archive_guid.is_none() {
        return Err(ExoError::task_argument(format!(
            "The mailbox '{identity}' doesn't have an archive mailbox."
        )));
    }
    Ok(Execution::new(
        vec![Item::Statistics(mailbox)],
        inv.tenant.org(),
    ))
}

pub fn set_mailbox(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let display_name = p.text("DisplayName")?;
    let addresses = p.multi("EmailAddresses")?;
    let forwarding = p.nullable_text("ForwardingAddress")?;
    let forwarding_smtp = p.nullable_text("ForwardingSmtpAddress")?;
    let deliver_and_forward = p.bool("DeliverToMailboxAndForward")?;
    let hidden = p.bool("HiddenFromAddressListsEnabled")?;
    let send_on_behalf = p.multi("GrantSendOnBehalfTo")?;
    let kind = p.choice(
        "Type",
        "Microsoft.Exchange.Management.RecipientTasks.ConvertibleMailboxSubType",
        &["Regular", "Shared", "Room", "Equipment"],
        MailboxKind::from_type_parameter,
    )?;
    p.bool("Force")?;
    let mut custom = Vec::new();
    for n in 1..=15usize {
        if let Some(value) = p.nullable_text(&format!("CustomAttribute{n}"))? {
            custom.push((n, value.unwrap_or_default()));
        }
    }
    let org = inv.tenant.org();

    let unchanged = inv.tenant.edit_mailbox(&identity, |mailbox, dir| {
        let before = mailbox.clone();
        if let Some(name) = display_name {
            if name.trim().is_empty() {
                return Err(ExoError::task_argument(
                    "The DisplayName property can't be empty.",
                ));
            }
            mailbox.display_name = name;
        }
        if let Some(edit) = addresses {
            mailbox.email_addresses = edit_addresses(mailbox, edit, dir, &org)?;
        }
        if let Some(target) = forwarding {
            mailbox.forwarding_address = match target {
                None => None,
                Some(target) => Some(dir.resolve_recipient(&target)?.name().to_owned()),
            };
        }
        if let Some(address) = forwarding_smtp {
            mailbox.forwarding_smtp_address = match address {
                None => None,
                Some(address) => {
                    let bare = strip_smtp_prefix(address.trim());
                    if !is_smtp_address(bare) {
                        return Err(invalid_address("ForwardingSmtpAddress", &address));
                    }
                    // Exchange reads the value back with its proxy prefix.
                    Some(format!("smtp:{bare}"))
                }
            };
        }
        if let Some(flag) = deliver_and_forward {
            mailbox.deliver_to_mailbox_and_forward = flag;
        }
        if let Some(flag) = hidden {
            mailbox.hidden_from_address_lists_enabled = flag;
        }
        if let Some(edit) = send_on_behalf {
            mailbox.grant_send_on_behalf_to =
                edit_names(&mailbox.grant_send_on_behalf_to, edit, dir)?;
        }
        if let Some(kind) = kind {
            mailbox.kind = kind;
        }
        for (n, value) in &custom {
            if mailbox.custom_attributes.len() < *n {
                mailbox.custom_attributes.resize(*n, String::new());
            }
            mailbox.custom_attributes[n - 1] = value.clone();
        }
        while mailbox
            .custom_attributes
            .last()
            .is_some_and(String::is_empty)
        {
            mailbox.custom_attributes.pop();
        }
        Ok(*mailbox == before)
    })?;
    Ok(write_answer(inv, &identity, unchanged))
}

/// Set-User: the directory properties of a user. Only users with a
/// mailbox carry them in the simulator; a mail user is not found here.
pub fn set_user(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let department = p.nullable_text("Department")?;
    let title = p.nullable_text("Title")?;
    let city = p.nullable_text("City")?;
    let unchanged = inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let before = mailbox.clone();
        for (field, value) in [
            (&mut mailbox.department, department),
            (&mut mailbox.title, title),
            (&mut mailbox.city, city),
        ] {
            if let Some(value) = value {
                *field = value.unwrap_or_default();
            }
        }
        Ok(*mailbox == before)
    })?;
    Ok(write_answer(inv, &identity, unchanged))
}

/// A Set- cmdlet's answer: nothing, or Exchange's warning when the call
/// changed nothing.
fn write_answer(inv: &Invocation, identity: &str, unchanged: bool) -> Execution {
    let execution = Execution::empty(inv.tenant.org());
    if unchanged {
        return execution.with_warning(format!(
            "The command completed successfully but no settings of '{identity}' have been modified."
        ));
    }
    execution
}

fn invalid_address(parameter: &str, value: &str) -> ExoError {
    ExoError::invalid_value(
        parameter,
        format!(
            "Cannot convert value \"{value}\" to type \"Microsoft.Exchange.Data.SmtpAddress\". Error: \"The email address \"{value}\" isn't correct. Please use this format: user name, the @ sign, followed by the domain name. For example, tonysmith@contoso.com or tony.smith@contoso.com.\""
        ),
    )
}

/// Normalises one proxy address: a bare address is a secondary `smtp:`.
fn proxy(text: &str) -> Result<String, ExoError> {
    let text = text.trim();
    let (prefix, address) = match text.split_once(':') {
        Some((prefix, rest)) if !prefix.contains('@') => (prefix, rest),
        _ => ("smtp", text),
    };
    if prefix.eq_ignore_ascii_case("smtp") {
        if !is_smtp_address(address) {
            return Err(invalid_address("EmailAddresses", text));
        }
        let prefix = if prefix == "SMTP" { "SMTP" } else { "smtp" };
        return Ok(format!("{prefix}:{address}"));
    }
    Ok(format!("{prefix}:{address}"))
}

/// Applies an EmailAddresses edit with Exchange's rules: one primary,
/// accepted domains only, no address another recipient already uses.
fn edit_addresses(
    mailbox: &Mailbox,
    edit: MultiValue,
    dir: &Directory,
    org: &Organization,
) -> Result<Vec<String>, ExoError> {
    let current_primary = mailbox.primary_smtp_address().to_owned();
    let mut list: Vec<String> = match edit {
        MultiValue::Replace(values) => values.iter().map(|v| proxy(v)).collect::<Result<_, _>>()?,
        MultiValue::Edit { add, remove } => {
            let mut list = mailbox.email_addresses.clone();
            for gone in &remove {
                let gone = proxy(gone)?;
                let bare = strip_smtp_prefix(&gone);
                if bare.eq_ignore_ascii_case(&current_primary) && gone.starts_with("smtp") {
                    return Err(ExoError::task_argument(format!(
                        "The primary SMTP address \"{current_primary}\" can't be removed. Set another primary SMTP address first."
                    )));
                }
                list.retain(|a| !a.eq_ignore_ascii_case(&gone));
            }
            for new in &add {
                let new = proxy(new)?;
                if new.starts_with("SMTP:") {
                    // A new primary demotes the old one.
                    for a in list.iter_mut() {
                        if let Some(old) = a.strip_prefix("SMTP:") {
                            *a = format!("smtp:{old}");
                        }
                    }
                }
                list.retain(|a| !a.eq_ignore_ascii_case(&new));
                list.push(new);
            }
            list
        }
    };
    let primaries = list.iter().filter(|a| a.starts_with("SMTP:")).count();
    if primaries > 1 {
        return Err(ExoError::task_argument(
            "The EmailAddresses property can contain only one primary SMTP address.",
        ));
    }
    if primaries == 0 {
        list.retain(|a| !strip_smtp_prefix(a).eq_ignore_ascii_case(&current_primary));
        list.push(format!("SMTP:{current_primary}"));
    }
    for address in &list {
        let bare = strip_smtp_prefix(address);
        if bare.len() == address.len() {
            continue; // SIP:, SPO:, X500: are not checked
        }
        let domain = bare.rsplit('@').next().unwrap_or_default();
        if !org
            .accepted_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
        {
            return Err(ExoError::task_argument(format!(
                "The proxy address \"{address}\" can't be used because the domain \"{domain}\" isn't an accepted domain for your organization."
            )));
        }
        for other in dir.lookup(bare) {
            let Some(holder) = dir.recipient(other) else {
                continue;
            };
            if holder.guid() != mailbox.guid {
                return Err(ExoError::task_argument(format!(
                    "The proxy address \"{address}\" is already being used by the proxy addresses or LegacyExchangeDN of \"{}\". Please choose another proxy address.",
                    holder.name()
                )));
            }
        }
    }
    Ok(list)
}

/// Applies a list edit whose entries are recipients, kept by Name.
fn edit_names(
    current: &[String],
    edit: MultiValue,
    dir: &Directory,
) -> Result<Vec<String>, ExoError> {
    let resolve = |identity: &String| dir.resolve_recipient(identity).map(|r| r.name().to_owned());
    match edit {
        MultiValue::Replace(values) => {
            let mut names: Vec<String> = values.iter().map(resolve).collect::<Result<_, _>>()?;
            names.dedup();
            Ok(names)
        }
        MultiValue::Edit { add, remove } => {
            let mut names = current.to_vec();
            for gone in &remove {
                let gone = resolve(gone)?;
                names.retain(|n| !n.eq_ignore_ascii_case(&gone));
            }
            for new in &add {
                let new = resolve(new)?;
                if !names.iter().any(|n| n.eq_ignore_ascii_case(&new)) {
                    names.push(new);
                }
            }
            Ok(names)
        }
    }
}
