//! A [`Call`] as InvokeCommand's request body (docs/protocol.md, "Request body"):
//! `{"CmdletInput":{"CmdletName":…,"Parameters":{…}}}`, compact, parameters
//! in the caller's order.

use exorun_cmdlet::{Call, Leaf, Value};

/// The `@odata.type` of a hashtable (multi-value edit) parameter.
pub const HASHTABLE_TYPE: &str = "#Exchange.GenericHashTable";

/// Parameters the module strips before sending.
const CLIENT_ONLY_PARAMETERS: [&str; 1] = ["UseCustomRouting"];

/// Filter parameters whose `$true`/`$false` the module rewrites.
const FILTER_PARAMETERS: [&str; 3] = ["Filter", "RecipientFilter", "RecipientPreviewFilter"];

/// The request body for `call`. Built once per call and reused for every
/// page and retry.
pub fn encode_body(call: &Call) -> String {
    let mut out = String::with_capacity(64 + call.parameters.len() * 32);
    out.push_str(r#"{"CmdletInput":{"CmdletName":"#);
    push_string(&mut out, &call.cmdlet);
    out.push_str(r#","Parameters":{"#);
    let mut first = true;
    for (name, value) in &call.parameters {
        if CLIENT_ONLY_PARAMETERS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
        {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_string(&mut out, name);
        out.push(':');
        let is_filter = FILTER_PARAMETERS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name));
        match value {
            Value::Text(s) if is_filter => push_string(&mut out, &rewrite_filter_booleans(s)),
            other => push_value(&mut out, other),
        }
    }
    out.push_str("}}}");
    out
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Text(s) => push_string(out, s),
        Value::Texts(list) => push_strings(out, list),
        Value::Table(entries) => {
            out.push_str(r#"{"@odata.type":"#);
            push_string(out, HASHTABLE_TYPE);
            for (k, leaf) in entries {
                out.push(',');
                push_string(out, k);
                out.push(':');
                push_leaf(out, leaf);
            }
            out.push('}');
        }
    }
}

fn push_leaf(out: &mut String, leaf: &Leaf) {
    match leaf {
        Leaf::Null => out.push_str("null"),
        Leaf::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Leaf::Int(i) => out.push_str(&i.to_string()),
        Leaf::Text(s) => push_string(out, s),
        Leaf::Texts(list) => push_strings(out, list),
    }
}

fn push_strings(out: &mut String, list: &[String]) {
    out.push('[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, s);
    }
    out.push(']');
}

/// A JSON string literal, escaped by serde_json (which cannot fail for a
/// `&str`).
fn push_string(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(json) => out.push_str(&json),
        Err(_) => out.push_str("\"\""),
    }
}

/// `$true`/`$false` tokens → `'True'`/`'False'`, as the module does for
/// OPATH filters; a `$trueValue` variable-like word is left alone.
pub fn rewrite_filter_booleans(filter: &str) -> String {
    let mut out = String::with_capacity(filter.len() + 8);
    let mut rest = filter;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let replaced = [("$true", "'True'"), ("$false", "'False'")]
            .into_iter()
            .find_map(|(token, with)| {
                let head = tail.get(..token.len())?;
                let after = tail[token.len()..].chars().next();
                (head.eq_ignore_ascii_case(token)
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_'))
                .then_some((token.len(), with))
            });
        match replaced {
            Some((len, with)) => {
                out.push_str(with);
                rest = &tail[len..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_kind_is_encoded_as_the_module_does() {
        let call = Call::new("Set-Mailbox")
            .param("Identity", "jdoe")
            .param("HiddenFromAddressListsEnabled", true)
            .param("ForwardingAddress", Value::Null)
            .param("IssueWarningQuota", Value::Int(5))
            .param(
                "AccessRights",
                Value::Texts(vec!["FullAccess".into(), "ReadPermission".into()]),
            )
            .param(
                "GrantSendOnBehalfTo",
                Value::Table(vec![
                    ("Add".into(), Leaf::Texts(vec!["asmith@contoso.com".into()])),
                    ("Remove".into(), Leaf::Text("b\"c".into())),
                ]),
            )
            .param("UseCustomRouting", true);
        assert_eq!(
            encode_body(&call),
            r##"{"CmdletInput":{"CmdletName":"Set-Mailbox","Parameters":{"Identity":"jdoe","HiddenFromAddressListsEnabled":true,"ForwardingAddress":null,"IssueWarningQuota":5,"AccessRights":["FullAccess","ReadPermission"],"GrantSendOnBehalfTo":{"@odata.type":"#Exchange.GenericHashTable","Add":["asmith@contoso.com"],"Remove":"b\"c"}}}}"##
        );
    }

    #[test]
    fn no_parameters_is_an_empty_object() {
        assert_eq!(
            encode_body(&Call::new("Get-OrganizationConfig")),
            r#"{"CmdletInput":{"CmdletName":"Get-OrganizationConfig","Parameters":{}}}"#
        );
    }

    #[test]
    fn filter_booleans_are_rewritten() {
        assert_eq!(
            rewrite_filter_booleans(
                "HiddenFromAddressListsEnabled -eq $TRUE -and X -ne $false -and Y -eq $trueish"
            ),
            "HiddenFromAddressListsEnabled -eq 'True' -and X -ne 'False' -and Y -eq $trueish"
        );
        let call = Call::new("Get-Mailbox").param("Filter", "IsShared -eq $true");
        assert_eq!(
            encode_body(&call),
            r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"Filter":"IsShared -eq 'True'"}}}"#
        );
    }
}
