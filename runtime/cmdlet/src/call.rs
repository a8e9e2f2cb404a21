use serde::{Deserialize, Serialize};

/// A value inside an Add/Remove hashtable: everything a [`Value`] can be but
/// another table, because Exchange's multi-value edits are one level deep.
///
/// Its JSON form is in the `json` module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Texts(Vec<String>),
}

/// One parameter value as PowerShell would bind it.
///
/// Typed rather than raw JSON so that the policy gate decides on what the
/// cmdlet will actually receive (a `$null` is not the string `"$null"`).
/// Its JSON form (one for the plan file, the audit trail and the request
/// body) is in the `json` module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Texts(Vec<String>),
    /// A hashtable edit such as `@{Add="a@contoso.com"; Remove="b@contoso.com"}`.
    Table(Vec<(String, Leaf)>),
}

/// A value larger than this (as compact JSON) is kept in records (the
/// audit trail, a run's report) as an abbreviation: a plugin must not be
/// able to turn one call into megabytes of log.
pub const MAX_RECORDED_VALUE_BYTES: usize = 4096;
/// How much of an abbreviated value's text is kept.
const RECORDED_PREFIX_BYTES: usize = 3072;

/// `"<first 3 KiB>… [N bytes, sha256 <hex>]"` for a text longer than
/// [`MAX_RECORDED_VALUE_BYTES`]; `None` for a shorter one. The one
/// abbreviation every record uses, so that a reviewer can check a value
/// against any of them.
pub fn abbreviate(whole: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    if whole.len() <= MAX_RECORDED_VALUE_BYTES {
        return None;
    }
    let mut cut = RECORDED_PREFIX_BYTES.min(whole.len());
    while !whole.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = Sha256::digest(whole.as_bytes());
    Some(format!(
        "{}… [{} bytes, sha256 {}]",
        &whole[..cut],
        whole.len(),
        hex::encode(digest)
    ))
}

impl Value {
    /// What a record keeps of this value when it is larger than
    /// [`MAX_RECORDED_VALUE_BYTES`]: its first 3 KiB, its length in bytes
    /// and the SHA-256 (of the text, or of the compact JSON of a list or
    /// table), as `"<prefix>… [N bytes, sha256 <hex>]"`. `None` when the
    /// value is small enough to keep whole.
    pub fn abbreviated(&self) -> Option<Value> {
        let json;
        let whole: &str = match self {
            Value::Text(s) if s.len() > MAX_RECORDED_VALUE_BYTES => s,
            Value::Texts(_) | Value::Table(_)
                if self.approx_len() > MAX_RECORDED_VALUE_BYTES / 2 =>
            {
                json = serde_json::to_string(self).unwrap_or_default();
                if json.len() <= MAX_RECORDED_VALUE_BYTES {
                    return None;
                }
                &json
            }
            _ => return None,
        };
        abbreviate(whole).map(Value::Text)
    }

    /// True when [`Value::abbreviated`] surely returns `None`; cheap.
    fn abbreviated_is_none_cheaply(&self) -> bool {
        self.approx_len() <= MAX_RECORDED_VALUE_BYTES / 2
    }

    /// A cheap lower bound of the value's size, without serializing it.
    fn approx_len(&self) -> usize {
        let texts = |items: &[String]| items.iter().map(|s| s.len() + 3).sum::<usize>();
        match self {
            Value::Text(s) => s.len(),
            Value::Texts(items) => texts(items),
            Value::Table(entries) => entries
                .iter()
                .map(|(k, leaf)| {
                    k.len()
                        + match leaf {
                            Leaf::Text(s) => s.len(),
                            Leaf::Texts(items) => texts(items),
                            _ => 4,
                        }
                })
                .sum(),
            _ => 4,
        }
    }

    /// A short type name for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "$null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Text(_) => "string",
            Value::Texts(_) => "list of strings",
            Value::Table(_) => "hashtable",
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<Leaf> for Value {
    fn from(leaf: Leaf) -> Self {
        match leaf {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => Value::Bool(b),
            Leaf::Int(i) => Value::Int(i),
            Leaf::Text(s) => Value::Text(s),
            Leaf::Texts(v) => Value::Texts(v),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

/// One cmdlet invocation: a name and its bound parameters, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub cmdlet: String,
    pub parameters: Vec<(String, Value)>,
}

impl Call {
    pub fn new(cmdlet: impl Into<String>) -> Self {
        Call {
            cmdlet: cmdlet.into(),
            parameters: Vec::new(),
        }
    }

    /// Adds a parameter; builder style, for tests and the in-process backend.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// Looks a parameter up by name, case-insensitively, as PowerShell binds.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.parameters
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The call as records keep it: large values abbreviated (see
    /// [`Value::abbreviated`]). `None` when every value is kept whole.
    pub fn abbreviated(&self) -> Option<Call> {
        if self
            .parameters
            .iter()
            .all(|(_, value)| value.abbreviated_is_none_cheaply())
        {
            return None;
        }
        Some(Call {
            cmdlet: self.cmdlet.clone(),
            parameters: self
                .parameters
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        value.abbreviated().unwrap_or_else(|| value.clone()),
                    )
                })
                .collect(),
        })
    }

    /// True when the cmdlet only reads (see [`crate::is_read_only`]).
    pub fn is_read_only(&self) -> bool {
        crate::is_read_only(&self.cmdlet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_are_abbreviated_with_their_length_and_digest() {
        let big = "a".repeat(10_000);
        let call = Call::new("Set-Mailbox")
            .param("Identity", big.as_str())
            .param("Small", "kept");
        let short = call.abbreviated().unwrap();
        let text = short.get("Identity").and_then(Value::as_text).unwrap();
        assert!(text.starts_with(&"a".repeat(3072)));
        assert!(text.ends_with(&format!(
            "… [10000 bytes, sha256 {}]",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(big.as_bytes()))
        )));
        assert!(text.len() < MAX_RECORDED_VALUE_BYTES);
        assert_eq!(short.get("Small"), Some(&Value::from("kept")));
        assert!(
            Call::new("Get-Mailbox")
                .param("Identity", "x")
                .abbreviated()
                .is_none()
        );
    }

    #[test]
    fn a_long_list_is_abbreviated_as_json() {
        let items: Vec<String> = (0..2000).map(|i| format!("user{i}@contoso.com")).collect();
        let short = Value::Texts(items).abbreviated().unwrap();
        let Value::Text(text) = short else { panic!() };
        assert!(text.starts_with("[\"user0@contoso.com\""), "{text}");
    }

    #[test]
    fn parameter_lookup_ignores_case() {
        let call = Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
        assert_eq!(call.get("resultsize"), Some(&Value::from("Unlimited")));
        assert_eq!(call.get("Identity"), None);
    }
}
