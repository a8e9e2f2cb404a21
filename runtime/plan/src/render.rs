//! `exorun plan show`: a plan as a reviewer reads it. A header (plugin,
//! digest, tenant, inputs, age), then one line per change, grouped by the
//! object it changes, in PowerShell's own notation:
//!
//! ```text
//! ann@contoso.com
//!     1  Set-Mailbox -Identity 'ann@contoso.com' -ForwardingSmtpAddress $null
//!     3  Remove-InboxRule -Mailbox 'ann@contoso.com' -Identity '1234'
//! ```
//!
//! The object is the `-Mailbox` of a call when it has one (inbox rules),
//! else its `-Identity` (before a `\`), else its `-Name`. Sensitive values
//! (marked in the manifest, or named like a password or secret) are shown
//! as `<redacted>`; control characters as `?`.

use std::fmt::Write;

use exorun_cmdlet::{Call, Value};
use exorun_policy::Capabilities;

use crate::file::Plan;

/// Renders a plan; `digest` is the file's SHA-256 and `capabilities`, when
/// the manifest could be read, marks sensitive parameters.
pub fn render_plan(plan: &Plan, digest: &str, capabilities: Option<&Capabilities>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan      {} (sha256 {})",
        clean(&plan.created_at),
        digest
    );
    let _ = writeln!(
        out,
        "Plugin    {} {}",
        clean(&plan.plugin.name),
        clean(&plan.plugin.version),
    );
    let _ = writeln!(out, "Component sha256 {}", clean(&plan.plugin.sha256));
    let _ = writeln!(
        out,
        "Manifest  sha256 {} (apply needs --plugin with exactly this manifest and component)",
        clean(&plan.plugin.manifest_sha256)
    );
    let _ = writeln!(
        out,
        "Tenant    {} (app {})",
        clean(&plan.tenant),
        clean(&plan.app_id)
    );
    let _ = writeln!(
        out,
        "Made by   {} in what-if run {}",
        clean(&plan.operator),
        clean(&plan.what_if_run_id)
    );
    if !plan.inputs.is_empty() {
        let inputs: Vec<String> = plan
            .inputs
            .iter()
            .map(|(k, v)| format!("{}={}", clean(k), clean(v)))
            .collect();
        let _ = writeln!(out, "Inputs    {}", inputs.join(" "));
    }
    let groups = group(&plan.calls);
    let _ = writeln!(
        out,
        "\n{} change{} to {} object{}:",
        plan.calls.len(),
        if plan.calls.len() == 1 { "" } else { "s" },
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    );
    let width = plan.calls.len().to_string().len();
    for (object, steps) in groups {
        let _ = writeln!(out, "\n{}", clean(&object));
        for step in steps {
            let call = &plan.calls[step];
            let _ = writeln!(
                out,
                "  {:>width$}  {}",
                step + 1,
                render_call(call, capabilities)
            );
        }
    }
    out
}

/// The object a call changes.
pub fn object_of(call: &Call) -> String {
    let text = |name: &str| match call.get(name) {
        Some(Value::Text(t)) if !t.is_empty() => Some(t.clone()),
        _ => None,
    };
    if let Some(mailbox) = text("Mailbox") {
        return mailbox;
    }
    if let Some(identity) = text("Identity") {
        return match identity.split_once('\\') {
            Some((owner, _)) if !owner.is_empty() => owner.to_owned(),
            _ => identity,
        };
    }
    text("Name").unwrap_or_else(|| "(no identity)".to_owned())
}

/// Groups step indexes by object, objects in order of first appearance.
fn group(calls: &[Call]) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, call) in calls.iter().enumerate() {
        let object = object_of(call);
        match groups
            .iter_mut()
            .find(|(o, _)| o.eq_ignore_ascii_case(&object))
        {
            Some((_, steps)) => steps.push(index),
            None => groups.push((object, vec![index])),
        }
    }
    groups
}

