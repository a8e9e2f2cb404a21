//! The policy gate: every cmdlet call a plugin makes is checked here before
//! it may leave the host.
//!
//! The gate decides on typed values, never on raw strings: `$null` is not
//! `"$null"`, and a hashtable edit is checked entry by entry. Names compare
//! case-insensitively, as PowerShell binds them. Anything not declared is
//! denied.

use exorun_cmdlet::{Call, Leaf, Value};

use crate::capabilities::{Capabilities, CmdletRule, Constraint, ParamRule, SetEntry};

/// Why a call was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenyReason {
    CmdletNotDeclared,
    ParameterNotDeclared,
    /// The same parameter was passed twice (perhaps in another case): the
    /// gate cannot know which one Exchange would bind, so it binds neither.
    DuplicateParameter,
    NotInSet,
    PatternMismatch,
    /// A hashtable with keys other than Add and Remove.
    BadHashtableKey,
}

impl DenyReason {
    fn id(&self) -> &'static str {
        match self {
            DenyReason::CmdletNotDeclared => "cmdlet-not-declared",
            DenyReason::ParameterNotDeclared => "parameter-not-declared",
            DenyReason::DuplicateParameter => "duplicate-parameter",
            DenyReason::NotInSet => "validate-set",
            DenyReason::PatternMismatch => "validate-pattern",
            DenyReason::BadHashtableKey => "hashtable-key",
        }
    }
}

/// A refusal: what was refused, by which rule, and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub reason: DenyReason,
    pub cmdlet: String,
    pub parameter: Option<String>,
    pub message: String,
}

impl Denial {
    /// A stable rule identifier such as `validate-set:Set-Mailbox/Type`,
    /// using the manifest's spelling of the names where it has one.
    pub fn rule(&self) -> String {
        match &self.parameter {
            Some(p) => format!("{}:{}/{}", self.reason.id(), self.cmdlet, p),
            None => format!("{}:{}", self.reason.id(), self.cmdlet),
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.rule())
    }
}

/// Decides one call. `Ok(())` means it may go to the tenant.
pub fn check(caps: &Capabilities, call: &Call) -> Result<(), Denial> {
    let Some(rule) = caps.cmdlet(&call.cmdlet) else {
        return Err(Denial {
            reason: DenyReason::CmdletNotDeclared,
            cmdlet: call.cmdlet.clone(),
            parameter: None,
            message: format!(
                "{} is not declared in the plugin's exorun.toml; add a [[cmdlet]] table for it to allow it",
                call.cmdlet
            ),
        });
    };
    for (index, (name, value)) in call.parameters.iter().enumerate() {
        if call.parameters[..index]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name))
        {
            return Err(Denial {
                reason: DenyReason::DuplicateParameter,
                cmdlet: rule.name.clone(),
                parameter: Some(name.clone()),
                message: format!("-{name} is passed more than once to {}", rule.name),
            });
        }
        let Some(param) = rule.parameter(name) else {
            return Err(Denial {
                reason: DenyReason::ParameterNotDeclared,
                cmdlet: rule.name.clone(),
                parameter: Some(name.clone()),
                message: format!(
                    "{} -{name} is not declared in the plugin's exorun.toml; list it under [cmdlet.parameters] to allow it",
                    rule.name
                ),
            });
        };
        check_value(rule, param, value)?;
    }
    Ok(())
}

