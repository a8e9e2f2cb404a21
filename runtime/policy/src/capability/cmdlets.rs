//! `[[cmdlet]]`: which cmdlets a plugin may call, which of their
//! parameters, and which values (JEA's `VisibleCmdlets` with
//! `ValidateSet` and `ValidatePattern`). The grant is [`Capabilities`];
//! [`crate::gate::check`] enforces it on every call.

use std::sync::{Arc, LazyLock};

use exorun_cmdlet::Escaped;
use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{Capability, Change, Grant, Grants, Section, Source};
use crate::capabilities::{
    Capabilities, CmdletRefusal, CmdletRule, Constraint, NO_CMDLETS, ParamRule, Pattern,
    PolicyConstraint, RefusedBecause, SetEntry,
};
use crate::operator::{Narrowing, Rules};
use crate::pattern::PATTERNS_TOTAL_LIMIT;
use crate::source::ManifestError;

static VERB_NOUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z]+-[A-Za-z][A-Za-z0-9]*$").expect("static regex"));
static PARAMETER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9]*$").expect("static regex"));

/// The cmdlet allow-list and its gate.
pub struct CmdletsCapability;

impl Capability for CmdletsCapability {
    fn name(&self) -> &'static str {
        "cmdlets"
    }

    fn keys(&self) -> &'static [&'static str] {
        &["cmdlet"]
    }

    /// Always a grant: a manifest without `[[cmdlet]]` may call nothing.
    fn parse(&self, source: &Source<'_>) -> Result<Option<Arc<dyn Grant>>, ManifestError> {
        let raw: Vec<Spanned<RawCmdlet>> = source.key("cmdlet")?.unwrap_or_default();
        Ok(Some(Arc::new(validate_cmdlets(source, raw)?)))
    }

    /// Refuses cmdlets (`deny-cmdlets`, `forbid-writes`) and parameters
    /// (`deny-parameters`), and adds value constraints; a rule about a
    /// cmdlet or parameter the manifest does not declare changes nothing,
    /// since the manifest already refuses it.
    fn narrow(
        &self,
        grants: &Grants,
        rules: &[&Rules],
        notes: &mut Vec<Narrowing>,
    ) -> Option<Arc<dyn Grant>> {
        if rules.is_empty() {
            return None;
        }
        let mut capabilities = grants.get::<Capabilities>().unwrap_or(&NO_CMDLETS).clone();
        for rules in rules {
            for cmdlet in &mut capabilities.cmdlets {
                narrow_cmdlet(cmdlet, rules, notes);
            }
        }
        Some(Arc::new(capabilities))
    }

    fn compare(&self, old: &Grants, new: &Grants) -> Vec<Change> {
        compare_cmdlets(
            old.get::<Capabilities>().unwrap_or(&NO_CMDLETS),
            new.get::<Capabilities>().unwrap_or(&NO_CMDLETS),
        )
    }

    fn describe(&self, grants: &Grants) -> Section {
        let capabilities = grants.get::<Capabilities>().unwrap_or(&NO_CMDLETS);
        let mut text = vec![
            format!(
                "Access     {}",
                if capabilities.is_read_only() {
                    "read-only (Get-/Test-/Search- cmdlets only)"
                } else {
                    "READ AND WRITE"
                }
            ),
            String::new(),
            "Cmdlets (anything not listed is denied)".to_owned(),
        ];
        if capabilities.cmdlets().is_empty() {
            text.push("  (none: this plugin cannot call any cmdlet)".to_owned());
        }
        for c in capabilities.cmdlets() {
            let refused = match &c.refused {
                Some(refusal) => format!("  REFUSED by the policy ({})", refusal.origin),
                None => String::new(),
            };
            text.push(format!(
                "  {:<40} {}{refused}",
                c.name,
                if c.read_only { "read" } else { "WRITE" }
            ));
            if c.refused.is_some() {
                continue;
            }
            if c.parameters.is_empty() {
                text.push("    (no parameters)".to_owned());
            }
            for p in &c.parameters {
                if let Some(origin) = &p.refused {
                    text.push(format!(
                        "    -{:<37} REFUSED by the policy ({origin})",
                        p.name
                    ));
                    continue;
                }
                let sensitive = if p.sensitive { "  [sensitive]" } else { "" };
                let clear = if p.clear && p.narrowed.iter().all(|n| n.clear) {
                    "  [may clear: $null, @(), @{}]"
                } else {
                    ""
                };
                text.push(format!(
                    "    -{:<37} {}{sensitive}{clear}",
                    p.name,
                    Escaped(&effective_constraint(p))
                ));
                for n in &p.narrowed {
                    text.push(format!(
                        "    {:<38} narrowed by the policy ({}): {}",
                        "",
                        n.origin,
                        Escaped(&n.constraint.to_string())
                    ));
                }
            }
        }
        let cmdlets: Vec<_> = capabilities
            .cmdlets()
            .iter()
            .map(|c| {
                let mut cmdlet = json!({
                    "name": c.name,
                    "readOnly": c.read_only,
                    "parameters": c.parameters.iter().map(|p| {
                        let mut param = json!({
                            "name": p.name,
                            "constraint": constraint_json(&p.constraint),
                            "sensitive": p.sensitive,
                            "clear": p.clear,
                        });
                        // Only a narrowed manifest has these, so the
                        // permissions digest of a manifest is unchanged.
                        if let Some(origin) = &p.refused {
                            param["refusedBy"] = json!(origin.to_string());
                        }
                        if !p.narrowed.is_empty() {
                            param["policy"] = p.narrowed.iter().map(|n| json!({
                                "constraint": constraint_json(&n.constraint),
                                "clear": n.clear,
                                "origin": n.origin.to_string(),
                            })).collect();
                        }
                        param
                    }).collect::<Vec<_>>(),
                });
                if let Some(refusal) = &c.refused {
                    cmdlet["refusedBy"] = json!(refusal.origin.to_string());
                }
                cmdlet
            })
            .collect();
        Section {
            text,
            json: vec![
                ("readOnly", json!(capabilities.is_read_only())),
                ("cmdlets", json!(cmdlets)),
            ],
        }
    }
}

