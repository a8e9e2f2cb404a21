//! Operator-supplied inputs: declared with a type in the manifest, given as
//! `--input name=value` on the command line, and handed to the plugin typed.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    String,
    Integer,
    Boolean,
    /// A comma-separated list on the command line.
    List,
}

impl InputType {
    pub fn parse(name: &str) -> Option<InputType> {
        match name {
            "string" => Some(InputType::String),
            "integer" => Some(InputType::Integer),
            "boolean" => Some(InputType::Boolean),
            "list" => Some(InputType::List),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::List => "list",
        }
    }

    /// Parses a command-line value as this type.
    pub fn parse_value(self, text: &str) -> Result<InputValue, String> {
        match self {
            InputType::String => Ok(InputValue::Text(text.to_owned())),
            InputType::Integer => text
                .trim()
                .parse()
                .map(InputValue::Integer)
                .map_err(|_| format!("'{text}' is not a whole number")),
            InputType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "$true" => Ok(InputValue::Boolean(true)),
                "false" | "no" | "0" | "$false" => Ok(InputValue::Boolean(false)),
                _ => Err(format!("'{text}' is not true or false")),
            },
            InputType::List => Ok(InputValue::Texts(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    Texts(Vec<String>),
}

impl std::fmt::Display for InputValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputValue::Text(s) => write!(f, "{s}"),
            InputValue::Integer(i) => write!(f, "{i}"),
            InputValue::Boolean(b) => write!(f, "{b}"),
            InputValue::Texts(v) => write!(f, "{}", v.join(",")),
        }
    }
}

/// One `[inputs.NAME]` table.
#[derive(Clone, Debug)]
pub struct InputSpec {
    pub name: String,
    pub ty: InputType,
    pub required: bool,
    pub default: Option<InputValue>,
    pub description: String,
    pub sensitive: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("unknown input '{name}'; this plugin declares: {declared}")]
    Unknown { name: String, declared: String },
    #[error("input '{name}' is given more than once")]
    Duplicate { name: String },
    #[error("input '{name}' must be a {ty}: {reason}")]
    BadValue {
        name: String,
        ty: &'static str,
        reason: String,
    },
    #[error("input '{name}' is required; pass --input {name}=<{ty}>")]
    Missing { name: String, ty: &'static str },
    #[error("'{given}' is not of the form name=value")]
    NotKeyValue { given: String },
}

/// The inputs of one run, typed, with defaults applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedInputs {
    values: BTreeMap<String, InputValue>,
}

impl ResolvedInputs {
    /// Checks the operator's `name=value` pairs against the declarations.
    pub fn resolve(specs: &[InputSpec], given: &[String]) -> Result<Self, InputError> {
        let mut values = BTreeMap::new();
        for pair in given {
            let Some((name, text)) = pair.split_once('=') else {
                return Err(InputError::NotKeyValue {
                    given: pair.clone(),
                });
            };
            let name = name.trim();
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                let declared: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                return Err(InputError::Unknown {
                    name: name.to_owned(),
                    declared: if declared.is_empty() {
                        "(no inputs)".to_owned()
                    } else {
                        declared.join(", ")
                    },
                });
            };
            let value = spec
                .ty
                .parse_value(text)
                .map_err(|reason| InputError::BadValue {
                    name: spec.name.clone(),
                    ty: spec.ty.name(),
                    reason,
                })?;
            if values.insert(spec.name.clone(), value).is_some() {
                return Err(InputError::Duplicate {
                    name: spec.name.clone(),
                });
            }
        }
        for spec in specs {
            if values.contains_key(&spec.name) {
                continue;
            }
            match &spec.default {
                Some(default) => {
                    values.insert(spec.name.clone(), default.clone());
                }
                None if spec.required => {
                    return Err(InputError::Missing {
                        name: spec.name.clone(),
                        ty: spec.ty.name(),
                    });
                }
                None => {}
            }
        }
        Ok(ResolvedInputs { values })
    }

    pub fn get(&self, name: &str) -> Option<&InputValue> {
        self.values.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &InputValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }
}
