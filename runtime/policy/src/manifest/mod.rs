//! `exorun.toml`: parsing and strict validation.
//!
//! A manifest is the plugin's whole claim to power over a tenant, so it is
//! read strictly: unknown keys, duplicate cmdlets or parameters, invalid
//! patterns, non Verb-Noun names and ill-typed defaults are errors, each
//! pointing at the file, line and column with a message that says what to fix.

mod raw;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use toml::Spanned;

use crate::capabilities::{Capabilities, CmdletRule, Constraint, ParamRule, Pattern, SetEntry};
use crate::inputs::{InputSpec, InputType, InputValue};
use crate::limits::Limits;
use crate::outputs::{MAX_OUTPUTS_FILES, MAX_OUTPUTS_MIB, Outputs};
use crate::pattern::PATTERNS_TOTAL_LIMIT;
use raw::{RawCmdlet, RawInput, RawManifest, RawOutputs, RawParam};

/// The largest manifest read. Real manifests are a few KiB; a manifest
/// from a marketplace must not be able to make the host parse, compile or
/// show megabytes of grants.
pub const MAX_MANIFEST_BYTES: usize = 256 << 10;

static VERB_NOUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z]+-[A-Za-z][A-Za-z0-9]*$").expect("static regex"));
static PARAMETER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9]*$").expect("static regex"));
static PLUGIN_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]{0,63}$").expect("static regex"));
static INPUT_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$").expect("static regex"));

/// A manifest problem, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The `[plugin]` table.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub authors: Vec<String>,
    /// The component file, resolved against the manifest's folder.
    pub component: PathBuf,
    /// Lowercase hex SHA-256 the component must have; `None` only before the
    /// first `exorun build`, and such a plugin is refused at load.
    pub sha256: Option<String>,
}

/// A validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub path: PathBuf,
    /// SHA-256 of the manifest file's bytes, lowercase hex: what a plan
    /// binds, so it can only be applied under the grants it was made under.
    pub sha256: String,
    pub plugin: PluginInfo,
    pub capabilities: Capabilities,
    pub inputs: Vec<InputSpec>,
    pub limits: Limits,
    /// `[outputs]`: a per-run folder for report files; `None` means the
    /// plugin gets no filesystem at all.
    pub outputs: Option<Outputs>,
}

impl Manifest {
    /// Reads and validates a manifest file (or `exorun.toml` inside a folder).
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let path = if path.is_dir() {
            path.join("exorun.toml")
        } else {
            path.to_path_buf()
        };
        let read = |source| ManifestError::Read {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(read)?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_MANIFEST_BYTES as u64 + 1),
            &mut text,
        )
        .map_err(read)?;
        Manifest::parse(&path, &text)
    }

    /// Validates manifest text; `path` names the file in errors and anchors
    /// the relative component path.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let located = Locator { path, text };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(located.error(
                0,
                format!(
                    "the manifest is larger than {MAX_MANIFEST_BYTES} bytes; a manifest declares grants, not data"
                ),
            ));
        }
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            located.error(offset, e.message().trim_end().to_owned())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));

        let plugin = validate_plugin(&located, raw.plugin, base)?;
        let capabilities = validate_cmdlets(&located, raw.cmdlets)?;
        let inputs = raw
            .inputs
            .into_iter()
            .map(|(name, input)| validate_input(&located, name, input))
            .collect::<Result<Vec<_>, _>>()?;

        let defaults = Limits::default();
        let limits = Limits {
            memory_mib: positive(&located, raw.limits.memory_mib, "memory-mib")?
                .unwrap_or(defaults.memory_mib),
            timeout: positive(&located, raw.limits.timeout_seconds, "timeout-seconds")?
                .map(Duration::from_secs)
                .unwrap_or(defaults.timeout),
            max_calls: positive(&located, raw.limits.max_calls, "max-calls")?
                .unwrap_or(defaults.max_calls),
        };

        let outputs = raw
            .outputs
            .map(|outputs| validate_outputs(&located, outputs))
            .transpose()?;

        Ok(Manifest {
            path: path.to_path_buf(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
            plugin,
            capabilities,
            inputs,
            limits,
            outputs,
        })
    }
}

/// Turns byte offsets into `file:line:column` errors.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn error(&self, offset: usize, message: String) -> ManifestError {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ManifestError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    fn at<T>(&self, spanned: &Spanned<T>, message: String) -> ManifestError {
        self.error(spanned.span().start, message)
    }
}

fn validate_plugin(
    loc: &Locator<'_>,
    raw: raw::RawPlugin,
    base: &Path,
) -> Result<PluginInfo, ManifestError> {
    let name = raw.name.get_ref();
    if !PLUGIN_NAME.is_match(name) {
        return Err(loc.at(
            &raw.name,
            format!(
                "plugin name '{name}' must be 1-64 lowercase letters, digits and dashes, starting with a letter or digit"
            ),
        ));
    }
    let version = semver::Version::parse(raw.version.get_ref()).map_err(|e| {
        loc.at(
            &raw.version,
            format!(
                "version '{}' is not semantic versioning (like 1.2.0): {e}",
                raw.version.get_ref()
            ),
        )
    })?;
    if raw.component.get_ref().trim().is_empty() {
        return Err(loc.at(
            &raw.component,
            "component must name the .wasm file, relative to this manifest".to_owned(),
        ));
    }
    let sha256 = match raw.sha256 {
        None => None,
        Some(s) if s.get_ref().is_empty() => None,
        Some(s) => {
            let hex = s.get_ref().to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(loc.at(
                    &s,
                    "sha256 must be 64 hexadecimal digits; run `exorun build` to record it"
                        .to_owned(),
                ));
            }
            Some(hex)
        }
    };
    Ok(PluginInfo {
        name: name.clone(),
        version,
        description: raw.description,
        authors: raw.authors,
        component: base.join(raw.component.get_ref()),
        sha256,
    })
}

