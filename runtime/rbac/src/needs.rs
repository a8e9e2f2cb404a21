//! What a set of plugins needs of the tenant, after the operator policy.

use std::collections::BTreeMap;

use exorun_policy::Manifest;
use exorun_policy::scope::{Filter, Scope};

/// The union of the plugins' effective permissions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The plugins, by name.
    pub plugins: Vec<String>,
    /// Each cmdlet (lower-case key) with its spelling and the parameters
    /// some plugin may pass (lower-case key → spelling).
    pub cmdlets: BTreeMap<String, (String, BTreeMap<String, String>)>,
    /// The recipients writes may reach: every writing plugin's scope,
    /// joined with `-or`. `None` when no plugin writes, or when one
    /// writing plugin has no scope (then see `unscoped_writers`).
    pub write_scope: Option<Filter>,
    /// Plugins that write with no `[scope]`: the tenant cannot hold the
    /// app to any set of recipients while they are installed.
    pub unscoped_writers: Vec<String>,
}

impl Needs {
    /// Adds a cmdlet and parameters; names compare ignoring case, and the
    /// first spelling seen is kept.
    fn add<'a>(&mut self, cmdlet: &str, parameters: impl IntoIterator<Item = &'a str>) {
        let (_, known) = self
            .cmdlets
            .entry(cmdlet.to_ascii_lowercase())
            .or_insert_with(|| (cmdlet.to_owned(), BTreeMap::new()));
        for p in parameters {
            known
                .entry(p.to_ascii_lowercase())
                .or_insert_with(|| p.to_owned());
        }
    }

    /// What `manifests` (narrowed by the operator policy) need together,
    /// with the reads the host makes to enforce their object scopes.
    /// Cmdlets and parameters the policy refused are left out.
    pub fn of(manifests: &[&Manifest]) -> Needs {
        let mut needs = Needs::default();
        let mut scopes: Vec<Filter> = Vec::new();
        for manifest in manifests {
            needs.plugins.push(manifest.plugin.name.clone());
            let caps = manifest.capabilities();
            for rule in caps.cmdlets().iter().filter(|r| r.refused.is_none()) {
                let parameters = rule.parameters.iter().filter(|p| p.refused.is_none());
                needs.add(&rule.name, parameters.map(|p| p.name.as_str()));
            }
            // The host enforces a scope with reads of its own
            // (`exorun_sandbox::ScopedBackend`): the app needs them too.
            if let Some(scope) = manifest.grant::<Scope>().filter(|s| !s.rules.is_empty()) {
                needs.add("Get-Recipient", ["Identity", "ResultSize"]);
                if !scope.groups().is_empty() {
                    needs.add("Get-DistributionGroupMember", ["Identity", "ResultSize"]);
                }
            }
            if caps.is_read_only() {
                continue;
            }
            match manifest.grant::<Scope>().and_then(Scope::combined) {
                Some(filter) => scopes.push(filter),
                None => needs.unscoped_writers.push(manifest.plugin.name.clone()),
            }
        }
        if needs.unscoped_writers.is_empty() {
            needs.write_scope = scopes
                .into_iter()
                .reduce(|a, b| Filter::Or(Box::new(a), Box::new(b)));
        }
        needs
    }
}
