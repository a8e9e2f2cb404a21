//! Email forwarding audit: which mailboxes forward mail, by mailbox setting
//! or inbox rule, and which of those targets are outside the tenant's
//! accepted domains. Inbox rules are read a batch of mailboxes at a time
//! through `invoke_many`, so the host runs them concurrently; mailboxes are
//! read a page at a time, so a 100,000-mailbox tenant fits the plugin's
//! 64 MiB.

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

        // Mailboxes are read a page at a time and their rules a batch at a
        // time; only the rows of the report are kept, so memory holds one
        // page and the report, never the whole tenant.
        let mut mailboxes = cmdlet("Get-Mailbox")
            .param("ResultSize", "Unlimited")
            .objects::<Mailbox>()?;
        let mut report = Report::new(include_internal);
        let mut done = 0u64;
        loop {
            let chunk: Vec<Mailbox> = mailboxes.by_ref().take(BATCH).collect::<Result<_, _>>()?;
            if chunk.is_empty() {
                break;
            }
            for m in &chunk {
                if let Some(target) = m
                    .forwarding_smtp_address
                    .as_deref()
                    .filter(|t| !t.is_empty())
                {
                    report.add(Finding {
                        mailbox: &m.primary_smtp_address,
                        source: "ForwardingSmtpAddress",
                        rule: "",
                        target: target
                            .trim_start_matches("smtp:")
                            .trim_start_matches("SMTP:"),
                        external: is_external(target),
                        enabled: true,
                    });
                }
                if let Some(target) = m.forwarding_address.as_deref().filter(|t| !t.is_empty()) {
                    // ForwardingAddress names a recipient in the directory: internal.
                    report.add(Finding {
                        mailbox: &m.primary_smtp_address,
                        source: "ForwardingAddress",
                        rule: "",
                        target,
                        external: false,
                        enabled: true,
                    });
                }
            }
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
                                Some(address) => (address, is_external(address)),
                                None => (entry.as_str(), false),
                            };
                            report.add(Finding {
                                mailbox: &mailbox.primary_smtp_address,
                                source,
                                rule: &rule.name,
                                target,
                                external,
                                enabled: rule.enabled,
                            });
                        }
                    }
                }
            }
            done += chunk.len() as u64;
            // How many there are is known only once the last page is read.
            progress(done, None);
        }
        progress(done, Some(done));

        log::info(&format!(
            "{done} mailboxes, {} forwarding entries, {} to external domains",
            report.entries, report.external
        ));
        let csv = report.csv;
        Ok(csv)
    }
}

struct Finding<'a> {
    mailbox: &'a str,
    source: &'a str,
    rule: &'a str,
    target: &'a str,
    external: bool,
    enabled: bool,
}

/// The CSV so far, and the counts for the closing log line.
struct Report {
    include_internal: bool,
    csv: String,
    entries: usize,
    external: usize,
}

impl Report {
    fn new(include_internal: bool) -> Report {
        Report {
            include_internal,
            csv: String::from("Mailbox,Source,Rule,Target,External,Enabled\n"),
            entries: 0,
            external: 0,
        }
    }

    /// Counts a finding, and writes its row when the report lists it.
    fn add(&mut self, f: Finding<'_>) {
        self.entries += 1;
        if f.external {
            self.external += 1;
        }
        if f.external || self.include_internal {
            self.csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                field(f.mailbox),
                f.source,
                field(f.rule),
                field(f.target),
                f.external,
                f.enabled
            ));
        }
    }
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
