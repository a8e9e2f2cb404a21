//! Parameter binding: names checked against the cmdlet's list, values
//! converted to what the cmdlet expects, each failure in PowerShell's words.

use exorun_cmdlet::{Call, Leaf, ResultSize, Value};

use crate::error::ExoError;

/// PowerShell's common parameters (and the module's routing switch), which
/// every cmdlet accepts and the simulated tenant ignores.
const COMMON: &[&str] = &[
    "Confirm",
    "WhatIf",
    "ErrorAction",
    "WarningAction",
    "InformationAction",
    "Verbose",
    "Debug",
    "ErrorVariable",
    "WarningVariable",
    "InformationVariable",
    "OutVariable",
    "OutBuffer",
    "PipelineVariable",
    "UseCustomRouting",
];

/// A multi-valued property edit: a whole new list, or `@{Add=..; Remove=..}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiValue {
    Replace(Vec<String>),
    Edit {
        add: Vec<String>,
        remove: Vec<String>,
    },
}

/// A call's parameters, read through typed accessors.
pub struct Params<'a> {
    call: &'a Call,
}

impl<'a> Params<'a> {
    /// Binds the call against the cmdlet's parameter names.
    pub fn bind(call: &'a Call, allowed: &[&str]) -> Result<Self, ExoError> {
        for (name, _) in &call.parameters {
            let known = allowed
                .iter()
                .chain(COMMON)
                .any(|a| a.eq_ignore_ascii_case(name));
            if !known {
                return Err(ExoError::unknown_parameter(name));
            }
        }
        Ok(Params { call })
    }

    /// `-WhatIf` asks for no change.
    pub fn what_if(&self) -> bool {
        matches!(self.call.get("WhatIf"), Some(Value::Bool(true)))
    }

    /// A string; a single-element list is accepted as PowerShell unrolls it.
    pub fn text(&self, name: &str) -> Result<Option<String>, ExoError> {
        match self.call.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s.clone())),
            Some(Value::Int(i)) => Ok(Some(i.to_string())),
            Some(Value::Texts(v)) if v.len() == 1 => Ok(Some(v[0].clone())),
            Some(other) => Err(cannot_convert(name, other, "System.String")),
        }
    }

    pub fn required_text(&self, name: &str) -> Result<String, ExoError> {
        match self.text(name)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(ExoError::missing_parameter(name)),
        }
    }

    /// Absent → `None`; `$null` or `''` → `Some(None)` (clear the property).
    pub fn nullable_text(&self, name: &str) -> Result<Option<Option<String>>, ExoError> {
        match self.call.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Text(s)) if s.trim().is_empty() => Ok(Some(None)),
            Some(_) => Ok(Some(self.text(name)?)),
        }
    }

    /// A list; a lone string is a one-element list, `$null` an empty one.
    pub fn texts(&self, name: &str) -> Result<Option<Vec<String>>, ExoError> {
        match self.call.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(Value::Text(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Texts(v)) => Ok(Some(v.clone())),
            Some(other) => Err(cannot_convert(name, other, "System.String[]")),
        }
    }

    /// A switch or boolean; `'True'`/`'False'` and 0/1 as PowerShell converts them.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ExoError> {
        match self.call.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Int(0)) => Ok(Some(false)),
            Some(Value::Int(1)) => Ok(Some(true)),
            Some(Value::Text(s)) => match s
                .trim()
                .trim_start_matches('$')
                .to_ascii_lowercase()
                .as_str()
            {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(cannot_convert(
                    name,
                    &Value::Text(s.clone()),
                    "System.Boolean",
                )),
            },
            Some(other) => Err(cannot_convert(name, other, "System.Boolean")),
        }
    }

    /// A whole list or an Add/Remove hashtable.
    pub fn multi(&self, name: &str) -> Result<Option<MultiValue>, ExoError> {
        let Some(Value::Table(entries)) = self.call.get(name) else {
            return Ok(self.texts(name)?.map(MultiValue::Replace));
        };
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for (key, leaf) in entries {
            let target = if key.eq_ignore_ascii_case("Add") {
                &mut add
            } else if key.eq_ignore_ascii_case("Remove") {
                &mut remove
            } else if key.starts_with('@') {
                continue; // an `@odata.type` annotation that survived decoding
            } else {
                return Err(ExoError::invalid_value(
                    name,
                    format!(
                        "The hashtable key '{key}' isn't valid. Valid keys are Add and Remove."
                    ),
                ));
            };
            match leaf {
                Leaf::Text(s) => target.push(s.clone()),
                Leaf::Texts(v) => target.extend(v.iter().cloned()),
                Leaf::Null => {}
                other => {
                    return Err(ExoError::invalid_value(
                        name,
                        format!("Cannot convert value \"{other:?}\" to type \"System.String\"."),
                    ));
                }
            }
        }
        Ok(Some(MultiValue::Edit { add, remove }))
    }

    /// A date in any form [`crate::time::parse`] reads.
    pub fn date(&self, name: &str) -> Result<Option<i64>, ExoError> {
        match self.text(name)? {
            None => Ok(None),
            Some(text) => crate::time::parse(&text).map(Some).ok_or_else(|| {
                ExoError::invalid_value(
                    name,
                    format!("Cannot convert value \"{text}\" to type \"System.DateTime\". Error: \"String was not recognized as a valid DateTime.\""),
                )
            }),
        }
    }

    /// A non-negative integer.
    pub fn number(&self, name: &str) -> Result<Option<u32>, ExoError> {
        let invalid = |shown: String| {
            ExoError::invalid_value(
                name,
                format!("Cannot convert value \"{shown}\" to type \"System.Int32\"."),
            )
        };
        match self.call.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Int(i)) => u32::try_from(*i)
                .map(Some)
                .map_err(|_| invalid(i.to_string())),
            Some(Value::Text(s)) => s
                .trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| invalid(s.clone())),
            Some(other) => Err(cannot_convert(name, other, "System.Int32")),
        }
    }

    /// An enumeration value, refused with the enum binder's message.
    pub fn choice<T>(
        &self,
        name: &str,
        type_name: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ExoError> {
        match self.text(name)? {
            None => Ok(None),
            Some(text) => parse(text.trim())
                .map(Some)
                .ok_or_else(|| ExoError::invalid_enum(name, &text, type_name, allowed)),
        }
    }

    /// `-ResultSize` with Exchange's default of 1000.
    pub fn result_size(&self) -> Result<ResultSize, ExoError> {
        ResultSize::from_param(self.call.get("ResultSize")).map_err(|e| {
            ExoError::invalid_value(
                "ResultSize",
                e.to_string().trim_start_matches("invalid parameter: "),
            )
        })
    }
}

fn cannot_convert(name: &str, value: &Value, type_name: &str) -> ExoError {
    let shown = match value {
        Value::Texts(_) => "System.Object[]".to_owned(),
        Value::Table(_) => "System.Collections.Hashtable".to_owned(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Text(s) => s.clone(),
        Value::Null => String::new(),
    };
    ExoError::invalid_value(
        name,
        format!("Cannot convert value \"{shown}\" to type \"{type_name}\"."),
    )
}
