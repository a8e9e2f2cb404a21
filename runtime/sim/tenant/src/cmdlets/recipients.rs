//! The recipient listing cmdlets: Get-Mailbox, Get-Recipient, Get-User,
//! Get-MailUser, Get-MailContact, Get-DistributionGroup.

use exorun_cmdlet::ResultSize;

use super::Invocation;
use crate::directory::{Recipient, RecipientId};
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::filter::{Filter, Literal, Op};

/// `RecipientTypeDetails` values the service accepts; the simulated tenant
/// holds only some of them, the others simply match nothing.
const TYPE_DETAILS: &[&str] = &[
    "UserMailbox",
    "SharedMailbox",
    "RoomMailbox",
    "EquipmentMailbox",
    "LinkedMailbox",
    "SchedulingMailbox",
    "TeamMailbox",
    "GroupMailbox",
    "DiscoveryMailbox",
    "MailUser",
    "GuestMailUser",
    "MailContact",
    "MailUniversalDistributionGroup",
    "MailUniversalSecurityGroup",
    "DynamicDistributionGroup",
    "User",
    "DisabledUser",
];

/// What a listing cmdlet lists and how it shows each result.
struct Listing {
    accept: fn(RecipientId) -> bool,
    view: fn(Recipient) -> Item,
}

fn mailbox_view(r: Recipient) -> Item {
    match r {
        Recipient::Mailbox(m) => Item::Mailbox(m),
        other => Item::Recipient(other),
    }
}

fn mail_user_view(r: Recipient) -> Item {
    match r {
        Recipient::MailUser(u) => Item::MailUser(u),
        other => Item::Recipient(other),
    }
}

fn contact_view(r: Recipient) -> Item {
    match r {
        Recipient::Contact(c) => Item::MailContact(c),
        other => Item::Recipient(other),
    }
}

fn group_view(r: Recipient) -> Item {
    match r {
        Recipient::Group(g) => Item::Group(g),
        other => Item::Recipient(other),
    }
}

pub fn get_mailbox(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    // Soft-deleted and inactive mailboxes do not exist in the simulated tenant.
    if p.bool("SoftDeletedMailbox")?.unwrap_or(false)
        || p.bool("InactiveMailboxOnly")?.unwrap_or(false)
    {
        return Ok(Execution::empty(inv.tenant.org()));
    }
    let archive_only = p.bool("Archive")?.unwrap_or(false);
    p.bool("IncludeInactiveMailbox")?;
    let listing = Listing {
        accept: RecipientId::is_mailbox,
        view: mailbox_view,
    };
    list(inv, listing, archive_only)
}

pub fn get_recipient(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let mut filter = p
        .text("Filter")?
        .map(|text| Filter::parse(&text))
        .transpose()?;
    // RecipientType narrows on the rendered value, exactly like a filter.
    if let Some(wanted) = p.text("RecipientType")? {
        let by_type = Filter::Compare {
            property: "RecipientType".to_owned(),
            op: Op::Eq,
            literal: Literal::Text(wanted),
        };
        filter = Some(match filter {
            Some(f) => Filter::And(Box::new(f), Box::new(by_type)),
            None => by_type,
        });
    }
    let listing = Listing {
        accept: |_| true,
        view: Item::Recipient,
    };
    let items = collect(inv, listing, false, filter.as_ref())?;
    Ok(Execution::capped(items, p.result_size()?, inv.tenant.org()))
}

pub fn get_user(inv: &Invocation) -> Result<Execution, ExoError> {
    let accept = |id| matches!(id, RecipientId::Mailbox(_) | RecipientId::MailUser(_));
    list(
        inv,
        Listing {
            accept,
            view: Item::User,
        },
        false,
    )
}

pub fn get_mail_user(inv: &Invocation) -> Result<Execution, ExoError> {
    let accept = |id| matches!(id, RecipientId::MailUser(_));
    list(
        inv,
        Listing {
            accept,
            view: mail_user_view,
        },
        false,
    )
}

pub fn get_mail_contact(inv: &Invocation) -> Result<Execution, ExoError> {
    let accept = |id| matches!(id, RecipientId::Contact(_));
    list(
        inv,
        Listing {
            accept,
            view: contact_view,
        },
        false,
    )
}

pub fn get_distribution_group(inv: &Invocation) -> Result<Execution, ExoError> {
    let accept = |id| matches!(id, RecipientId::Group(_));
    list(
        inv,
        Listing {
            accept,
            view: group_view,
        },
        false,
    )
}