/// Applies one rule set of the policy to one declared cmdlet.
fn narrow_cmdlet(cmdlet: &mut CmdletRule, rules: &Rules, notes: &mut Vec<Narrowing>) {
    let mut note = |text: String, origin: &crate::Origin| {
        notes.push(Narrowing {
            capability: "cmdlets",
            key: None,
            text,
            origin: origin.clone(),
        })
    };
    if cmdlet.refused.is_none() {
        let denied = rules
            .deny_cmdlets
            .iter()
            .find(|(glob, _)| glob.matches(&cmdlet.name));
        let because = match (denied, &rules.forbid_writes) {
            (Some((glob, origin)), _) => {
                Some((RefusedBecause::Denied(glob.as_str().to_owned()), origin))
            }
            (None, Some(origin)) if !cmdlet.read_only => {
                Some((RefusedBecause::WritesForbidden, origin))
            }
            _ => None,
        };
        if let Some((because, origin)) = because {
            let why = match &because {
                RefusedBecause::Denied(glob) => format!("deny-cmdlets '{glob}'"),
                RefusedBecause::WritesForbidden => "forbid-writes".to_owned(),
            };
            note(format!("{} refused ({why})", cmdlet.name), origin);
            cmdlet.refused = Some(CmdletRefusal {
                because,
                origin: origin.clone(),
            });
        }
    }
    let cmdlet_name = cmdlet.name.clone();
    for policy in rules
        .cmdlets
        .iter()
        .filter(|p| p.name.matches(&cmdlet_name))
    {
        for (name, origin) in &policy.deny_parameters {
            if let Some(param) = cmdlet.parameter_mut(name)
                && param.refused.is_none()
            {
                note(format!("{cmdlet_name} -{} refused", param.name), origin);
                param.refused = Some(origin.clone());
            }
        }
        for rule in &policy.parameters {
            if let Some(param) = cmdlet.parameter_mut(&rule.name) {
                note(
                    format!(
                        "{cmdlet_name} -{} also limited to {}",
                        param.name,
                        Escaped(&rule.constraint.to_string())
                    ),
                    &rule.origin,
                );
                param.narrowed.push(PolicyConstraint {
                    constraint: rule.constraint.clone(),
                    clear: rule.clear,
                    origin: rule.origin.clone(),
                });
            }
        }
    }
}

