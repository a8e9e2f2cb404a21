//! The one JSON form of a parameter value, used by the plan file, the audit
//! trail and the Exchange client's request body: `null`, a boolean, an
//! integer, a string, an array of strings, or an object (a hashtable) of
//! those. A hashtable holds no hashtable, and a number is never a fraction.
//!
//! The simulated tenant reads request bodies with its own decoder on
//! purpose: it must answer malformed input in Exchange's own words.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::call::{Leaf, Value};

impl Serialize for Leaf {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Leaf::Null => s.serialize_unit(),
            Leaf::Bool(b) => s.serialize_bool(*b),
            Leaf::Int(i) => s.serialize_i64(*i),
            Leaf::Text(t) => s.serialize_str(t),
            Leaf::Texts(v) => v.serialize(s),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Text(t) => s.serialize_str(t),
            Value::Texts(v) => v.serialize(s),
            Value::Table(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (key, leaf) in entries {
                    map.serialize_entry(key, leaf)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor { in_table: false })
    }
}

impl<'de> Deserialize<'de> for Leaf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(ValueVisitor { in_table: true })? {
            Value::Null => Ok(Leaf::Null),
            Value::Bool(b) => Ok(Leaf::Bool(b)),
            Value::Int(i) => Ok(Leaf::Int(i)),
            Value::Text(t) => Ok(Leaf::Text(t)),
            Value::Texts(v) => Ok(Leaf::Texts(v)),
            Value::Table(_) => Err(de::Error::custom(
                "a hashtable cannot hold another hashtable",
            )),
        }
    }
}

struct ValueVisitor {
    /// Inside a hashtable, where another table is not allowed.
    in_table: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null, a boolean, an integer, a string, an array of strings or an object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("{u} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Err(E::custom(format!(
            "{f} is not an integer; parameter values are never fractions"
        )))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Text(s.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(Value::Texts(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.in_table {
            return Err(de::Error::custom(
                "a hashtable cannot hold another hashtable",
            ));
        }
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<Leaf>()?));
        }
        Ok(Value::Table(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_json() {
        for (value, json) in [
            (Value::Null, "null"),
            (Value::Bool(true), "true"),
            (Value::Int(-7), "-7"),
            (Value::Text("a\"b".into()), r#""a\"b""#),
            (Value::Texts(vec!["x".into(), "y".into()]), r#"["x","y"]"#),
            (
                Value::Table(vec![
                    ("Add".into(), Leaf::Texts(vec!["a@x".into()])),
                    ("Remove".into(), Leaf::Text("b@x".into())),
                ]),
                r#"{"Add":["a@x"],"Remove":"b@x"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&value).unwrap(), json);
            assert_eq!(serde_json::from_str::<Value>(json).unwrap(), value);
        }
    }

    #[test]
    fn nested_tables_fractions_and_huge_numbers_are_refused() {
        let error = |json: &str| serde_json::from_str::<Value>(json).unwrap_err().to_string();
        assert!(
            error(r#"{"Add":{"x":1}}"#).starts_with("a hashtable cannot hold another hashtable")
        );
        assert!(
            error("1.5").starts_with("1.5 is not an integer; parameter values are never fractions")
        );
        assert!(error("18446744073709551615").starts_with("18446744073709551615 is out of range"));
        assert!(error("[1]").contains("expected a string"));
    }
}
