//! Parameter values, written the way a PowerShell user thinks of them.

use crate::bindings::exorun::automation::types::{Leaf, Value};

/// A parameter value. Build one from a `&str`, `String`, `bool`, `i64`,
/// `Vec<String>`, `Option<&str>` (`None` is `$null`), [`Param::Null`] or an
/// [`Edit`] (an `@{Add=…; Remove=…}` hashtable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Texts(Vec<String>),
    Edit(Edit),
}

/// A multi-value edit such as `-EmailAddresses @{Add="a@contoso.com"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edit {
    add: Vec<String>,
    remove: Vec<String>,
}

impl Edit {
    pub fn new() -> Self {
        Edit::default()
    }

    pub fn add(mut self, value: impl Into<String>) -> Self {
        self.add.push(value.into());
        self
    }

    pub fn remove(mut self, value: impl Into<String>) -> Self {
        self.remove.push(value.into());
        self
    }
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_owned())
    }
}

impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Text(s)
    }
}

impl From<&String> for Param {
    fn from(s: &String) -> Self {
        Param::Text(s.clone())
    }
}

impl From<bool> for Param {
    fn from(b: bool) -> Self {
        Param::Bool(b)
    }
}

impl From<i64> for Param {
    fn from(i: i64) -> Self {
        Param::Int(i)
    }
}

impl From<Vec<String>> for Param {
    fn from(v: Vec<String>) -> Self {
        Param::Texts(v)
    }
}

impl From<&[&str]> for Param {
    fn from(v: &[&str]) -> Self {
        Param::Texts(v.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

impl From<Edit> for Param {
    fn from(e: Edit) -> Self {
        Param::Edit(e)
    }
}

impl Param {
    pub(crate) fn into_wit(self) -> Value {
        match self {
            Param::Null => Value::Null,
            Param::Bool(b) => Value::Boolean(b),
            Param::Int(i) => Value::Integer(i),
            Param::Text(s) => Value::Text(s),
            Param::Texts(v) => Value::Texts(v),
            Param::Edit(e) => {
                let mut table = Vec::new();
                if !e.add.is_empty() {
                    table.push(("Add".to_owned(), Leaf::Texts(e.add)));
                }
                if !e.remove.is_empty() {
                    table.push(("Remove".to_owned(), Leaf::Texts(e.remove)));
                }
                Value::Table(table)
            }
        }
    }
}
