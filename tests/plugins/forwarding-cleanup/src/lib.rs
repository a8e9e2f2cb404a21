//! Clears mailbox forwarding to external domains and removes inbox rules
//! that forward mail outside the accepted domains: a write plugin for the
//! what-if and apply tests. Reads through `invoke_many`, writes one by one,
//! progress per batch, and a CSV of the changes in its outputs folder.

use std::collections::BTreeSet;

use exorun_sdk::objects::{AcceptedDomain, InboxRule, Mailbox, domain_of, smtp_target};
use exorun_sdk::{Automation, Error, Param, cmdlet, invoke_many, log, progress};

struct ForwardingCleanup;

const BATCH: usize = 25;

impl Automation for ForwardingCleanup {
    fn run() -> Result<String, Error> {
        let accepted: BTreeSet<String> = cmdlet("Get-AcceptedDomain")
            .invoke_as::<AcceptedDomain>()?
            .into_iter()
            .map(|d| d.domain_name.to_ascii_lowercase())
            .collect();
        let external = |address: &str| domain_of(address).is_none_or(|d| !accepted.contains(&d));
        let mailboxes: Vec<Mailbox> = cmdlet("Get-Mailbox")
            .param("ResultSize", "Unlimited")
            .invoke_as()?;
        let total = mailboxes.len() as u64;
        let mut changes: Vec<(String, &'static str, String)> = Vec::new();
        let mut done = 0u64;
        for chunk in mailboxes.chunks(BATCH) {
            for m in chunk {
                let Some(target) = m.forwarding_smtp_address.as_deref().filter(|t| !t.is_empty())
                else {
                    continue;
                };
                let address = target.trim_start_matches("smtp:").trim_start_matches("SMTP:");
                if external(address) {
                    cmdlet("Set-Mailbox")
                        .param("Identity", m.primary_smtp_address.as_str())
                        .param("ForwardingSmtpAddress", Param::Null)
                        .invoke_raw()?;
                    changes.push((m.primary_smtp_address.clone(), "clear-forwarding", address.to_owned()));
                }
            }
            let reads = chunk
                .iter()
                .map(|m| cmdlet("Get-InboxRule").param("Mailbox", m.primary_smtp_address.as_str()))
                .collect();
            for (m, rules) in chunk.iter().zip(invoke_many(reads)) {
                let rules = match rules {
                    Ok(rules) => rules,
                    Err(Error::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                for rule in rules {
                    let rule: InboxRule = serde_json::from_value(rule)?;
                    let targets: Vec<&str> = [&rule.forward_to, &rule.forward_as_attachment_to, &rule.redirect_to]
                        .into_iter()
                        .flatten()
                        .flatten()
                        .filter_map(|entry| smtp_target(entry))
                        .filter(|address| external(address))
                        .collect();
                    if let Some(first) = targets.first() {
                        let id = match &rule.rule_identity {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        cmdlet("Remove-InboxRule")
                            .param("Mailbox", m.primary_smtp_address.as_str())
                            .param("Identity", id)
                            .invoke_raw()?;
                        changes.push((m.primary_smtp_address.clone(), "remove-rule", (*first).to_owned()));
                    }
                }
            }
            done += chunk.len() as u64;
            progress(done, Some(total));
        }
        let mut csv = String::from("Mailbox,Change,Target\n");
        for (mailbox, change, target) in &changes {
            csv.push_str(&format!("{mailbox},{change},{target}\n"));
        }
        std::fs::write("/outputs/changes.csv", &csv)
            .map_err(|e| Error::other(format!("writing /outputs/changes.csv: {e}")))?;
        log::info(&format!("{} changes", changes.len()));
        Ok(format!(
            "{} mailboxes, {} changes\n",
            total,
            changes.len()
        ))
    }
}

exorun_sdk::export!(ForwardingCleanup);