/// The values a parameter may take under the manifest and every policy
/// constraint, for `exorun inspect --effective`: where sets are involved
/// the set that is left; otherwise the constraints joined with "and".
fn effective_constraint(param: &ParamRule) -> String {
    if param.narrowed.is_empty() {
        return param.constraint.to_string();
    }
    let all: Vec<&Constraint> = std::iter::once(&param.constraint)
        .chain(param.narrowed.iter().map(|n| &n.constraint))
        .collect();
    let Some(Constraint::Set(first)) = all.iter().find(|c| matches!(c, Constraint::Set(_))) else {
        let shown: Vec<String> = all
            .iter()
            .filter(|c| !matches!(c, Constraint::Any))
            .map(|c| c.to_string())
            .collect();
        return shown.join(" and ");
    };
    let left: Vec<SetEntry> = first
        .iter()
        .filter(|entry| all.iter().all(|c| admits(c, entry)))
        .cloned()
        .collect();
    if left.is_empty() {
        "no value (the policy leaves none of the manifest's)".to_owned()
    } else {
        Constraint::Set(left).to_string()
    }
}

/// Whether a constraint lets a set entry through, as the gate decides.
fn admits(constraint: &Constraint, entry: &SetEntry) -> bool {
    match constraint {
        Constraint::Any => true,
        Constraint::Set(entries) => entries.iter().any(|e| same_entry(e, entry)),
        Constraint::Pattern(pattern) => match entry {
            SetEntry::Text(text) => pattern.is_full_match(text),
            SetEntry::Null | SetEntry::Bool(_) => false,
        },
    }
}

/// The permission diff of `[[cmdlet]]`, cmdlet by cmdlet and parameter by
/// parameter.
fn compare_cmdlets(old: &Capabilities, new: &Capabilities) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.is_read_only() && !new.is_read_only() {
        changes.push(Change::widens("access: read-only → READ AND WRITE"));
    } else if !old.is_read_only() && new.is_read_only() {
        changes.push(Change::narrows("access: read and write → read-only"));
    }
    for cmdlet in new.cmdlets() {
        let Some(before) = old.cmdlet(&cmdlet.name) else {
            let access = if cmdlet.read_only { "read" } else { "WRITE" };
            let parameters: Vec<String> = cmdlet
                .parameters
                .iter()
                .map(|p| format!("-{} ({})", p.name, Escaped(&p.constraint.to_string())))
                .collect();
            let parameters = if parameters.is_empty() {
                "no parameters".to_owned()
            } else {
                parameters.join(", ")
            };
            changes.push(Change::widens(format!(
                "new cmdlet {} ({access}): {parameters}",
                cmdlet.name
            )));
            continue;
        };
        for param in &cmdlet.parameters {
            match before.parameter(&param.name) {
                None => changes.push(Change::widens(format!(
                    "new parameter {} -{}: {}",
                    cmdlet.name,
                    param.name,
                    Escaped(&param.constraint.to_string())
                ))),
                Some(was) => compare_param(&cmdlet.name, was, param, &mut changes),
            }
        }
        for param in &before.parameters {
            if cmdlet.parameter(&param.name).is_none() {
                changes.push(Change::narrows(format!(
                    "parameter removed: {} -{}",
                    cmdlet.name, param.name
                )));
            }
        }
    }
    for cmdlet in old.cmdlets() {
        if new.cmdlet(&cmdlet.name).is_none() {
            changes.push(Change::narrows(format!("cmdlet removed: {}", cmdlet.name)));
        }
    }
    changes
}