fn list(inv: &Invocation, listing: Listing, archive_only: bool) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let size = p.result_size()?;
    let filter = p
        .text("Filter")?
        .map(|text| Filter::parse(&text))
        .transpose()?;
    let items = collect(inv, listing, archive_only, filter.as_ref())?;
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

/// The matching recipients, at most one more than `-ResultSize` so that
/// capping can tell whether it truncated.
fn collect(
    inv: &Invocation,
    listing: Listing,
    archive_only: bool,
    filter: Option<&Filter>,
) -> Result<Vec<Item>, ExoError> {
    let p = &inv.params;
    let size = p.result_size()?;
    let wanted_types = match p.texts("RecipientTypeDetails")? {
        None => None,
        Some(values) => Some(recipient_type_details(&values)?),
    };
    let anr = p.text("Anr")?;
    if let Some(identity) = p.text("Identity")? {
        let dir = inv.tenant.read();
        let id = dir.resolve(&identity, listing.accept)?;
        let recipient = dir
            .recipient(id)
            .ok_or_else(|| ExoError::not_found(&identity))?;
        return Ok(vec![(listing.view)(recipient)]);
    }
    let limit = match size {
        ResultSize::Limited(n) => usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1),
        ResultSize::Unlimited => usize::MAX,
    };
    let keep = |r: &Recipient| {
        let typed = wanted_types.as_ref().is_none_or(|types| {
            types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(r.type_details()))
        });
        let archived =
            !archive_only || matches!(r, Recipient::Mailbox(m) if m.archive_guid.is_some());
        let named = anr.as_deref().is_none_or(|a| r.matches_anr(a));
        typed && archived && named
    };
    let sort = p.choice("SortBy", "System.String", SORT_KEYS, |v| {
        SORT_KEYS.iter().position(|k| k.eq_ignore_ascii_case(v))
    })?;
    // Take Arc handles under the read lock; render (for -Filter) outside it.
    let mut candidates: Vec<Recipient> = {
        let dir = inv.tenant.read();
        let bound = if filter.is_some() || sort.is_some() {
            usize::MAX
        } else {
            limit
        };
        dir.all_ids()
            .filter(|id| (listing.accept)(*id))
            .filter_map(|id| dir.recipient(id))
            .filter(|r| keep(r))
            .take(bound)
            .collect()
    };
    if let Some(key) = sort {
        candidates.sort_by_cached_key(|r| sort_key(r, key));
    }
    let Some(filter) = filter else {
        return Ok(candidates
            .into_iter()
            .take(limit)
            .map(listing.view)
            .collect());
    };
    let org = inv.tenant.org();
    let mut items = Vec::new();
    for recipient in candidates {
        if items.len() >= limit {
            break;
        }
        let item = (listing.view)(recipient);
        if filter.matches(&item.render(&org))? {
            items.push(item);
        }
    }
    Ok(items)
}

/// Properties `-SortBy` accepts (ascending, case-insensitive). The service
/// accepts a few more (ServerLegacyDN, ...) that mean nothing here.
const SORT_KEYS: &[&str] = &[
    "Name",
    "DisplayName",
    "Alias",
    "FirstName",
    "LastName",
    "City",
    "Office",
];

fn sort_key(r: &Recipient, key: usize) -> String {
    let mailbox = match r {
        Recipient::Mailbox(m) => Some(m),
        _ => None,
    };
    let text = match SORT_KEYS.get(key).copied().unwrap_or("Name") {
        "DisplayName" => r.display_name(),
        "Alias" => r.alias(),
        "FirstName" => mailbox.map_or("", |m| m.first_name.as_str()),
        "LastName" => mailbox.map_or("", |m| m.last_name.as_str()),
        "City" | "Office" => mailbox.map_or("", |m| m.city.as_str()),
        _ => r.name(),
    };
    text.to_lowercase()
}

fn recipient_type_details(values: &[String]) -> Result<Vec<&'static str>, ExoError> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|v| {
            let v = v.trim();
            TYPE_DETAILS
                .iter()
                .find(|t| t.eq_ignore_ascii_case(v))
                .copied()
                .ok_or_else(|| {
                    ExoError::invalid_enum(
                        "RecipientTypeDetails",
                        v,
                        "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails",
                        TYPE_DETAILS,
                    )
                })
        })
        .collect()
}
