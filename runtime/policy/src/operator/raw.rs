//! A policy file as written, and its validation into [`Rules`]. As strict
//! as the manifest: unknown keys, empty sets, bad patterns and names that
//! are not cmdlets or parameters are errors at their file, line and column.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::{CmdletGlob, CmdletPolicy, LimitRules, Origin, ParamPolicy, Rules};
use crate::capabilities::{Constraint, Pattern, SetEntry};
use crate::pattern::PATTERNS_TOTAL_LIMIT;
use crate::source::{ManifestError, Source};

/// The largest `[limits] weight`: a run of this weight gets this many
/// slots for each slot of a run of weight 1.
pub const MAX_WEIGHT: u64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    all: Option<RawRules>,
    #[serde(default)]
    plugin: IndexMap<Spanned<String>, RawRules>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRules {
    forbid_writes: Option<Spanned<bool>>,
    #[serde(default)]
    deny_cmdlets: Vec<Spanned<String>>,
    limits: Option<RawLimits>,
    #[serde(default)]
    cmdlet: Vec<RawCmdlet>,
    scope: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    memory_mib: Option<Spanned<u64>>,
    timeout_seconds: Option<Spanned<u64>>,
    max_calls: Option<Spanned<u64>>,
    outputs_mib: Option<Spanned<u64>>,
    calls_per_second: Option<Spanned<u64>>,
    weight: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCmdlet {
    name: Spanned<String>,
    #[serde(default)]
    deny_parameters: Vec<Spanned<String>>,
    #[serde(default)]
    parameters: IndexMap<String, Spanned<RawParam>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    set: Option<Vec<String>>,
    pattern: Option<Spanned<String>>,
    #[serde(default)]
    clear: bool,
}

/// The validated `[all]` and `[plugin.<name>]` tables.
pub(super) type Validated = (Option<Rules>, Vec<(String, Rules)>);

pub(super) fn validate(source: &Source<'_>, label: &Arc<str>) -> Result<Validated, ManifestError> {
    let raw: RawPolicy = toml::from_str(source.text).map_err(|e| source.toml_error(e))?;
    let mut check = Checker {
        source,
        label,
        pattern_budget: PATTERNS_TOTAL_LIMIT,
    };
    let all = raw.all.map(|rules| check.rules(rules)).transpose()?;
    let mut plugins = Vec::with_capacity(raw.plugin.len());
    for (name, rules) in raw.plugin {
        if !crate::manifest::is_plugin_name(name.get_ref()) {
            return Err(source.error_at(
                &name,
                format!(
                    "'{}' is not a plugin name (1-64 lowercase letters, digits and dashes, as in [plugin] name)",
                    name.get_ref()
                ),
            ));
        }
        plugins.push((name.into_inner(), check.rules(rules)?));
    }
    Ok((all, plugins))
}

struct Checker<'a, 'b> {
    source: &'a Source<'b>,
    label: &'a Arc<str>,
    pattern_budget: usize,
}

impl Checker<'_, '_> {
    fn origin<T>(&self, spanned: &Spanned<T>) -> Origin {
        Origin {
            layer: self.label.clone(),
            line: self.source.line_of(spanned.span().start),
        }
    }

    fn rules(&mut self, raw: RawRules) -> Result<Rules, ManifestError> {
        let forbid_writes = raw
            .forbid_writes
            .filter(|f| *f.get_ref())
            .map(|f| self.origin(&f));
        let mut deny_cmdlets = Vec::with_capacity(raw.deny_cmdlets.len());
        for name in raw.deny_cmdlets {
            let glob = self.glob(&name)?;
            deny_cmdlets.push((glob, self.origin(&name)));
        }
        let limits = match raw.limits {
            None => LimitRules::default(),
            Some(l) => {
                if let Some(weight) = &l.weight
                    && *weight.get_ref() > MAX_WEIGHT
                {
                    return Err(self
                        .source
                        .error_at(weight, format!("[limits] weight is at most {MAX_WEIGHT}")));
                }
                LimitRules {
                    memory_mib: self.limit(l.memory_mib, "memory-mib")?,
                    timeout_seconds: self.limit(l.timeout_seconds, "timeout-seconds")?,
                    max_calls: self.limit(l.max_calls, "max-calls")?,
                    outputs_mib: self.limit(l.outputs_mib, "outputs-mib")?,
                    calls_per_second: self.limit(l.calls_per_second, "calls-per-second")?,
                    weight: self.limit(l.weight, "weight")?,
                }
            }
        };
        let mut cmdlets = Vec::with_capacity(raw.cmdlet.len());
        for c in raw.cmdlet {
            cmdlets.push(self.cmdlet(c)?);
        }
        let scope = match raw.scope {
            None => None,
            Some(text) => {
                let filter = crate::scope::Filter::parse(text.get_ref()).map_err(|e| {
                    self.source
                        .error_at(&text, format!("scope is not a scope filter: {e}"))
                })?;
                Some((filter, self.origin(&text)))
            }
        };
        Ok(Rules {
            forbid_writes,
            deny_cmdlets,
            limits,
            cmdlets,
            scope,
        })
    }

    fn glob(&self, name: &Spanned<String>) -> Result<CmdletGlob, ManifestError> {
        CmdletGlob::parse(name.get_ref()).map_err(|e| self.source.error_at(name, e))
    }

    fn limit(
        &self,
        value: Option<Spanned<u64>>,
        key: &str,
    ) -> Result<Option<(u64, Origin)>, ManifestError> {
        match value {
            Some(v) if *v.get_ref() == 0 => Err(self.source.error_at(
                &v,
                format!(
                    "[limits] {key} must be greater than 0 (to forbid a plugin, deny its cmdlets)"
                ),
            )),
            Some(v) => Ok(Some((*v.get_ref(), self.origin(&v)))),
            None => Ok(None),
        }
    }

    fn cmdlet(&mut self, raw: RawCmdlet) -> Result<CmdletPolicy, ManifestError> {
        let name = self.glob(&raw.name)?;
        let mut deny_parameters = Vec::with_capacity(raw.deny_parameters.len());
        for p in raw.deny_parameters {
            self.parameter_name(&p, p.get_ref())?;
            deny_parameters.push((p.get_ref().clone(), self.origin(&p)));
        }
        let mut parameters: Vec<ParamPolicy> = Vec::with_capacity(raw.parameters.len());
        for (param, spanned) in raw.parameters {
            self.parameter_name(&spanned, &param)?;
            if parameters
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&param))
            {
                return Err(self.source.error_at(
                    &spanned,
                    format!("parameter {param} is constrained twice in this [[cmdlet]] table (names ignore case)"),
                ));
            }
            let constraint = self.constraint(name.as_str(), &param, &spanned)?;
            parameters.push(ParamPolicy {
                origin: self.origin(&spanned),
                clear: spanned.get_ref().clear,
                name: param,
                constraint,
            });
        }
        Ok(CmdletPolicy {
            name,
            deny_parameters,
            parameters,
        })
    }

    fn parameter_name<T>(&self, at: &Spanned<T>, name: &str) -> Result<(), ManifestError> {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric());
        if valid {
            Ok(())
        } else {
            Err(self.source.error_at(
                at,
                format!("'{name}' is not a parameter name (letters and digits, without the leading dash)"),
            ))
        }
    }

    fn constraint(
        &mut self,
        cmdlet: &str,
        param: &str,
        spanned: &Spanned<RawParam>,
    ) -> Result<Constraint, ManifestError> {
        let raw = spanned.get_ref();
        match (&raw.set, &raw.pattern) {
            (Some(_), Some(_)) => Err(self.source.error_at(
                spanned,
                format!("{cmdlet} -{param} has both set and pattern; keep one"),
            )),
            (None, None) => Err(self.source.error_at(
                spanned,
                format!(
                    "{cmdlet} -{param} has neither set nor pattern; a policy only narrows, so give the values it may take (or list the parameter under deny-parameters)"
                ),
            )),
            (Some(set), None) if set.is_empty() => Err(self.source.error_at(
                spanned,
                format!("{cmdlet} -{param} has an empty set; to refuse the parameter, list it under deny-parameters"),
            )),
            (Some(set), None) => Ok(Constraint::Set(set.iter().map(|s| SetEntry::parse(s)).collect())),
            (None, Some(pattern)) => {
                let compiled = Pattern::compile(pattern.get_ref(), self.pattern_budget)
                    .map_err(|reason| {
                        self.source.error_at(
                            pattern,
                            format!("pattern for {cmdlet} -{param} is not a valid regular expression: {reason}"),
                        )
                    })?;
                self.pattern_budget -= compiled.memory();
                Ok(Constraint::Pattern(compiled))
            }
        }
    }
}
