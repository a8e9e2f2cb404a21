use serde::{Deserialize, Serialize};

/// A value inside an Add/Remove hashtable: everything a [`Value`] can be but
/// another table, because Exchange's multi-value edits are one level deep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Texts(Vec<String>),
    /// A hashtable edit such as `@{Add="a@contoso.com"; Remove="b@contoso.com"}`.
    Table(Vec<(String, Leaf)>),
}

impl Value {
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

    /// True when the cmdlet only reads (see [`crate::is_read_only`]).
    pub fn is_read_only(&self) -> bool {
        crate::is_read_only(&self.cmdlet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_lookup_ignores_case() {
        let call = Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
        assert_eq!(call.get("resultsize"), Some(&Value::from("Unlimited")));
        assert_eq!(call.get("Identity"), None);
    }
}
