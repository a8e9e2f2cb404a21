//! The policy gate: every cmdlet call a plugin makes is checked here before
//! it may leave the host.
//!
//! The gate decides on typed values, never on raw strings: `$null` is not
//! `"$null"`, and a hashtable edit is checked entry by entry. Names compare
//! case-insensitively, as PowerShell binds them. Anything not declared is
//! denied.
//!
//! Two layers decide, in this order: the plugin's manifest, then the
//! operator policy it was narrowed by ([`crate::Manifest::narrowed`]). A
//! denial names the layer ([`Layer`]) and, for the policy, the file and
//! line of the rule that refused.

use exorun_cmdlet::{Call, Leaf, Value};

use crate::capabilities::{Capabilities, Constraint, RefusedBecause, SetEntry};
use crate::operator::Origin;
use crate::ordinal;

/// The most bytes one call's parameters (names and values) may take,
/// measured at the boundary before anything else: Exchange's own request
/// limit is about 1 MiB, and nothing larger can be a real call.
pub const MAX_CALL_BYTES: usize = 1 << 20;

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
    /// A hashtable with Add (or Remove) twice, perhaps in another case.
    DuplicateKey,
    /// `@()`, `@{}`, `@{Add=$null}` or `@{Add=@()}` on a constrained
    /// parameter that the manifest does not let the plugin clear.
    EmptyValue,
    /// The call's parameters are larger than [`MAX_CALL_BYTES`].
    TooLarge,
    /// A NUL character in a constrained value: never part of a real value,
    /// and a classic way to make a checked string read shorter downstream.
    NulCharacter,
    /// The operator policy's `deny-cmdlets` names the cmdlet.
    CmdletDenied,
    /// The operator policy forbids writes, and the cmdlet writes.
    WritesForbidden,
    /// The operator policy's `deny-parameters` names the parameter.
    ParameterDenied,
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
            DenyReason::DuplicateKey => "duplicate-key",
            DenyReason::EmptyValue => "empty-value",
            DenyReason::TooLarge => "call-too-large",
            DenyReason::NulCharacter => "nul-character",
            DenyReason::CmdletDenied => "cmdlet-denied",
            DenyReason::WritesForbidden => "writes-forbidden",
            DenyReason::ParameterDenied => "parameter-denied",
        }
    }
}

/// Which layer refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The plugin's own manifest (or the host's limits on any call).
    Manifest,
    /// The operator policy, at this rule.
    Policy(Origin),
}

/// A refusal: what was refused, by which layer and rule, and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub reason: DenyReason,
    pub layer: Layer,
    pub cmdlet: String,
    pub parameter: Option<String>,
    pub message: String,
}

