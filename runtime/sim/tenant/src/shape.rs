//! Builds result objects with Exchange's JSON annotations (docs/protocol.md, "Response envelope"), so
//! every renderer spells `@odata.type` and `@data.type` the same way.
//!
//! One builder, two outputs: a `serde_json::Value` tree (what
//! [`crate::Execution::page`] returns), or compact JSON text written
//! straight into one buffer (what [`crate::Execution::page_json`] returns).
//! Text mode skips the tree's hundred-odd small allocations per object,
//! which dominate the cost of paging 100,000 mailboxes.

use std::io::Write;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::size::format_bytes;
use crate::time::{format_offset, format_utc};

enum Mode {
    Tree(Map<String, Value>),
    Text { out: Vec<u8>, empty: bool },
}

/// Property keys are static identifiers (`Guid`, `EmailAddresses`, ...), so
/// in text mode they are written without escaping.
pub struct Obj {
    mode: Mode,
    #[cfg(debug_assertions)]
    keys: std::collections::HashSet<String>,
}

impl Obj {
    pub fn new() -> Self {
        Self::with(Mode::Tree(Map::new()))
    }

    pub fn text() -> Self {
        let mut out = Vec::with_capacity(4096);
        out.push(b'{');
        Self::with(Mode::Text { out, empty: true })
    }

    fn with(mode: Mode) -> Self {
        Obj {
            mode,
            #[cfg(debug_assertions)]
            keys: std::collections::HashSet::new(),
        }
    }

    /// Starts `"key<suffix>":` in text mode; a repeated key is a renderer bug
    /// (the tree would silently keep the last value, the text would not).
    fn key(&mut self, key: &str, suffix: &str) {
        #[cfg(debug_assertions)]
        debug_assert!(
            self.keys.insert(format!("{key}{suffix}")),
            "duplicate key {key}{suffix}"
        );
        if let Mode::Text { out, empty } = &mut self.mode {
            if !*empty {
                out.push(b',');
            }
            *empty = false;
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(suffix.as_bytes());
            out.extend_from_slice(b"\":");
        }
    }

    fn put(&mut self, key: &str, suffix: &str, value: Value) {
        self.key(key, suffix);
        match &mut self.mode {
            Mode::Tree(map) => {
                map.insert(format!("{key}{suffix}"), value);
            }
            Mode::Text { out, .. } => {
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(out, &value);
            }
        }
    }

    fn put_str(&mut self, key: &str, suffix: &str, value: &str) {
        self.key(key, suffix);
        match &mut self.mode {
            Mode::Tree(map) => {
                map.insert(format!("{key}{suffix}"), Value::String(value.to_owned()));
            }
            Mode::Text { out, .. } => {
                let _ = serde_json::to_writer(out, value);
            }
        }
    }

    pub fn str(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        self.put_str(key, "", value.as_ref());
        self
    }

    /// A string or `null`.
    pub fn opt(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.put_str(key, "", v),
            None => self.put(key, "", Value::Null),
        }
        self
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.put(key, "", Value::Bool(value));
        self
    }

    pub fn num(&mut self, key: &str, value: u64) -> &mut Self {
        self.put(key, "", Value::from(value));
        self
    }

    /// An Int32 with its annotations.
    pub fn int32(&mut self, key: &str, value: i32) -> &mut Self {
        self.put_str(key, "@data.type", "System.Int32");
        self.put_str(key, "@odata.type", "#Int32");
        self.put(key, "", Value::from(value));
        self
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.put(key, "", Value::Null);
        self
    }

    pub fn strings<S: AsRef<str>>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        self.put_str(key, "@odata.type", "#Collection(String)");
        self.key(key, "");
        match &mut self.mode {
            Mode::Tree(map) => {
                let values = values
                    .into_iter()
                    .map(|v| Value::String(v.as_ref().to_owned()))
                    .collect();
                map.insert(key.to_owned(), Value::Array(values));
            }
            Mode::Text { out, .. } => {
                out.push(b'[');
                for (i, v) in values.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, v.as_ref());
                }
                out.push(b']');
            }
        }
        self
    }

    pub fn guid(&mut self, key: &str, value: Uuid) -> &mut Self {
        self.put_str(key, "@data.type", "System.Guid");
        self.put_str(key, "@odata.type", "#Guid");
        let mut buf = Uuid::encode_buffer();
        let text = value.hyphenated().encode_lower(&mut buf);
        self.put_str(key, "", text);
        self
    }

    /// A missing GUID prints as Exchange's all-zero value.
    pub fn opt_guid(&mut self, key: &str, value: Option<Uuid>) -> &mut Self {
        self.guid(key, value.unwrap_or_else(Uuid::nil))
    }

    /// A `System.DateTime` value, `+00:00` form.
    pub fn date(&mut self, key: &str, secs: i64) -> &mut Self {
        self.put_str(key, "@data.type", "System.DateTime");
        self.put_str(key, "", &format_offset(secs));
        self
    }

    /// The `*UTC` variant, `Z` form.
    pub fn date_utc(&mut self, key: &str, secs: i64) -> &mut Self {
        self.put_str(key, "@data.type", "System.DateTime");
        self.put_str(key, "", &format_utc(secs));
        self
    }

    pub fn opt_date(&mut self, key: &str, secs: Option<i64>) -> &mut Self {
        match secs {
            Some(s) => self.date(key, s),
            None => self.null(key),
        }
    }

    /// A ByteQuantifiedSize: a plain string, no annotation.
    pub fn size(&mut self, key: &str, bytes: u64) -> &mut Self {
        self.put_str(key, "", &format_bytes(bytes));
        self
    }

    /// The finished tree (text mode yields the text parsed, which only
    /// happens if a caller mixes modes).
    pub fn build(&mut self) -> Value {
        match &mut self.mode {
            Mode::Tree(map) => Value::Object(std::mem::take(map)),
            Mode::Text { .. } => serde_json::from_str(&self.build_text()).unwrap_or(Value::Null),
        }
    }

    /// The finished compact JSON text.
    pub fn build_text(&mut self) -> String {
        match &mut self.mode {
            Mode::Tree(map) => Value::Object(std::mem::take(map)).to_string(),
            Mode::Text { out, .. } => {
                let mut bytes = std::mem::take(out);
                let _ = bytes.write_all(b"}");
                // Only UTF-8 was written: keys are ASCII, values went through serde_json.
                String::from_utf8(bytes).unwrap_or_default()
            }
        }
    }
}