fn compare_param(cmdlet: &str, old: &ParamRule, new: &ParamRule, changes: &mut Vec<Change>) {
    let what = format!("{cmdlet} -{}", new.name);
    let shown = |c: &Constraint| Escaped(&c.to_string()).to_string();
    match (&old.constraint, &new.constraint) {
        (Constraint::Any, Constraint::Any) => {}
        (Constraint::Any, constrained) => changes.push(Change::narrows(format!(
            "{what}: any value → {}",
            shown(constrained)
        ))),
        (constrained, Constraint::Any) => changes.push(Change::widens(format!(
            "{what}: {} → ANY VALUE",
            shown(constrained)
        ))),
        (Constraint::Set(before), Constraint::Set(after)) => {
            let added: Vec<&str> = after
                .iter()
                .filter(|e| !before.iter().any(|b| same_entry(b, e)))
                .map(SetEntry::display)
                .collect();
            let removed: Vec<&str> = before
                .iter()
                .filter(|e| !after.iter().any(|a| same_entry(a, e)))
                .map(SetEntry::display)
                .collect();
            if !added.is_empty() {
                changes.push(Change::widens(format!(
                    "{what}: set widened, adds [{}]",
                    Escaped(&added.join(", "))
                )));
            }
            if !removed.is_empty() {
                changes.push(Change::narrows(format!(
                    "{what}: set narrowed, drops [{}]",
                    Escaped(&removed.join(", "))
                )));
            }
        }
        (Constraint::Pattern(before), Constraint::Pattern(after)) => {
            if before.source != after.source {
                // Whether one regular language contains another is not
                // something to guess at: a changed pattern is a widening.
                changes.push(Change::widens(format!(
                    "{what}: pattern changed {} → {}",
                    shown(&old.constraint),
                    shown(&new.constraint)
                )));
            }
        }
        (Constraint::Pattern(pattern), Constraint::Set(entries)) => {
            // A set narrows a pattern when the pattern allowed every entry.
            let inside = entries.iter().all(|e| match e {
                SetEntry::Text(text) => pattern.is_full_match(text),
                SetEntry::Null | SetEntry::Bool(_) => false,
            });
            let text = format!(
                "{what}: {} → {}",
                shown(&old.constraint),
                shown(&new.constraint)
            );
            changes.push(if inside {
                Change::narrows(text)
            } else {
                Change::widens(text)
            });
        }
        (Constraint::Set(_), Constraint::Pattern(_)) => changes.push(Change::widens(format!(
            "{what}: {} → {}",
            shown(&old.constraint),
            shown(&new.constraint)
        ))),
    }
    if old.sensitive && !new.sensitive {
        changes.push(Change::widens(format!(
            "{what}: no longer sensitive (values appear in logs and the audit trail)"
        )));
    } else if !old.sensitive && new.sensitive {
        changes.push(Change::narrows(format!(
            "{what}: now sensitive (values redacted)"
        )));
    }
    if !old.clear && new.clear {
        changes.push(Change::widens(format!(
            "{what}: may now clear the property ($null, @(), @{{}})"
        )));
    } else if old.clear && !new.clear {
        changes.push(Change::narrows(format!(
            "{what}: may no longer clear the property"
        )));
    }
}

/// Set entries compare as the gate compares values: `OrdinalIgnoreCase`.
fn same_entry(a: &SetEntry, b: &SetEntry) -> bool {
    match (a, b) {
        (SetEntry::Text(a), SetEntry::Text(b)) => crate::ordinal::eq_ignore_case(a, b),
        (a, b) => a == b,
    }
}

fn constraint_json(c: &Constraint) -> serde_json::Value {
    match c {
        Constraint::Any => json!({"any": true}),
        Constraint::Set(entries) => {
            json!({"set": entries.iter().map(|e| e.display().to_owned()).collect::<Vec<_>>()})
        }
        Constraint::Pattern(p) => json!({"pattern": p.source}),
    }
}

/// One `[[cmdlet]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCmdlet {
    name: Spanned<String>,
    #[serde(default)]
    parameters: IndexMap<String, Spanned<RawParam>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    set: Option<Vec<String>>,
    pattern: Option<Spanned<String>>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    clear: bool,
}

fn validate_cmdlets(
    loc: &Source<'_>,
    raw: Vec<Spanned<RawCmdlet>>,
) -> Result<Capabilities, ManifestError> {
    let mut cmdlets: Vec<CmdletRule> = Vec::with_capacity(raw.len());
    // What all patterns of this manifest may still take.
    let mut pattern_budget = PATTERNS_TOTAL_LIMIT;
    for spanned in raw {
        let cmdlet = spanned.into_inner();
        let name = cmdlet.name.get_ref();
        if !VERB_NOUN.is_match(name) {
            return Err(loc.error_at(
                &cmdlet.name,
                format!("'{name}' is not a cmdlet name of the form Verb-Noun (like Get-Mailbox)"),
            ));
        }
        if cmdlets.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
            return Err(loc.error_at(
                &cmdlet.name,
                format!(
                    "cmdlet {name} is declared twice; merge its [[cmdlet]] tables into one (exorun never merges grants)"
                ),
            ));
        }
        let mut parameters: Vec<ParamRule> = Vec::with_capacity(cmdlet.parameters.len());
        for (param_name, param) in cmdlet.parameters {
            if !PARAMETER_NAME.is_match(&param_name) {
                return Err(loc.error_at(
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
                return Err(loc.error_at(
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
            refused: None,
        });
    }
    Ok(Capabilities { cmdlets })
}

fn validate_param(
    loc: &Source<'_>,
    cmdlet: &str,
    name: String,
    spanned: Spanned<RawParam>,
    pattern_budget: &mut usize,
) -> Result<ParamRule, ManifestError> {
    let span_error = |message: String| loc.error_at(&spanned, message);
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
                loc.error_at(
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
        refused: None,
        narrowed: Vec::new(),
    })
}
