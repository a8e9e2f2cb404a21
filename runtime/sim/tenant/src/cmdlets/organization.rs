//! Organisation-wide reads: accepted domains, organisation config, role
//! groups, transport rules.

use super::Invocation;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::filter::Filter;
use crate::render;

pub fn get_accepted_domain(inv: &Invocation) -> Result<Execution, ExoError> {
    let org = inv.tenant.org();
    let size = inv.params.result_size()?;
    let identity = inv.params.text("Identity")?;
    let domains: Vec<&String> = org
        .accepted_domains
        .iter()
        .filter(|d| {
            identity
                .as_deref()
                .is_none_or(|i| d.eq_ignore_ascii_case(i.trim()))
        })
        .collect();
    if let (Some(identity), true) = (&identity, domains.is_empty()) {
        return Err(ExoError::not_found(identity));
    }
    let items = domains
        .into_iter()
        .map(|d| Item::Ready(render::accepted_domain(d, &org)))
        .collect();
    Ok(Execution::capped(items, size, org.clone()))
}

pub fn get_organization_config(inv: &Invocation) -> Result<Execution, ExoError> {
    let org = inv.tenant.org();
    Ok(Execution::new(
        vec![Item::Ready(render::organization_config(&org))],
        org,
    ))
}

pub fn get_role_group(inv: &Invocation) -> Result<Execution, ExoError> {
    let org = inv.tenant.org();
    let p = &inv.params;
    let size = p.result_size()?;
    p.bool("ShowPartnerLinked")?;
    let identity = p.text("Identity")?;
    let filter = p.text("Filter")?.map(|f| Filter::parse(&f)).transpose()?;
    let groups = inv.tenant.read().role_groups.clone();
    let mut items = Vec::new();
    for group in groups.iter() {
        let named = identity.as_deref().is_none_or(|i| {
            group.name.eq_ignore_ascii_case(i.trim())
                || group.guid.hyphenated().to_string() == i.trim().to_lowercase()
        });
        if !named {
            continue;
        }
        let rendered = render::role_group(group, &org);
        if let Some(filter) = &filter
            && !filter.matches(&rendered)?
        {
            continue;
        }
        items.push(Item::Ready(rendered));
    }
    if let (Some(identity), true) = (&identity, items.is_empty()) {
        return Err(ExoError::not_found(identity));
    }
    Ok(Execution::capped(items, size, org))
}

pub fn get_transport_rule(inv: &Invocation) -> Result<Execution, ExoError> {
    let org = inv.tenant.org();
    let p = &inv.params;
    let size = p.result_size()?;
    let identity = p.text("Identity")?;
    let state = p.choice(
        "State",
        "Microsoft.Exchange.MessagingPolicies.Rules.RuleState",
        &["Enabled", "Disabled"],
        |v| match v.to_ascii_lowercase().as_str() {
            "enabled" => Some(true),
            "disabled" => Some(false),
            _ => None,
        },
    )?;
    let rules = inv.tenant.read().transport_rules.clone();
    let items: Vec<Item> = rules
        .iter()
        .filter(|r| {
            identity.as_deref().is_none_or(|i| {
                r.name.eq_ignore_ascii_case(i.trim())
                    || r.guid.hyphenated().to_string() == i.trim().to_lowercase()
            })
        })
        .filter(|r| state.is_none_or(|s| r.enabled == s))
        .map(|r| Item::Ready(render::transport_rule(r)))
        .collect();
    if let (Some(identity), true) = (&identity, items.is_empty()) {
        return Err(ExoError::not_found(identity));
    }
    Ok(Execution::capped(items, size, org))
}