fn check_value(rule: &CmdletRule, param: &ParamRule, value: &Value) -> Result<(), Denial> {
    if matches!(param.constraint, Constraint::Any) {
        return Ok(());
    }
    let deny = |reason: DenyReason, shown: &str| {
        let shown = if param.sensitive { "<redacted>" } else { shown };
        let message = match reason {
            DenyReason::BadHashtableKey => format!(
                "{} -{} takes a hashtable with Add and Remove keys only, not '{shown}'",
                rule.name, param.name
            ),
            _ => format!(
                "{} -{} {shown} is not allowed: the manifest allows {}",
                rule.name, param.name, param.constraint
            ),
        };
        Denial {
            reason,
            cmdlet: rule.name.clone(),
            parameter: Some(param.name.clone()),
            message,
        }
    };
    match value {
        Value::Null => check_scalar(&param.constraint, Scalar::Null).map_err(|r| deny(r, "$null")),
        Value::Bool(b) => {
            check_scalar(&param.constraint, Scalar::Bool(*b)).map_err(|r| deny(r, bool_text(*b)))
        }
        Value::Int(i) => {
            let text = i.to_string();
            check_scalar(&param.constraint, Scalar::Text(&text))
                .map_err(|r| deny(r, &quoted(&text)))
        }
        Value::Text(s) => {
            check_scalar(&param.constraint, Scalar::Text(s)).map_err(|r| deny(r, &quoted(s)))
        }
        Value::Texts(items) => check_texts(&param.constraint, items).map_err(|(r, s)| deny(r, &s)),
        Value::Table(entries) => {
            for (key, leaf) in entries {
                if !key.eq_ignore_ascii_case("add") && !key.eq_ignore_ascii_case("remove") {
                    return Err(deny(DenyReason::BadHashtableKey, key));
                }
                let result = match leaf {
                    Leaf::Null => check_scalar(&param.constraint, Scalar::Null)
                        .map_err(|r| (r, "$null".to_owned())),
                    Leaf::Bool(b) => check_scalar(&param.constraint, Scalar::Bool(*b))
                        .map_err(|r| (r, bool_text(*b).to_owned())),
                    Leaf::Int(i) => {
                        let text = i.to_string();
                        check_scalar(&param.constraint, Scalar::Text(&text))
                            .map_err(|r| (r, quoted(&text)))
                    }
                    Leaf::Text(s) => {
                        check_scalar(&param.constraint, Scalar::Text(s)).map_err(|r| (r, quoted(s)))
                    }
                    Leaf::Texts(items) => check_texts(&param.constraint, items),
                };
                result.map_err(|(r, s)| deny(r, &format!("@{{{key}={s}}}")))?;
            }
            Ok(())
        }
    }
}

fn check_texts(constraint: &Constraint, items: &[String]) -> Result<(), (DenyReason, String)> {
    for item in items {
        check_scalar(constraint, Scalar::Text(item)).map_err(|r| (r, quoted(item)))?;
    }
    Ok(())
}

enum Scalar<'a> {
    Null,
    Bool(bool),
    Text(&'a str),
}

fn check_scalar(constraint: &Constraint, value: Scalar<'_>) -> Result<(), DenyReason> {
    match constraint {
        Constraint::Any => Ok(()),
        Constraint::Set(entries) => {
            let found = entries.iter().any(|entry| match (entry, &value) {
                (SetEntry::Null, Scalar::Null) => true,
                (SetEntry::Bool(a), Scalar::Bool(b)) => a == b,
                (SetEntry::Text { folded, .. }, Scalar::Text(text)) => eq_fold(folded, text),
                _ => false,
            });
            if found {
                Ok(())
            } else {
                Err(DenyReason::NotInSet)
            }
        }
        // A pattern speaks about text: $null and booleans never match one,
        // so a pattern cannot be bypassed by clearing a value.
        Constraint::Pattern(pattern) => match value {
            Scalar::Text(text) if pattern.is_full_match(text) => Ok(()),
            _ => Err(DenyReason::PatternMismatch),
        },
    }
}

/// Case-insensitive equality against an already-lowercased entry, without
/// allocating in the common ASCII case.
fn eq_fold(folded: &str, text: &str) -> bool {
    if text.is_ascii() {
        folded.len() == text.len()
            && folded
                .bytes()
                .zip(text.bytes())
                .all(|(a, b)| a == b.to_ascii_lowercase())
    } else {
        folded == text.to_lowercase()
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "$true" } else { "$false" }
}

fn quoted(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("'{cut}…'")
    } else {
        format!("'{s}'")
    }
}
