//! `[inputs]`: the values an operator passes to a run (`--input
//! name=value`), typed as declared, read by the plugin through
//! `exorun:automation/inputs`.

use std::sync::{Arc, LazyLock};

use exorun_cmdlet::Escaped;
use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{Capability, Change, Grant, Grants, Section, Source};
use crate::inputs::{InputSpec, InputType, InputValue};
use crate::source::ManifestError;

static INPUT_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$").expect("static regex"));

/// The operator's typed inputs.
pub struct InputsCapability;

impl Capability for InputsCapability {
    fn name(&self) -> &'static str {
        "inputs"
    }

    fn keys(&self) -> &'static [&'static str] {
        &["inputs"]
    }

    fn parse(&self, source: &Source<'_>) -> Result<Option<Arc<dyn Grant>>, ManifestError> {
        let raw: IndexMap<String, Spanned<RawInput>> = source.key("inputs")?.unwrap_or_default();
        let specs = raw
            .into_iter()
            .map(|(name, input)| validate_input(source, name, input))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Arc::new(specs)))
    }

    /// Inputs are what the operator hands a run, not power over the
    /// tenant: a changed input is shown, and needs no approval.
    fn compare(&self, old: &Grants, new: &Grants) -> Vec<Change> {
        let (before, after) = (self.describe(old).json, self.describe(new).json);
        if before == after {
            return Vec::new();
        }
        let names = |grants: &Grants| -> Vec<String> {
            grants
                .get::<Vec<InputSpec>>()
                .map(|specs| {
                    specs
                        .iter()
                        .map(|s| format!("{} ({})", s.name, s.ty.name()))
                        .collect()
                })
                .unwrap_or_default()
        };
        vec![Change::neutral(format!(
            "inputs: [{}] → [{}]",
            Escaped(&names(old).join(", ")),
            Escaped(&names(new).join(", "))
        ))]
    }

    fn describe(&self, grants: &Grants) -> Section {
        let inputs = grants
            .get::<Vec<InputSpec>>()
            .map_or(&[][..], Vec::as_slice);
        let mut text = vec!["Inputs".to_owned()];
        if inputs.is_empty() {
            text.push("  (none)".to_owned());
        }
        for i in inputs {
            let default = match (&i.default, i.required) {
                (_, true) => "required".to_owned(),
                (Some(d), _) => format!("default {d}"),
                (None, false) => "optional".to_owned(),
            };
            text.push(format!(
                "  {:<20} {:<8} {:<28} {}",
                i.name,
                i.ty.name(),
                Escaped(&default),
                Escaped(&i.description)
            ));
        }
        let json = inputs
            .iter()
            .map(|i| {
                json!({
                    "name": i.name, "type": i.ty.name(), "required": i.required,
                    "default": i.default.as_ref().map(|d| d.to_string()),
                    "description": i.description,
                })
            })
            .collect::<Vec<_>>();
        Section {
            text,
            json: vec![("inputs", json!(json))],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    #[serde(rename = "type")]
    ty: Spanned<String>,
    default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sensitive: bool,
}

fn validate_input(
    loc: &Source<'_>,
    name: String,
    spanned: Spanned<RawInput>,
) -> Result<InputSpec, ManifestError> {
    if !INPUT_NAME.is_match(&name) {
        return Err(loc.error_at(
            &spanned,
            format!(
                "input name '{name}' must start with a letter and use letters, digits, - and _"
            ),
        ));
    }
    let raw = spanned.get_ref();
    let ty = InputType::parse(raw.ty.get_ref()).ok_or_else(|| {
        loc.error_at(
            &raw.ty,
            format!(
                "input {name} has type '{}'; use string, integer, boolean or list",
                raw.ty.get_ref()
            ),
        )
    })?;
    let default = match &raw.default {
        None => None,
        Some(value) => Some(typed_default(ty, value.get_ref()).ok_or_else(|| {
            loc.error_at(
                value,
                format!(
                    "default of input {name} must be a {} like its type",
                    ty.name()
                ),
            )
        })?),
    };
    if raw.required && default.is_some() {
        return Err(loc.error_at(
            &spanned,
            format!("input {name} is required and has a default; drop one of the two"),
        ));
    }
    Ok(InputSpec {
        name,
        ty,
        required: raw.required,
        default,
        description: raw.description.clone(),
        sensitive: raw.sensitive,
    })
}

fn typed_default(ty: InputType, value: &toml::Value) -> Option<InputValue> {
    match (ty, value) {
        (InputType::String, toml::Value::String(s)) => Some(InputValue::Text(s.clone())),
        (InputType::Integer, toml::Value::Integer(i)) => Some(InputValue::Integer(*i)),
        (InputType::Boolean, toml::Value::Boolean(b)) => Some(InputValue::Boolean(*b)),
        (InputType::List, toml::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(InputValue::Texts),
        _ => None,
    }
}
