//! Probes the host's object scope. `action`:
//! - `write`: `Set-Mailbox -Identity <t> -CustomAttribute5 probed` for each
//!   line of `targets`;
//! - `batch`: the same writes in one `invoke-many` batch;
//! - `rules`: `Get-InboxRule -Mailbox <t>` for each line, then
//!   `Get-InboxRule -Identity <t>\1` (the mailbox hidden in a rule id);
//! - `list`: `Get-Mailbox -ResultSize Unlimited`, then `Get-Mailbox
//!   -Identity <t>` for each line;
//! - `add-member`: `Add-DistributionGroupMember -Identity <first line>
//!   -Member <line>` for each further line;
//! - `unscoped`: a write cmdlet exorun cannot tell the target of.
//!
//! Each call prints `<what>: ok <n>` or `<what>: denied <rule>` (or the
//! error), so tests assert exact outcomes.

use exorun_sdk::{Automation, Error, cmdlet, input, invoke_many};

struct ScopeProbe;

fn text(name: &str) -> String {
    input(name)
        .and_then(|i| i.as_text().map(str::to_owned))
        .unwrap_or_default()
}

fn outcome(result: Result<Vec<String>, Error>) -> String {
    match result {
        Ok(objects) => format!("ok {}", objects.len()),
        Err(Error::Denied { rule, .. }) => format!("denied {rule}"),
        Err(Error::NotFound(_)) => "not-found".to_owned(),
        Err(Error::LimitExceeded(_)) => "limit-exceeded".to_owned(),
        Err(e) => format!("error {e}"),
    }
}

impl Automation for ScopeProbe {
    fn run() -> Result<String, Error> {
        let targets = text("targets");
        let targets: Vec<&str> = targets.lines().filter(|l| !l.is_empty()).collect();
        let mut out = Vec::new();
        match text("action").as_str() {
            "write" => {
                for t in &targets {
                    let result = cmdlet("Set-Mailbox")
                        .param("Identity", *t)
                        .param("CustomAttribute5", "probed")
                        .invoke_raw();
                    out.push(format!("{t}: {}", outcome(result)));
                }
            }
            "batch" => {
                let calls = targets
                    .iter()
                    .map(|t| {
                        cmdlet("Set-Mailbox")
                            .param("Identity", *t)
                            .param("CustomAttribute5", "probed")
                    })
                    .collect();
                for (t, result) in targets.iter().zip(invoke_many(calls)) {
                    let result = result.map(|objects| vec![String::new(); objects.len()]);
                    out.push(format!("{t}: {}", outcome(result)));
                }
            }
            "rules" => {
                for t in &targets {
                    let by_mailbox = cmdlet("Get-InboxRule").param("Mailbox", *t).invoke_raw();
                    out.push(format!("-Mailbox {t}: {}", outcome(by_mailbox)));
                    let by_id = cmdlet("Get-InboxRule")
                        .param("Identity", format!("{t}\\1"))
                        .invoke_raw();
                    out.push(format!("-Identity {t}\\1: {}", outcome(by_id)));
                }
            }
            "list" => {
                match cmdlet("Get-Mailbox").param("ResultSize", "Unlimited").invoke_raw() {
                    Ok(objects) => {
                        out.push(format!("all: ok {}", objects.len()));
                        for o in objects {
                            let o: serde_json::Value = serde_json::from_str(&o)?;
                            out.push(format!(
                                "  {} {}",
                                o["PrimarySmtpAddress"].as_str().unwrap_or("?"),
                                o["Department"].as_str().unwrap_or("?")
                            ));
                        }
                    }
                    Err(e) => out.push(format!("all: {}", outcome(Err(e)))),
                }
                for t in &targets {
                    let one = cmdlet("Get-Mailbox").param("Identity", *t).invoke_raw();
                    out.push(format!("{t}: {}", outcome(one)));
                }
            }
            "add-member" => {
                let Some((group, members)) = targets.split_first() else {
                    return Err(Error::other("add-member needs a group and members"));
                };
                for m in members {
                    let result = cmdlet("Add-DistributionGroupMember")
                        .param("Identity", *group)
                        .param("Member", *m)
                        .invoke_raw();
                    out.push(format!("{group} += {m}: {}", outcome(result)));
                }
            }
            "unscoped" => {
                let result = cmdlet("Set-TransportConfig")
                    .param("MaxRecipientEnvelopeLimit", "100")
                    .invoke_raw();
                out.push(format!("Set-TransportConfig: {}", outcome(result)));
            }
            other => return Err(Error::other(format!("unknown action '{other}'"))),
        }
        Ok(out.join("\n"))
    }
}

exorun_sdk::export!(ScopeProbe);
