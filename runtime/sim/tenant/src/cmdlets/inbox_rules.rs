//! Get/New/Set/Enable/Disable/Remove-InboxRule.
//!
//! App-only callers have no mailbox of their own, so `-Mailbox` (or an
//! Identity of the form `alias\RuleIdentity`) is required. Without it the
//! service looks for the caller's own mailbox and does not find it; we
//! answer with that not-found error, naming the app (unverified).

use super::Invocation;
use crate::directory::Directory;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::model::{InboxRule, Mailbox};
use crate::names::{external_target, internal_target, is_smtp_address};
use crate::params::Params;
use crate::render;

pub const NEW_PARAMETERS: &[&str] = &[
    "Name",
    "Mailbox",
    "From",
    "SubjectContainsWords",
    "ForwardTo",
    "RedirectTo",
    "ForwardAsAttachmentTo",
    "MoveToFolder",
    "DeleteMessage",
    "MarkAsRead",
    "StopProcessingRules",
    "Priority",
    "Force",
    "ValidateOnly",
];

pub const SET_PARAMETERS: &[&str] = &[
    "Identity",
    "Mailbox",
    "Name",
    "From",
    "SubjectContainsWords",
    "ForwardTo",
    "RedirectTo",
    "ForwardAsAttachmentTo",
    "MoveToFolder",
    "DeleteMessage",
    "MarkAsRead",
    "StopProcessingRules",
    "Priority",
    "Force",
];

/// Which mailbox a rule cmdlet works on, and which rule if one is named.
struct Target {
    mailbox: String,
    rule: Option<String>,
}

fn target(inv: &Invocation, identity: Option<String>) -> Result<Target, ExoError> {
    let mailbox = inv.params.text("Mailbox")?;
    let (from_identity, rule) = match identity {
        Some(identity) => match identity.split_once('\\') {
            Some((owner, rule)) => (Some(owner.to_owned()), Some(rule.to_owned())),
            None => (None, Some(identity)),
        },
        None => (None, None),
    };
    let mailbox = mailbox
        .or(from_identity)
        .ok_or_else(|| ExoError::not_found(&inv.caller.app_id))?;
    Ok(Target { mailbox, rule })
}

/// Finds a rule by RuleIdentity or by name (names may repeat: ambiguous).
fn find_rule(mailbox: &Mailbox, rule: &str, shown: &str) -> Result<usize, ExoError> {
    if let Ok(id) = rule.trim().parse::<u64>()
        && let Some(i) = mailbox
            .inbox_rules
            .iter()
            .position(|r| r.rule_identity == id)
    {
        return Ok(i);
    }
    let named: Vec<usize> = mailbox
        .inbox_rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.name.eq_ignore_ascii_case(rule.trim()))
        .map(|(i, _)| i)
        .collect();
    match named[..] {
        [] => Err(ExoError::not_found(shown)),
        [one] => Ok(one),
        _ => Err(ExoError::ambiguous(shown)),
    }
}

pub fn get(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.text("Identity")?;
    let size = inv.params.result_size()?;
    let skip = inv.params.number("SkipCount")?.unwrap_or(0) as usize;
    inv.params.bool("IncludeHidden")?;
    let target = target(inv, identity.clone())?;
    let dir = inv.tenant.read();
    let position = dir.resolve_mailbox(&target.mailbox)?;
    let mailbox = dir
        .mailboxes
        .get(position)
        .cloned()
        .ok_or_else(|| ExoError::not_found(&target.mailbox))?;
    drop(dir);
    let rules: Vec<&InboxRule> = match &target.rule {
        Some(rule) => {
            let shown = identity.unwrap_or_default();
            vec![&mailbox.inbox_rules[find_rule(&mailbox, rule, &shown)?]]
        }
        None => mailbox.inbox_rules.iter().skip(skip).collect(),
    };
    let items = rules
        .into_iter()
        .map(|rule| Item::Ready(render::inbox_rule(rule, &mailbox)))
        .collect();
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

pub fn new(inv: &Invocation) -> Result<Execution, ExoError> {
    let name = inv.params.required_text("Name")?;
    let target = target(inv, None)?;
    let validate_only = inv.params.bool("ValidateOnly")?.unwrap_or(false);
    let (rule, owner) = inv.tenant.edit_mailbox(&target.mailbox, |mailbox, dir| {
        let rule_identity = next_rule_identity(dir, mailbox);
        let mut rule = InboxRule {
            rule_identity,
            name: name.clone(),
            priority: mailbox.inbox_rules.len() as u32 + 1,
            enabled: true,
            from: Vec::new(),
            subject_contains_words: Vec::new(),
            forward_to: Vec::new(),
            redirect_to: Vec::new(),
            forward_as_attachment_to: Vec::new(),
            move_to_folder: None,
            delete_message: false,
            mark_as_read: false,
            stop_processing_rules: false,
        };
        apply(&inv.params, &mut rule, dir)?;
        if !validate_only {
            place(mailbox, rule.clone());
        }
        let placed = mailbox
            .inbox_rules
            .iter()
            .find(|r| r.rule_identity == rule_identity)
            .cloned()
            .unwrap_or(rule);
        Ok((placed, mailbox.clone()))
    })?;
    if !validate_only {
        inv.tenant.write().rule_sequence += 1;
    }
    let item = Item::Ready(render::inbox_rule(&rule, &owner));
    Ok(Execution::new(vec![item], inv.tenant.org()))
}

pub fn set(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    let new_name = inv.params.text("Name")?;
    edit_rule(inv, &identity, |mailbox, i, dir| {
        let Some(mut rule) = mailbox.inbox_rules.get(i).cloned() else {
            return Err(ExoError::not_found(&identity));
        };
        if let Some(name) = &new_name {
            rule.name = name.clone();
        }
        apply(&inv.params, &mut rule, dir)?;
        mailbox.inbox_rules.remove(i);
        place(mailbox, rule);
        Ok(())
    })
}

pub fn enable(inv: &Invocation) -> Result<Execution, ExoError> {
    toggle(inv, true)
}

pub fn disable(inv: &Invocation) -> Result<Execution, ExoError> {
    toggle(inv, false)
}

fn toggle(inv: &Invocation, enabled: bool) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    edit_rule(inv, &identity, |mailbox, i, _| {
        if let Some(rule) = mailbox.inbox_rules.get_mut(i) {
            rule.enabled = enabled;
        }
        Ok(())
    })
}