fn validate_cmdlets(
    loc: &Locator<'_>,
    raw: Vec<Spanned<RawCmdlet>>,
) -> Result<Capabilities, ManifestError> {
    let mut cmdlets: Vec<CmdletRule> = Vec::with_capacity(raw.len());
    // What all patterns of this manifest may still take.
    let mut pattern_budget = PATTERNS_TOTAL_LIMIT;
    for spanned in raw {
        let cmdlet = spanned.into_inner();
        let name = cmdlet.name.get_ref();
        if !VERB_NOUN.is_match(name) {
            return Err(loc.at(
                &cmdlet.name,
                format!("'{name}' is not a cmdlet name of the form Verb-Noun (like Get-Mailbox)"),
            ));
        }
        if cmdlets.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
            return Err(loc.at(
                &cmdlet.name,
                format!(
                    "cmdlet {name} is declared twice; merge its [[cmdlet]] tables into one (exorun never merges grants)"
                ),
            ));
        }
        let mut parameters: Vec<ParamRule> = Vec::with_capacity(cmdlet.parameters.len());
        for (param_name, param) in cmdlet.parameters {
            if !PARAMETER_NAME.is_match(&param_name) {
                return Err(loc.at(
                    &param,
                    format!(
                        "'{param_name}' is not a parameter name (letters and digits, without the leading dash)"
                    ),
                ));
            }
            if parameters
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&param_name))
            {
                return Err(loc.at(
                    &param,
                    format!(
                        "parameter {param_name} of {name} is declared twice (names ignore case)"
                    ),
                ));
            }
            parameters.push(validate_param(
                loc,
                name,
                param_name,
                param,
                &mut pattern_budget,
            )?);
        }
        cmdlets.push(CmdletRule {
            read_only: exorun_cmdlet::is_read_only(name),
            name: name.clone(),
            parameters,
        });
    }
    Ok(Capabilities { cmdlets })
}

fn validate_param(
    loc: &Locator<'_>,
    cmdlet: &str,
    name: String,
    spanned: Spanned<RawParam>,
    pattern_budget: &mut usize,
) -> Result<ParamRule, ManifestError> {
    let span_error = |message: String| loc.at(&spanned, message);
    let raw = spanned.get_ref();
    let constraint = match (&raw.set, &raw.pattern) {
        (Some(_), Some(_)) => {
            return Err(span_error(format!(
                "{cmdlet} -{name} has both set and pattern; keep one (exorun does not guess which wins)"
            )));
        }
        (Some(set), None) => {
            if set.is_empty() {
                return Err(span_error(format!(
                    "{cmdlet} -{name} has an empty set, which would allow nothing; remove the parameter instead"
                )));
            }
            Constraint::Set(set.iter().map(|s| SetEntry::parse(s)).collect())
        }
        (None, Some(pattern)) => {
            let source = pattern.get_ref();
            let compiled = Pattern::compile(source, *pattern_budget).map_err(|reason| {
                loc.at(
                    pattern,
                    format!(
                        "pattern for {cmdlet} -{name} is not a valid regular expression: {reason}"
                    ),
                )
            })?;
            *pattern_budget -= compiled.memory();
            Constraint::Pattern(compiled)
        }
        (None, None) => Constraint::Any,
    };
    Ok(ParamRule {
        name,
        constraint,
        sensitive: raw.sensitive,
        clear: raw.clear,
    })
}

fn validate_input(
    loc: &Locator<'_>,
    name: String,
    spanned: Spanned<RawInput>,
) -> Result<InputSpec, ManifestError> {
    if !INPUT_NAME.is_match(&name) {
        return Err(loc.at(
            &spanned,
            format!(
                "input name '{name}' must start with a letter and use letters, digits, - and _"
            ),
        ));
    }
    let raw = spanned.get_ref();
    let ty = InputType::parse(raw.ty.get_ref()).ok_or_else(|| {
        loc.at(
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
            loc.at(
                value,
                format!(
                    "default of input {name} must be a {} like its type",
                    ty.name()
                ),
            )
        })?),
    };
    if raw.required && default.is_some() {
        return Err(loc.at(
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

fn validate_outputs(loc: &Locator<'_>, raw: RawOutputs) -> Result<Outputs, ManifestError> {
    let defaults = Outputs::default();
    let bounded = |value: Option<Spanned<u64>>, key: &str, ceiling: u64| match value {
        Some(v) if *v.get_ref() == 0 => Err(loc.at(
            &v,
            format!(
                "[outputs] {key} must be greater than 0 (leave [outputs] out for no folder at all)"
            ),
        )),
        Some(v) if *v.get_ref() > ceiling => {
            Err(loc.at(&v, format!("[outputs] {key} may be at most {ceiling}")))
        }
        Some(v) => Ok(Some(*v.get_ref())),
        None => Ok(None),
    };
    Ok(Outputs {
        max_mib: bounded(raw.max_mib, "max-mib", MAX_OUTPUTS_MIB)?.unwrap_or(defaults.max_mib),
        max_files: bounded(raw.max_files, "max-files", MAX_OUTPUTS_FILES)?
            .unwrap_or(defaults.max_files),
    })
}

fn positive(
    loc: &Locator<'_>,
    value: Option<Spanned<u64>>,
    key: &str,
) -> Result<Option<u64>, ManifestError> {
    match value {
        Some(v) if *v.get_ref() == 0 => {
            Err(loc.at(&v, format!("[limits] {key} must be greater than 0")))
        }
        Some(v) => Ok(Some(*v.get_ref())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
