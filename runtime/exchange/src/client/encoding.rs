//! A [`Call`] as InvokeCommand's request body (docs/protocol.md, "Request body"):
//! `{"CmdletInput":{"CmdletName":…,"Parameters":{…}}}`, compact, parameters
//! in the caller's order.

use exorun_cmdlet::{Call, Value};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The `@odata.type` of a hashtable (multi-value edit) parameter.
pub const HASHTABLE_TYPE: &str = "#Exchange.GenericHashTable";

/// Parameters the module strips before sending.
const CLIENT_ONLY_PARAMETERS: [&str; 1] = ["UseCustomRouting"];

/// Filter parameters whose `$true`/`$false` the module rewrites.
const FILTER_PARAMETERS: [&str; 3] = ["Filter", "RecipientFilter", "RecipientPreviewFilter"];

/// The request body for `call`. Built once per call and reused for every
/// page and retry.
pub fn encode_body(call: &Call) -> String {
    // Serializing these types cannot fail: every key is a string.
    serde_json::to_string(&Body { call }).unwrap_or_default()
}

/// `{"CmdletInput":{"CmdletName":…,"Parameters":{…}}}`.
struct Body<'a> {
    call: &'a Call,
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut body = s.serialize_map(Some(1))?;
        body.serialize_entry("CmdletInput", &CmdletInput(self.call))?;
        body.end()
    }
}

struct CmdletInput<'a>(&'a Call);

impl Serialize for CmdletInput<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut input = s.serialize_map(Some(2))?;
        input.serialize_entry("CmdletName", &self.0.cmdlet)?;
        input.serialize_entry("Parameters", &Parameters(self.0))?;
        input.end()
    }
}

/// The parameters in the caller's order, without the client-only ones.
struct Parameters<'a>(&'a Call);

impl Serialize for Parameters<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, value) in &self.0.parameters {
            if CLIENT_ONLY_PARAMETERS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(name))
            {
                continue;
            }
            let is_filter = FILTER_PARAMETERS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(name));
            match value {
                Value::Text(text) if is_filter => {
                    map.serialize_entry(name, &rewrite_filter_booleans(text))?
                }
                other => map.serialize_entry(name, &Wire(other))?,
            }
        }
        map.end()
    }
}

/// A value in its one JSON form, but a hashtable announces its type first
/// (`@odata.type`), as the module sends it.
struct Wire<'a>(&'a Value);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Table(entries) => {
                let mut map = s.serialize_map(Some(entries.len() + 1))?;
                map.serialize_entry("@odata.type", HASHTABLE_TYPE)?;
                for (key, leaf) in entries {
                    map.serialize_entry(key, leaf)?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
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
    use exorun_cmdlet::Leaf;

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