pub fn remove(inv: &Invocation) -> Result<Execution, ExoError> {
    let identity = inv.params.required_text("Identity")?;
    inv.params.bool("AlwaysDeleteOutlookRulesBlob")?;
    edit_rule(inv, &identity, |mailbox, i, _| {
        mailbox.inbox_rules.remove(i);
        renumber(mailbox);
        Ok(())
    })
}

fn edit_rule(
    inv: &Invocation,
    identity: &str,
    edit: impl FnOnce(&mut Mailbox, usize, &Directory) -> Result<(), ExoError>,
) -> Result<Execution, ExoError> {
    inv.params.bool("Force")?;
    let target = target(inv, Some(identity.to_owned()))?;
    let rule = target.rule.unwrap_or_default();
    inv.tenant.edit_mailbox(&target.mailbox, |mailbox, dir| {
        let i = find_rule(mailbox, &rule, identity)?;
        edit(mailbox, i, dir)
    })?;
    Ok(Execution::empty(inv.tenant.org()))
}

/// Applies the condition and action parameters shared by New- and Set-InboxRule.
fn apply(p: &Params, rule: &mut InboxRule, dir: &Directory) -> Result<(), ExoError> {
    if let Some(from) = p.texts("From")? {
        rule.from = from;
    }
    if let Some(words) = p.texts("SubjectContainsWords")? {
        rule.subject_contains_words = words;
    }
    if let Some(targets) = p.texts("ForwardTo")? {
        rule.forward_to = display_targets(&targets, dir)?;
    }
    if let Some(targets) = p.texts("RedirectTo")? {
        rule.redirect_to = display_targets(&targets, dir)?;
    }
    if let Some(targets) = p.texts("ForwardAsAttachmentTo")? {
        rule.forward_as_attachment_to = display_targets(&targets, dir)?;
    }
    if let Some(folder) = p.nullable_text("MoveToFolder")? {
        rule.move_to_folder = folder;
    }
    if let Some(flag) = p.bool("DeleteMessage")? {
        rule.delete_message = flag;
    }
    if let Some(flag) = p.bool("MarkAsRead")? {
        rule.mark_as_read = flag;
    }
    if let Some(flag) = p.bool("StopProcessingRules")? {
        rule.stop_processing_rules = flag;
    }
    if let Some(priority) = p.number("Priority")? {
        if priority == 0 {
            return Err(ExoError::task_argument(
                "The priority must be greater than 0.",
            ));
        }
        rule.priority = priority;
    }
    Ok(())
}

/// Turns identities and addresses into the display strings Exchange stores:
/// recipients of this tenant as `"Name" [EX:legacyDN]`, anything else that
/// is an address as `"x@ext.com" [SMTP:x@ext.com]`.
fn display_targets(targets: &[String], dir: &Directory) -> Result<Vec<String>, ExoError> {
    targets
        .iter()
        .map(|target| {
            let target = target.trim();
            if target.starts_with('"') && target.contains(" [") {
                return Ok(target.to_owned()); // already a display form, e.g. copied from Get-InboxRule
            }
            match dir.resolve_recipient(target) {
                Ok(r) => Ok(internal_target(r.display_name(), &r.legacy_exchange_dn())),
                Err(e)
                    if e.code == "NotFound"
                        && is_smtp_address(crate::names::strip_smtp_prefix(target)) =>
                {
                    Ok(external_target(crate::names::strip_smtp_prefix(target)))
                }
                Err(e) => Err(e),
            }
        })
        .collect()
}

/// Inserts a rule at its priority, pushing later rules down, then renumbers.
fn place(mailbox: &mut Mailbox, rule: InboxRule) {
    let at = (rule.priority as usize)
        .saturating_sub(1)
        .min(mailbox.inbox_rules.len());
    mailbox.inbox_rules.insert(at, rule);
    renumber(mailbox);
}

fn renumber(mailbox: &mut Mailbox) {
    for (i, rule) in mailbox.inbox_rules.iter_mut().enumerate() {
        rule.priority = i as u32 + 1;
    }
}

/// A fresh RuleIdentity: a UInt64 above `i64::MAX` like the service's,
/// derived from the tenant's rule sequence so that it is deterministic.
fn next_rule_identity(dir: &Directory, mailbox: &Mailbox) -> u64 {
    let mut seq = dir.rule_sequence;
    loop {
        let id = splitmix64(seq) | (1 << 63);
        if !mailbox.inbox_rules.iter().any(|r| r.rule_identity == id) {
            return id;
        }
        seq = seq.wrapping_add(0x9E37_79B9);
    }
}

pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