/// `Set-Mailbox -Identity 'ann@contoso.com' -ForwardingSmtpAddress $null`.
pub fn render_call(call: &Call, capabilities: Option<&Capabilities>) -> String {
    let rule = capabilities.and_then(|c| c.cmdlet(&call.cmdlet));
    let mut line = clean(&call.cmdlet);
    for (name, value) in &call.parameters {
        let sensitive = exorun_audit::is_sensitive_name(name)
            || rule
                .and_then(|r| r.parameter(name))
                .is_some_and(|p| p.sensitive);
        let shown = if sensitive {
            exorun_audit::REDACTED.to_owned()
        } else {
            powershell(value)
        };
        let _ = write!(line, " -{} {}", clean(name), shown);
    }
    line
}

fn powershell(value: &Value) -> String {
    match value {
        Value::Null => "$null".to_owned(),
        Value::Bool(b) => if *b { "$true" } else { "$false" }.to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Text(t) => quote(t),
        Value::Texts(items) => format!(
            "@({})",
            items
                .iter()
                .map(|t| quote(t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Table(entries) => format!(
            "@{{{}}}",
            entries
                .iter()
                .map(|(k, leaf)| format!("{}={}", clean(k), powershell(&Value::from(leaf.clone()))))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// A single-quoted PowerShell string (quotes doubled), control characters
/// shown as `?` so a plan cannot rewrite the reviewer's terminal.
fn quote(text: &str) -> String {
    format!("'{}'", clean(text).replace('\'', "''"))
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{PLAN_FORMAT, PlanPlugin};
    use exorun_cmdlet::Leaf;

    fn plan(calls: Vec<Call>) -> Plan {
        Plan {
            format: PLAN_FORMAT.to_owned(),
            created_at: "2026-11-28T22:18:00.123Z".to_owned(),
            what_if_run_id: "run-1".to_owned(),
            operator: "alice".to_owned(),
            plugin: PlanPlugin {
                name: "cleanup".to_owned(),
                version: "0.1.0".to_owned(),
                sha256: "ab".repeat(32),
                manifest_sha256: "cd".repeat(32),
            },
            tenant: "contoso.onmicrosoft.com".to_owned(),
            app_id: "app".to_owned(),
            inputs: vec![("domain".to_owned(), "contoso.com".to_owned())],
            calls,
            checksum: String::new(),
        }
    }

    #[test]
    fn changes_are_grouped_by_object_one_line_each_in_powershell_notation() {
        let p = plan(vec![
            Call::new("Set-Mailbox")
                .param("Identity", "ann@contoso.com")
                .param("ForwardingSmtpAddress", Value::Null),
            Call::new("Remove-InboxRule")
                .param("Mailbox", "bob@contoso.com")
                .param("Identity", "42"),
            Call::new("Remove-InboxRule").param("Identity", "ann@contoso.com\\7"),
            Call::new("Set-Mailbox")
                .param("Identity", "bob@contoso.com")
                .param(
                    "EmailAddresses",
                    Value::Table(vec![("Remove".into(), Leaf::Text("o'neil@x.com".into()))]),
                )
                .param("Password", "hunter22"),
        ]);
        let text = render_plan(&p, "ff00", None);
        let expected_changes = "\n4 changes to 2 objects:\n\
            \nann@contoso.com\
            \n  1  Set-Mailbox -Identity 'ann@contoso.com' -ForwardingSmtpAddress $null\
            \n  3  Remove-InboxRule -Identity 'ann@contoso.com\\7'\
            \n\nbob@contoso.com\
            \n  2  Remove-InboxRule -Mailbox 'bob@contoso.com' -Identity '42'\
            \n  4  Set-Mailbox -Identity 'bob@contoso.com' -EmailAddresses @{Remove='o''neil@x.com'} -Password <redacted>\n";
        assert!(text.ends_with(expected_changes), "{text}");
        assert!(text.starts_with(
            &format!(
                "Plan      2026-11-28T22:18:00.123Z (sha256 ff00)\nPlugin    cleanup 0.1.0\nComponent sha256 {}\nManifest  sha256 {} (apply needs --plugin with exactly this manifest and component)\nTenant    contoso.onmicrosoft.com (app app)\n",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        ), "{text}");
        assert!(text.contains("Inputs    domain=contoso.com\n"));
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let p = plan(vec![
            Call::new("Set-Mailbox").param("Identity", "a\u{1b}[2Jb"),
        ]);
        let text = render_plan(&p, "d", None);
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("'a?[2Jb'"));
    }
}