impl Denial {
    /// A stable rule identifier such as `validate-set:Set-Mailbox/Type`,
    /// using the manifest's spelling of the names where it has one; a
    /// policy's refusal starts with `policy:`
    /// (`policy:validate-set:Set-Mailbox/Type`).
    pub fn rule(&self) -> String {
        let layer = match self.layer {
            Layer::Manifest => "",
            Layer::Policy(_) => "policy:",
        };
        match &self.parameter {
            Some(p) => format!("{layer}{}:{}/{}", self.reason.id(), self.cmdlet, p),
            None => format!("{layer}{}:{}", self.reason.id(), self.cmdlet),
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
    let size = call_bytes(call);
    if size > MAX_CALL_BYTES {
        return Err(Denial {
            layer: Layer::Manifest,
            reason: DenyReason::TooLarge,
            cmdlet: call.cmdlet.clone(),
            parameter: None,
            message: format!(
                "the call's parameters take {size} bytes, more than the {MAX_CALL_BYTES} one call may send"
            ),
        });
    }
    let Some(rule) = caps.cmdlet(&call.cmdlet) else {
        return Err(Denial {
            layer: Layer::Manifest,
            reason: DenyReason::CmdletNotDeclared,
            cmdlet: call.cmdlet.clone(),
            parameter: None,
            message: format!(
                "{} is not declared in the plugin's exorun.toml; add a [[cmdlet]] table for it to allow it",
                call.cmdlet
            ),
        });
    };
    if let Some(refusal) = &rule.refused {
        let (reason, why) = match &refusal.because {
            RefusedBecause::Denied(glob) => (
                DenyReason::CmdletDenied,
                format!("its deny-cmdlets lists '{glob}'"),
            ),
            RefusedBecause::WritesForbidden => (
                DenyReason::WritesForbidden,
                "it forbids writes and this cmdlet is not read-only".to_owned(),
            ),
        };
        return Err(Denial {
            reason,
            cmdlet: rule.name.clone(),
            parameter: None,
            message: format!(
                "{} is refused by the operator policy ({}): {why}",
                rule.name, refusal.origin
            ),
            layer: Layer::Policy(refusal.origin.clone()),
        });
    }
    for (index, (name, value)) in call.parameters.iter().enumerate() {
        if call.parameters[..index]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name))
        {
            return Err(Denial {
                layer: Layer::Manifest,
                reason: DenyReason::DuplicateParameter,
                cmdlet: rule.name.clone(),
                parameter: Some(name.clone()),
                message: format!("-{name} is passed more than once to {}", rule.name),
            });
        }
        let Some(param) = rule.parameter(name) else {
            return Err(Denial {
                layer: Layer::Manifest,
                reason: DenyReason::ParameterNotDeclared,
                cmdlet: rule.name.clone(),
                parameter: Some(name.clone()),
                message: format!(
                    "{} -{name} is not declared in the plugin's exorun.toml; list it under [cmdlet.parameters] to allow it",
                    rule.name
                ),
            });
        };
        let manifest = ValueCheck {
            cmdlet: &rule.name,
            parameter: &param.name,
            constraint: &param.constraint,
            clear: param.clear,
            sensitive: param.sensitive,
            layer: Layer::Manifest,
        };
        check_value(&manifest, value)?;
        if let Some(origin) = &param.refused {
            return Err(Denial {
                reason: DenyReason::ParameterDenied,
                cmdlet: rule.name.clone(),
                parameter: Some(param.name.clone()),
                message: format!(
                    "{} -{} is refused by the operator policy ({}): its deny-parameters lists it",
                    rule.name, param.name, origin
                ),
                layer: Layer::Policy(origin.clone()),
            });
        }
        for narrowed in &param.narrowed {
            let policy = ValueCheck {
                cmdlet: &rule.name,
                parameter: &param.name,
                constraint: &narrowed.constraint,
                clear: narrowed.clear,
                sensitive: param.sensitive,
                layer: Layer::Policy(narrowed.origin.clone()),
            };
            check_value(&policy, value)?;
        }
    }
    Ok(())
}

/// One layer's constraint on one parameter.
struct ValueCheck<'a> {
    cmdlet: &'a str,
    parameter: &'a str,
    constraint: &'a Constraint,
    clear: bool,
    sensitive: bool,
    layer: Layer,
}

