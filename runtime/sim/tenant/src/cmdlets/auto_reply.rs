//! Get/Set-MailboxAutoReplyConfiguration.

use super::Invocation;
use crate::error::ExoError;
use crate::execution::{Execution, Item};
use crate::model::{AutoReplyState, ExternalAudience};
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
    let items = vec![Item::Ready(render::auto_reply(&mailbox))];
    Ok(Execution::capped(items, size, inv.tenant.org()))
}

/// The service stores replies as HTML; plain text is wrapped the way Microsoft's
/// Set-MailboxAutoReplyConfiguration documentation shows (exact markup unverified), HTML is kept as given.
fn as_html(message: &str) -> String {
    let trimmed = message.trim_start();
    if message.is_empty()
        || trimmed
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("<html"))
    {
        return message.to_owned();
    }
    format!("<html><body>{message}</body></html>")
}

pub fn set(inv: &Invocation) -> Result<Execution, ExoError> {
    let p = &inv.params;
    let identity = p.required_text("Identity")?;
    let state = p.choice(
        "AutoReplyState",
        "Microsoft.Exchange.Data.Storage.Management.OofState",
        &AutoReplyState::NAMES,
        AutoReplyState::parse,
    )?;
    let audience = p.choice(
        "ExternalAudience",
        "Microsoft.Exchange.Data.Storage.Management.ExternalAudience",
        &ExternalAudience::NAMES,
        ExternalAudience::parse,
    )?;
    let internal = p.nullable_text("InternalMessage")?;
    let external = p.nullable_text("ExternalMessage")?;
    let start = p.date("StartTime")?;
    let end = p.date("EndTime")?;
    // Accepted for compatibility; the simulated tenant has no calendar.
    for switch in [
        "AutoDeclineFutureRequestsWhenOOF",
        "CreateOOFEvent",
        "DeclineAllEventsForScheduledOOF",
        "DeclineEventsForScheduledOOF",
        "IgnoreDefaultScope",
    ] {
        p.bool(switch)?;
    }
    inv.tenant.edit_mailbox(&identity, |mailbox, _| {
        let reply = &mut mailbox.auto_reply;
        if let Some(state) = state {
            reply.state = state;
        }
        if let Some(audience) = audience {
            reply.external_audience = audience;
        }
        if let Some(message) = internal {
            reply.internal_message = as_html(message.as_deref().unwrap_or_default());
        }
        if let Some(message) = external {
            reply.external_message = as_html(message.as_deref().unwrap_or_default());
        }
        if let Some(start) = start {
            reply.start_time = start;
        }
        if let Some(end) = end {
            reply.end_time = end;
        }
        // (unverified wording) The service refuses a schedule that ends first.
        if reply.state == AutoReplyState::Scheduled && reply.end_time <= reply.start_time {
            return Err(ExoError::task_argument(
                "The end time must be later than the start time.",
            ));
        }
        Ok(())
    })?;
    Ok(Execution::empty(inv.tenant.org()))
}
