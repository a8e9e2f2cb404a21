//! The validated allow-list a manifest grants: which cmdlets, which of their
//! parameters, and which values.

use crate::operator::Origin;
pub use crate::pattern::Pattern;

/// Everything one plugin may call. Built only by [`crate::Manifest`], so a
/// value of this type has already passed validation.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    pub(crate) cmdlets: Vec<CmdletRule>,
}

impl Capabilities {
    /// The rule for a cmdlet, matched case-insensitively as PowerShell does.
    ///
    /// A linear scan: manifests declare a handful of cmdlets, and comparing
    /// in place avoids allocating a lowercase copy on every call.
    pub fn cmdlet(&self, name: &str) -> Option<&CmdletRule> {
        self.cmdlets
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn cmdlets(&self) -> &[CmdletRule] {
        &self.cmdlets
    }

    /// True when every cmdlet the plugin may still call only reads: a
    /// write cmdlet the operator policy refuses does not count.
    pub fn is_read_only(&self) -> bool {
        self.cmdlets
            .iter()
            .all(|c| c.read_only || c.refused.is_some())
    }
}

/// The grant of a manifest without `[[cmdlet]]`: no cmdlet at all.
pub(crate) static NO_CMDLETS: Capabilities = Capabilities {
    cmdlets: Vec::new(),
};

/// One `[[cmdlet]]` table.
#[derive(Clone, Debug)]
pub struct CmdletRule {
    /// The name as the manifest spells it (used in messages).
    pub name: String,
    /// `Get-`, `Test-` and `Search-` cmdlets only read; the what-if planner
    /// and the audit trail rely on this.
    pub read_only: bool,
    pub parameters: Vec<ParamRule>,
    /// Set when the operator policy refuses the whole cmdlet: the manifest
    /// declares it, but no call of it passes.
    pub refused: Option<CmdletRefusal>,
}

/// Why the operator policy refuses a cmdlet the manifest declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdletRefusal {
    /// `deny-cmdlets` matched, or `forbid-writes` and the cmdlet writes.
    pub because: RefusedBecause,
    pub origin: Origin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusedBecause {
    /// `deny-cmdlets` names it (the entry as written, perhaps a wildcard).
    Denied(String),
    /// `forbid-writes = true`, and the cmdlet is not read-only.
    WritesForbidden,
}
impl CmdletRule {
    pub fn parameter(&self, name: &str) -> Option<&ParamRule> {
        self.parameters
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub(crate) fn parameter_mut(&mut self, name: &str) -> Option<&mut ParamRule> {
        self.parameters
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// One allowed parameter and the values it may take.
#[derive(Clone, Debug)]
pub struct ParamRule {
    pub name: String,
    pub constraint: Constraint,
    /// Values are redacted in logs and audit records.
    pub sensitive: bool,
    /// `clear = true`: the parameter may also be cleared, with `$null`, an
    /// empty list `@()` or an empty edit `@{}`, whatever its constraint.
    /// Without it an empty collection passes no constrained parameter: it
    /// holds no value to check, yet on a multi-valued property it clears.
    pub clear: bool,
    /// Set when the operator policy refuses the parameter
    /// (`deny-parameters`).
    pub refused: Option<Origin>,
    /// Constraints the operator policy adds: a value must pass the
    /// manifest's constraint and every one of these.
    pub narrowed: Vec<PolicyConstraint>,
}

/// One value constraint the operator policy adds to a parameter.
#[derive(Clone, Debug)]
pub struct PolicyConstraint {
    /// A set or a pattern, never [`Constraint::Any`].
    pub constraint: Constraint,
    /// Whether the policy lets the parameter be cleared (only where the
    /// manifest does too).
    pub clear: bool,
    pub origin: Origin,
}

/// How a parameter's value is constrained.
#[derive(Clone, Debug)]
pub enum Constraint {
    /// Any value.
    Any,
    /// Like JEA's ValidateSet: the value must equal one entry, ignoring case.
    Set(Vec<SetEntry>),
    /// Like JEA's ValidatePattern, but anchored: the whole value must match,
    /// ignoring case.
    Pattern(Pattern),
}

/// One member of a `set`. `$null`, `$true` and `$false` are written as in
/// PowerShell, since TOML has no null.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetEntry {
    Null,
    Bool(bool),
    /// Compared as .NET's `OrdinalIgnoreCase` (the `ordinal` module); kept
    /// in the manifest's spelling.
    Text(String),
}

impl SetEntry {
    pub fn parse(text: &str) -> SetEntry {
        if text.eq_ignore_ascii_case("$null") {
            SetEntry::Null
        } else if text.eq_ignore_ascii_case("$true") {
            SetEntry::Bool(true)
        } else if text.eq_ignore_ascii_case("$false") {
            SetEntry::Bool(false)
        } else {
            SetEntry::Text(text.to_owned())
        }
    }

    pub fn display(&self) -> &str {
        match self {
            SetEntry::Null => "$null",
            SetEntry::Bool(true) => "$true",
            SetEntry::Bool(false) => "$false",
            SetEntry::Text(display) => display,
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Constraint::Any => write!(f, "any value"),
            Constraint::Set(entries) => {
                let list: Vec<&str> = entries.iter().map(SetEntry::display).collect();
                write!(f, "one of [{}]", list.join(", "))
            }
            Constraint::Pattern(p) => write!(f, "matches /{}/", p.source),
        }
    }
}