fn check_value(check: &ValueCheck<'_>, value: &Value) -> Result<(), Denial> {
    if matches!(check.constraint, Constraint::Any) {
        return Ok(());
    }
    let (cmdlet, parameter, constraint) = (check.cmdlet, check.parameter, check.constraint);
    let deny = |reason: DenyReason, shown: &str| {
        let shown = if check.sensitive { "<redacted>" } else { shown };
        let (who, fix) = match &check.layer {
            Layer::Manifest => (
                "the manifest".to_owned(),
                "add clear = true to allow clearing",
            ),
            Layer::Policy(origin) => (
                format!("the operator policy ({origin})"),
                "the policy's rule must say clear = true to allow clearing",
            ),
        };
        let message = match reason {
            DenyReason::BadHashtableKey => format!(
                "{cmdlet} -{parameter} takes a hashtable with Add and Remove keys only, not '{shown}'"
            ),
            DenyReason::DuplicateKey => format!(
                "{cmdlet} -{parameter} has the key '{shown}' more than once (keys ignore case)"
            ),
            DenyReason::EmptyValue => format!(
                "{cmdlet} -{parameter} {shown} would clear the property without a value to check; {who} allows {constraint} ({fix})"
            ),
            _ => format!("{cmdlet} -{parameter} {shown} is not allowed: {who} allows {constraint}"),
        };
        Denial {
            reason,
            layer: check.layer.clone(),
            cmdlet: cmdlet.to_owned(),
            parameter: Some(parameter.to_owned()),
            message,
        }
    };
    let cleared = |shown: &str| {
        if check.clear {
            Ok(())
        } else {
            Err(deny(DenyReason::EmptyValue, shown))
        }
    };
    match value {
        Value::Null if check.clear => Ok(()),
        Value::Null => check_scalar(constraint, Scalar::Null).map_err(|r| deny(r, "$null")),
        Value::Bool(b) => {
            check_scalar(constraint, Scalar::Bool(*b)).map_err(|r| deny(r, bool_text(*b)))
        }
        Value::Int(i) => {
            let text = i.to_string();
            check_scalar(constraint, Scalar::Text(&text)).map_err(|r| deny(r, &quoted(&text)))
        }
        Value::Text(s) => {
            check_scalar(constraint, Scalar::Text(s)).map_err(|r| deny(r, &quoted(s)))
        }
        Value::Texts(items) if items.is_empty() => cleared("@()"),
        Value::Texts(items) => check_texts(constraint, items).map_err(|(r, s)| deny(r, &s)),
        Value::Table(entries) if entries.is_empty() => cleared("@{}"),
        Value::Table(entries) => {
            for (index, (key, leaf)) in entries.iter().enumerate() {
                if !key.eq_ignore_ascii_case("add") && !key.eq_ignore_ascii_case("remove") {
                    return Err(deny(DenyReason::BadHashtableKey, key));
                }
                if entries[..index]
                    .iter()
                    .any(|(earlier, _)| earlier.eq_ignore_ascii_case(key))
                {
                    return Err(deny(DenyReason::DuplicateKey, key));
                }
                let result = match leaf {
                    // Adding or removing nothing: a value that checks
                    // nothing, so it passes only where clearing may.
                    Leaf::Null => {
                        cleared(&format!("@{{{key}=$null}}"))?;
                        continue;
                    }
                    Leaf::Texts(items) if items.is_empty() => {
                        cleared(&format!("@{{{key}=@()}}"))?;
                        continue;
                    }
                    Leaf::Bool(b) => check_scalar(constraint, Scalar::Bool(*b))
                        .map_err(|r| (r, bool_text(*b).to_owned())),
                    Leaf::Int(i) => {
                        let text = i.to_string();
                        check_scalar(constraint, Scalar::Text(&text))
                            .map_err(|r| (r, quoted(&text)))
                    }
                    Leaf::Text(s) => {
                        check_scalar(constraint, Scalar::Text(s)).map_err(|r| (r, quoted(s)))
                    }
                    Leaf::Texts(items) => check_texts(constraint, items),
                };
                result.map_err(|(r, s)| deny(r, &format!("@{{{key}={s}}}")))?;
            }
            Ok(())
        }
    }
}

/// The bytes a call's parameters take: names, text and a few bytes per
/// scalar. An approximation of the request body that never undercounts
/// the plugin-controlled text.
pub fn call_bytes(call: &Call) -> usize {
    let texts = |items: &[String]| items.iter().map(|s| s.len() + 2).sum::<usize>();
    let leaf = |leaf: &Leaf| match leaf {
        Leaf::Text(s) => s.len(),
        Leaf::Texts(items) => texts(items),
        _ => 8,
    };
    call.cmdlet.len()
        + call
            .parameters
            .iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        Value::Text(s) => s.len(),
                        Value::Texts(items) => texts(items),
                        Value::Table(entries) => {
                            entries.iter().map(|(k, l)| k.len() + leaf(l)).sum()
                        }
                        _ => 8,
                    }
            })
            .sum::<usize>()
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
    if let Scalar::Text(text) = value
        && !matches!(constraint, Constraint::Any)
        && text.contains('\0')
    {
        return Err(DenyReason::NulCharacter);
    }
    match constraint {
        Constraint::Any => Ok(()),
        Constraint::Set(entries) => {
            let found = entries.iter().any(|entry| match (entry, &value) {
                (SetEntry::Null, Scalar::Null) => true,
                (SetEntry::Bool(a), Scalar::Bool(b)) => a == b,
                (SetEntry::Text(entry), Scalar::Text(text)) => ordinal::eq_ignore_case(entry, text),
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
