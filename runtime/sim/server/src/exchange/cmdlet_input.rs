//! Decoding the InvokeCommand body (docs/protocol.md, "Request body")
//! `{"CmdletInput":{"CmdletName":…,"Parameters":{…}}}` into an
//! [`exorun_cmdlet::Call`], keeping the parameters in the order sent.

use std::fmt;

use exorun_cmdlet::{Call, Leaf, Value};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

const HASH_TABLE: &str = "#Exchange.GenericHashTable";

/// Why a body is not a cmdlet call (answered 400 with this text).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "CmdletInput")]
    cmdlet_input: Option<CmdletInput>,
}

#[derive(Deserialize)]
struct CmdletInput {
    #[serde(rename = "CmdletName")]
    cmdlet_name: Option<String>,
    #[serde(rename = "Parameters", default)]
    parameters: Option<OrderedObject>,
}

/// A JSON object as a list of pairs in wire order (serde_json's own map
/// sorts its keys unless a crate-wide feature is switched on).
struct OrderedObject(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    pairs.push((k, v));
                }
                Ok(OrderedObject(pairs))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedObject(Vec::new()))
            }
        }
        deserializer.deserialize_any(PairsVisitor)
    }
}

/// Decodes a body. serde_json's recursion limit (128) refuses absurdly
/// deep input with an error instead of exhausting the stack.
pub fn decode(bytes: &[u8]) -> Result<Call, InputError> {
    let body: Body = serde_json::from_slice(bytes).map_err(|e| {
        InputError(format!(
            "The request body is not a valid cmdlet input: {e}."
        ))
    })?;
    let input = body
        .cmdlet_input
        .ok_or_else(|| InputError("The request body has no 'CmdletInput' object.".into()))?;
    let name = input
        .cmdlet_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InputError("'CmdletInput' has no 'CmdletName'.".into()))?;
    let mut call = Call::new(name);
    for (key, value) in input.parameters.map(|p| p.0).unwrap_or_default() {
        // Property annotations such as "EmailAddresses@odata.type" describe
        // the value next to them; they are not parameters.
        if key.contains('@') {
            continue;
        }
        if call.get(&key).is_some() {
            return Err(InputError(format!(
                "The parameter '{key}' is specified more than once."
            )));
        }
        let value = parameter_value(&key, value)?;
        call.parameters.push((key, value));
    }
    Ok(call)
}

fn parameter_value(name: &str, value: serde_json::Value) -> Result<Value, InputError> {
    use serde_json::Value as J;
    Ok(match value {
        J::Object(map) => {
            if map.get("@odata.type").and_then(J::as_str) != Some(HASH_TABLE) {
                return Err(InputError(format!(
                    "Cannot bind parameter '{name}': an object value must be an '{HASH_TABLE}'."
                )));
            }
            let mut table = Vec::new();
            for (key, entry) in map {
                if key.contains('@') {
                    continue;
                }
                table.push((key.clone(), leaf(name, &key, entry)?));
            }
            Value::Table(table)
        }
        other => match leaf(name, "", other)? {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => Value::Bool(b),
            Leaf::Int(i) => Value::Int(i),
            Leaf::Text(s) => Value::Text(s),
            Leaf::Texts(v) => Value::Texts(v),
        },
    })
}

fn leaf(name: &str, key: &str, value: serde_json::Value) -> Result<Leaf, InputError> {
    use serde_json::Value as J;
    let what = if key.is_empty() {
        format!("parameter '{name}'")
    } else {
        format!("key '{key}' of parameter '{name}'")
    };
    match value {
        J::Null => Ok(Leaf::Null),
        J::Bool(b) => Ok(Leaf::Bool(b)),
        J::Number(n) => n.as_i64().map(Leaf::Int).ok_or_else(|| {
            InputError(format!(
                "Cannot bind {what}: '{n}' is not a whole number in range."
            ))
        }),
        J::String(s) => Ok(Leaf::Text(s)),
        J::Array(items) => items
            .into_iter()
            .map(|i| match i {
                J::String(s) => Ok(s),
                other => Err(InputError(format!(
                    "Cannot bind {what}: array items must be strings, not {other}."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Leaf::Texts),
        J::Object(_) => Err(InputError(format!(
            "Cannot bind {what}: hashtables cannot be nested."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_keep_their_order_and_types() {
        let call = decode(
            br##"{"CmdletInput":{"CmdletName":"Set-Mailbox","Parameters":{"Identity":"jdoe","Zeta":true,"Alpha":null,"N":5,"List":["a","b"],"EmailAddresses@odata.type":"#Collection(String)","GrantSendOnBehalfTo":{"@odata.type":"#Exchange.GenericHashTable","Add":["a@x"],"Remove":"b@x"}}}}"##,
        )
        .unwrap();
        assert_eq!(call.cmdlet, "Set-Mailbox");
        assert_eq!(
            call.parameters,
            vec![
                ("Identity".to_owned(), Value::Text("jdoe".into())),
                ("Zeta".to_owned(), Value::Bool(true)),
                ("Alpha".to_owned(), Value::Null),
                ("N".to_owned(), Value::Int(5)),
                (
                    "List".to_owned(),
                    Value::Texts(vec!["a".into(), "b".into()])
                ),
                (
                    "GrantSendOnBehalfTo".to_owned(),
                    Value::Table(vec![
                        ("Add".to_owned(), Leaf::Texts(vec!["a@x".into()])),
                        ("Remove".to_owned(), Leaf::Text("b@x".into())),
                    ])
                ),
            ]
        );
    }

    #[test]
    fn missing_parameters_mean_none() {
        let call = decode(br#"{"CmdletInput":{"CmdletName":"get-mailbox"}}"#).unwrap();
        assert_eq!(call.cmdlet, "get-mailbox");
        assert!(call.parameters.is_empty());
        let call =
            decode(br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":null}}"#).unwrap();
        assert!(call.parameters.is_empty());
    }

    #[test]
    fn shapes_a_call_cannot_hold_are_refused() {
        for body in [
            &br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":1.5}}}"#[..],
            br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":[1]}}}"#,
            br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":{"a":1}}}}"#,
            br##"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":{"@odata.type":"#Exchange.GenericHashTable","Add":{"a":1}}}}}"##,
            br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":1,"x":2}}}"#,
            br#"{"CmdletInput":{"Parameters":{}}}"#,
            br#"{"CmdletInput":{"CmdletName":""}}"#,
            br#"{}"#,
            br#"[]"#,
            b"\xff\xfe garbage",
            br#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":[]}}"#,
        ] {
            assert!(decode(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_very_deep_array_is_an_error_not_a_stack_overflow() {
        let mut body =
            String::from(r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"X":"#);
        body.push_str(&"[".repeat(100_000));
        body.push_str(&"]".repeat(100_000));
        body.push_str("}}}");
        assert!(decode(body.as_bytes()).is_err());
    }
}
