//! Email forwarding audit: which mailboxes forward mail, by mailbox setting
//! or inbox rule, and which of those targets are outside the tenant's
//! accepted domains. Inbox rules are read for every mailbox at once through
//! `invoke_many`, so the host runs them concurrently.

use std::collections::BTreeSet;

use exorun_sdk::objects::{AcceptedDomain, InboxRule, Mailbox, domain_of, smtp_target};
use exorun_sdk::{Automation, Error, cmdlet, input, invoke_many, log, progress};

struct ForwardingAudit;

const BATCH: usize = 50;

impl Automation for ForwardingAudit {
    fn run() -> Result<String, Error> {
        let include_internal = input("include-internal")
            .and_then(|i| i.as_bool())
            .unwrap_or(false);
        let accepted: BTreeSet<String> = cmdlet("Get-AcceptedDomain")
            .invoke_as::<AcceptedDomain>()?
            .into_iter()
            .map(|d| d.domain_name.to_ascii_lowercase())
            .collect();
        log::info(&format!(
            "accepted domains: {}",
            accepted.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        let is_external = |address: &str| domain_of(address).is_none_or(|d| !accepted.contains(&d));

        let mailboxes: Vec<Mailbox> = cmdlet("Get-Mailbox")
            .param("ResultSize", "Unlimited")
            .objects()?
            .collect::<Result<_, _>>()?;
        let total = mailboxes.len() as u64;

        let mut findings = Vec::new();
        for m in &mailboxes {
            if let Some(target) = m
                .forwarding_smtp_address
                .as_deref()
                .filter(|t| !t.is_empty())
            {
                findings.push(Finding {
                    mailbox: m.primary_smtp_address.clone(),
                    source: "ForwardingSmtpAddress".into(),
                    rule: String::new(),
                    target: target
                        .trim_start_matches("smtp:")
                        .trim_start_matches("SMTP:")
                        .to_owned(),
                    external: is_external(target),
                    enabled: true,
                });
            }
            if let Some(target) = m.forwarding_address.as_deref().filter(|t| !t.is_empty()) {
                // ForwardingAddress names a recipient in the directory: internal.
                findings.push(Finding {
                    mailbox: m.primary_smtp_address.clone(),
                    source: "ForwardingAddress".into(),
                    rule: String::new(),
                    target: target.to_owned(),
                    external: false,
                    enabled: true,
                });
            }
        }

        let mut done = 0u64;
        for chunk in mailboxes.chunks(BATCH) {
            let calls = chunk
                .iter()
                .map(|m| cmdlet("Get-InboxRule").param("Mailbox", &m.primary_smtp_address))
                .collect();
            for (mailbox, rules) in chunk.iter().zip(invoke_many(calls)) {
                let rules = match rules {
                    Ok(rules) => rules,
                    Err(Error::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                for rule in rules {
                    let rule: InboxRule = serde_json::from_value(rule)?;
                    let targets = [
                        ("ForwardTo", &rule.forward_to),
                        ("ForwardAsAttachmentTo", &rule.forward_as_attachment_to),
                        ("RedirectTo", &rule.redirect_to),
                    ];
                    for (source, entries) in targets {
                        for entry in entries.iter().flatten() {
                            let (target, external) = match smtp_target(entry) {
                                Some(address) => (address.to_owned(), is_external(address)),
                                None => (entry.clone(), false),
                            };
                            findings.push(Finding {
                                mailbox: mailbox.primary_smtp_address.clone(),
                                source: source.into(),
                                rule: rule.name.clone(),
                                target,
                                external,
                                enabled: rule.enabled,
                            });
                        }
                    }
                }
            }
            done += chunk.len() as u64;
            progress(done, Some(total));
        }

        let external = findings.iter().filter(|f| f.external).count();
        log::info(&format!(
            "{total} mailboxes, {} forwarding entries, {external} to external domains",
            findings.len()
        ));
        let mut csv = String::from("Mailbox,Source,Rule,Target,External,Enabled\n");
        for f in findings.iter().filter(|f| f.external || include_internal) {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                field(&f.mailbox),
                f.source,
                field(&f.rule),
                field(&f.target),
                f.external,
                f.enabled
            ));
        }
        Ok(csv)
    }
}

struct Finding {
    mailbox: String,
    source: String,
    rule: String,
    target: String,
    external: bool,
    enabled: bool,
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

exorun_sdk::export!(ForwardingAudit);
