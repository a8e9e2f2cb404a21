//! The operator's policy: rules kept by whoever runs exorun, apart from
//! the plugin author's manifest, that can only take power away.
//!
//! A policy file has an `[all]` table for every plugin and
//! `[plugin.<name>]` tables for one plugin each. Both hold the same rules:
//! `forbid-writes`, `deny-cmdlets`, `[[cmdlet]]` tables with
//! `deny-parameters` and extra value constraints, and lower `[limits]`.
//! Several files stack (the default policy, the tenant's, any given with
//! `--policy`): each narrows what the ones before left.
//!
//! Nothing here widens: [`crate::Manifest::narrowed`] hands the rules to
//! each capability ([`crate::Capability::narrow`]), which can only refuse,
//! constrain further or lower. The gate then checks the manifest's rule
//! first and the policy's after it, so a refusal names the layer that
//! refused and the file and line of the rule.

mod glob;
mod raw;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use glob::CmdletGlob;

use crate::capabilities::Constraint;
use crate::source::{ManifestError, Source};

/// The largest policy file read: rules, not data.
pub const MAX_POLICY_BYTES: usize = 256 << 10;

/// Where a policy rule was written: the file's label and the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// How the file is named to the operator ("default policy", "policy
    /// for contoso.onmicrosoft.com", or the path given with `--policy`).
    pub layer: Arc<str>,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, line {}", self.layer, self.line)
    }
}

/// The stacked policy files that apply to a run. Empty: the manifest
/// alone decides.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    files: Vec<PolicyFile>,
}

impl Policy {
    /// No policy: the manifest alone decides.
    pub fn none() -> Policy {
        Policy::default()
    }

    /// Adds a file on top of the ones already there.
    pub fn push(&mut self, file: PolicyFile) {
        self.files.push(file);
    }

    pub fn files(&self) -> &[PolicyFile] {
        &self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The rule sets that apply to a plugin, file by file: `[all]`, then
    /// `[plugin.<name>]`.
    pub(crate) fn rules_for(&self, plugin: &str) -> Vec<&Rules> {
        let mut out = Vec::new();
        for file in &self.files {
            out.extend(file.all.as_ref());
            out.extend(
                file.plugins
                    .iter()
                    .filter(|(name, _)| name == plugin)
                    .map(|(_, rules)| rules),
            );
        }
        out
    }
}

/// One validated policy file.
#[derive(Clone, Debug)]
pub struct PolicyFile {
    /// How refusals name this file.
    pub label: Arc<str>,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lowercase hex, for the audit trail.
    pub sha256: String,
    all: Option<Rules>,
    plugins: Vec<(String, Rules)>,
}

impl PolicyFile {
    /// Reads and validates a policy file.
    pub fn load(path: &Path, label: &str) -> Result<PolicyFile, ManifestError> {
        let read = |source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_POLICY_BYTES as u64 + 1),
            &mut text,
        )
        .map_err(read)?;
        PolicyFile::parse(path, label, &text)
    }

    /// Validates policy text; `path` names the file in errors.
    pub fn parse(path: &Path, label: &str, text: &str) -> Result<PolicyFile, ManifestError> {
        let source = Source { path, text };
        if text.len() > MAX_POLICY_BYTES {
            return Err(source.error(
                0,
                format!("the policy file is larger than {MAX_POLICY_BYTES} bytes; a policy holds rules, not data"),
            ));
        }
        let label: Arc<str> = Arc::from(label);
        let (all, plugins) = raw::validate(&source, &label)?;
        Ok(PolicyFile {
            label,
            path: path.to_path_buf(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
            all,
            plugins,
        })
    }
}

/// One table of rules (`[all]` or `[plugin.<name>]`), validated. Read by
/// the capabilities' [`crate::Capability::narrow`].
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// `forbid-writes = true`: every cmdlet that is not read-only is refused.
    pub(crate) forbid_writes: Option<Origin>,
    /// `deny-cmdlets`: cmdlets refused by name or wildcard.
    pub(crate) deny_cmdlets: Vec<(CmdletGlob, Origin)>,
    /// `[limits]`: values that lower the manifest's.
    pub(crate) limits: LimitRules,
    /// `[[cmdlet]]`: parameters refused or constrained further.
    pub(crate) cmdlets: Vec<CmdletPolicy>,
    /// `scope`: a recipient filter every call must also stay within.
    pub(crate) scope: Option<(crate::scope::Filter, Origin)>,
}

/// The policy's `[limits]`: each lowers the manifest's value, never raises it.
#[derive(Clone, Debug, Default)]
pub(crate) struct LimitRules {
    pub memory_mib: Option<(u64, Origin)>,
    pub timeout_seconds: Option<(u64, Origin)>,
    pub max_calls: Option<(u64, Origin)>,
    pub outputs_mib: Option<(u64, Origin)>,
    pub calls_per_second: Option<(u64, Origin)>,
    /// Not a narrowing: the run's share of the tenant's budget.
    pub weight: Option<(u64, Origin)>,
}

/// One policy `[[cmdlet]]` table: applies to every declared cmdlet its
/// name (perhaps a wildcard) matches.
#[derive(Clone, Debug)]
pub(crate) struct CmdletPolicy {
    pub name: CmdletGlob,
    pub deny_parameters: Vec<(String, Origin)>,
    pub parameters: Vec<ParamPolicy>,
}

/// A value constraint the policy adds to one parameter.
#[derive(Clone, Debug)]
pub(crate) struct ParamPolicy {
    pub name: String,
    pub constraint: Constraint,
    pub clear: bool,
    pub origin: Origin,
}

/// What applying a policy changed, for `exorun inspect --effective` and
/// the audit trail.
#[derive(Clone, Debug, Default)]
pub struct AppliedPolicy {
    /// The files applied, in order: label, path and SHA-256.
    pub files: Vec<(Arc<str>, PathBuf, String)>,
    /// Every narrowing, in the order the capabilities made them.
    pub narrowings: Vec<Narrowing>,
}

impl AppliedPolicy {
    /// The files applied, as the audit trail records them:
    /// `label sha256:<hex>` joined with `; `.
    pub fn summary(&self) -> String {
        self.files
            .iter()
            .map(|(label, _, sha256)| format!("{label} sha256:{sha256}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The narrowing of one key (`limits.max-calls`), when the policy
    /// lowered it.
    pub fn lowered(&self, key: &str) -> Option<&Narrowing> {
        self.narrowings
            .iter()
            .rev()
            .find(|n| n.key.as_deref() == Some(key))
    }
}

/// One thing a policy took away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Narrowing {
    /// The capability's name (`cmdlets`, `limits`, …).
    pub capability: &'static str,
    /// The limit it lowered (`limits.max-calls`), for limits only.
    pub key: Option<String>,
    /// What changed, already escaped for a terminal.
    pub text: String,
    pub origin: Origin,
}
