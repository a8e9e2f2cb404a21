//! Object scopes: which recipients a plugin's calls may touch, beyond
//! which cmdlets and values. The manifest declares a scope in `[scope]`;
//! the operator policy may add its own (`scope = "…"`), and a recipient
//! must pass every one. The host enforces it call by call
//! (`exorun_sandbox::ScopedBackend`): a write or targeted read outside the
//! scope is refused, a list is filtered, and a cmdlet not in [`targets`] is
//! refused.

pub mod filter;
pub mod targets;

pub use filter::{Facts, Filter, Op, Property};

use crate::gate::Layer;

/// The recipients a plugin may touch: all rules must pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub rules: Vec<ScopeRule>,
}

/// One filter and the layer that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRule {
    pub filter: Filter,
    pub layer: Layer,
}

impl ScopeRule {
    /// Who set this rule, for messages: "the manifest's [scope]" or "the
    /// operator policy (default policy, line 4)".
    pub fn who(&self) -> String {
        match &self.layer {
            Layer::Manifest => "the manifest's [scope]".to_owned(),
            Layer::Policy(origin) => format!("the operator policy ({origin})"),
        }
    }
}

impl Scope {
    /// The first rule the recipient fails (`Ok(None)`: in scope). `Err`
    /// says what could not be decided; the caller refuses.
    pub fn first_failed(&self, facts: &dyn Facts) -> Result<Option<&ScopeRule>, String> {
        for rule in &self.rules {
            if !rule.filter.matches(facts)? {
                return Ok(Some(rule));
            }
        }
        Ok(None)
    }

    /// Every group a rule names with `MemberOfGroup`.
    pub fn groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for group in self.rules.iter().flat_map(|r| r.filter.groups()) {
            if !out.iter().any(|g| g.eq_ignore_ascii_case(group)) {
                out.push(group);
            }
        }
        out
    }

    /// The rules as one filter (`-and` of all), as a management scope's
    /// `RecipientRestrictionFilter` would hold it.
    pub fn combined(&self) -> Option<Filter> {
        self.rules
            .iter()
            .map(|r| r.filter.clone())
            .reduce(|a, b| Filter::And(Box::new(a), Box::new(b)))
    }
}
