//! A plan as the PowerShell an admin runs in an Exchange Online session.

use exorun_cmdlet::{Call, Value};

use crate::plan::Plan;

/// One call as a PowerShell command line.
pub fn command(call: &Call) -> String {
    let mut line = call.cmdlet.clone();
    for (name, value) in &call.parameters {
        match value {
            Value::Bool(flag) => {
                line.push_str(&format!(
                    " -{name}:${}",
                    if *flag { "true" } else { "false" }
                ));
            }
            other => {
                line.push_str(&format!(" -{name} {}", literal(other)));
            }
        }
    }
    line
}

fn literal(value: &Value) -> String {
    match value {
        Value::Text(text) => quote(text),
        Value::Texts(texts) if texts.is_empty() => "@()".to_owned(),
        Value::Texts(texts) => texts.iter().map(|t| quote(t)).collect::<Vec<_>>().join(","),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => format!("${b}"),
        Value::Null => "$null".to_owned(),
        other => quote(&format!("{other:?}")),
    }
}

/// A single-quoted PowerShell string: nothing inside is expanded, and a
/// quote is doubled. PowerShell also ends a single-quoted string at the
/// typographic quotes, so they are doubled too.
fn quote(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The whole plan as a script, its notes as comments.
pub fn script(plan: &Plan, heading: &str) -> String {
    let mut out = String::new();
    for line in heading.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    out.push_str("# Run once in an Exchange Online PowerShell session (Connect-ExchangeOnline) as an Exchange administrator.\n\n");
    for call in &plan.calls {
        out.push_str(&command(call));
        out.push('\n');
    }
    if !plan.notes.is_empty() {
        out.push('\n');
        for note in &plan.notes {
            out.push_str(&format!("# Note: {note}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_so_nothing_is_expanded() {
        let call = Call::new("New-ManagementScope")
            .param("Name", "exorun write scope")
            .param(
                "RecipientRestrictionFilter",
                "Department -eq 'Sales' -and $x",
            )
            .param("Confirm", false)
            .param(
                "Parameters",
                Value::Texts(vec!["Identity".into(), "O’Brien".into()]),
            );
        assert_eq!(
            command(&call),
            "New-ManagementScope -Name 'exorun write scope' -RecipientRestrictionFilter 'Department -eq ''Sales'' -and $x' -Confirm:$false -Parameters 'Identity','O’’Brien'"
        );
    }
}
