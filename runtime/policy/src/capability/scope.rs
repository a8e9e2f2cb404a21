//! `[scope]`: the recipients a plugin's calls may touch, as a filter
//! (`recipients`) and/or named groups (`groups`); see [`crate::scope`].
//!
//! ```toml
//! [scope]
//! recipients = "Department -eq 'Sales' -and -not (CustomAttribute1 -eq 'vip')"
//! groups = ["sales-team@contoso.com"]
//! ```

use std::sync::Arc;

use exorun_cmdlet::Escaped;
use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{Capability, Change, Grant, Grants, Section, Source};
use crate::gate::Layer;
use crate::operator::{Narrowing, Rules};
use crate::scope::{Filter, Op, Property, Scope, ScopeRule};
use crate::source::ManifestError;

/// The recipients a plugin may touch.
pub struct ScopeCapability;

/// The most groups one `[scope]` may name.
const MAX_GROUPS: usize = 64;

impl Capability for ScopeCapability {
    fn name(&self) -> &'static str {
        "scope"
    }

    fn keys(&self) -> &'static [&'static str] {
        &["scope"]
    }

    fn parse(&self, source: &Source<'_>) -> Result<Option<Arc<dyn Grant>>, ManifestError> {
        let Some(raw) = source.key::<Spanned<RawScope>>("scope")? else {
            return Ok(None);
        };
        let at = raw.span().start;
        let raw = raw.into_inner();
        let mut filter = match &raw.recipients {
            Some(text) => Some(Filter::parse(text.get_ref()).map_err(|e| {
                source.error_at(
                    text,
                    format!("[scope] recipients is not a scope filter: {e}"),
                )
            })?),
            None => None,
        };
        if raw.groups.len() > MAX_GROUPS {
            return Err(source.error(
                at,
                format!("[scope] names more than {MAX_GROUPS} groups; use a filter on a property instead"),
            ));
        }
        let mut groups: Option<Filter> = None;
        for group in &raw.groups {
            let name = group.get_ref().trim();
            if name.is_empty() || name.contains('*') || name.contains('\0') {
                return Err(source.error_at(
                    group,
                    "a [scope] group is one group's identity (its address or name), without wildcards".to_owned(),
                ));
            }
            let member = Filter::Compare {
                property: Property::MemberOfGroup,
                op: Op::Eq,
                value: name.to_owned(),
            };
            groups = Some(match groups {
                None => member,
                Some(left) => Filter::Or(Box::new(left), Box::new(member)),
            });
        }
        filter = match (filter, groups) {
            (None, None) => {
                return Err(source.error(
                    at,
                    "[scope] needs recipients (a filter) or groups; without either it would scope nothing".to_owned(),
                ));
            }
            (Some(f), None) => Some(f),
            (None, Some(g)) => Some(g),
            (Some(f), Some(g)) => Some(Filter::And(Box::new(f), Box::new(g))),
        };
        Ok(filter.map(|filter| {
            Arc::new(Scope {
                rules: vec![ScopeRule {
                    filter,
                    layer: Layer::Manifest,
                }],
            }) as Arc<dyn Grant>
        }))
    }

    /// A policy's `scope` adds a rule: a plugin without `[scope]` becomes
    /// scoped, and a scoped one must pass both.
    fn narrow(
        &self,
        grants: &Grants,
        rules: &[&Rules],
        notes: &mut Vec<Narrowing>,
    ) -> Option<Arc<dyn Grant>> {
        let added: Vec<_> = rules.iter().filter_map(|r| r.scope.as_ref()).collect();
        if added.is_empty() {
            return None;
        }
        let mut scope = grants
            .get::<Scope>()
            .cloned()
            .unwrap_or(Scope { rules: Vec::new() });
        for (filter, origin) in added {
            notes.push(Narrowing {
                capability: "scope",
                key: None,
                text: format!(
                    "scope: also only recipients where {}",
                    Escaped(&filter.to_string())
                ),
                origin: origin.clone(),
            });
            scope.rules.push(ScopeRule {
                filter: filter.clone(),
                layer: Layer::Policy(origin.clone()),
            });
        }
        Some(Arc::new(scope))
    }

    /// Gaining a scope narrows, losing one widens; a changed filter is a
    /// widening (whether one filter contains another is not guessed at).
    fn compare(&self, old: &Grants, new: &Grants) -> Vec<Change> {
        match (old.get::<Scope>(), new.get::<Scope>()) {
            (None, None) => Vec::new(),
            (None, Some(_)) => vec![Change::narrows("scope: now limited to a set of recipients")],
            (Some(_), None) => vec![Change::widens("scope removed: EVERY RECIPIENT")],
            (Some(a), Some(b)) if a == b => Vec::new(),
            (Some(a), Some(b)) => vec![Change::widens(format!(
                "scope changed: {} → {}",
                Escaped(&shown(a)),
                Escaped(&shown(b))
            ))],
        }
    }

    fn describe(&self, grants: &Grants) -> Section {
        let Some(scope) = grants.get::<Scope>() else {
            // No JSON field: manifests without [scope] keep the
            // permissions digest they were consented to with.
            return Section {
                text: vec![
                    "Scope      every recipient the app's Exchange role reaches (no [scope])"
                        .to_owned(),
                ],
                json: Vec::new(),
            };
        };
        let mut text = vec!["Scope      only recipients where (each must hold):".to_owned()];
        for rule in &scope.rules {
            let layer = match &rule.layer {
                Layer::Manifest => "manifest".to_owned(),
                Layer::Policy(origin) => format!("policy: {origin}"),
            };
            text.push(format!(
                "             {}  [{layer}]",
                Escaped(&rule.filter.to_string())
            ));
        }
        text.push(
            "           writes and targeted reads outside it are refused; lists are filtered to it"
                .to_owned(),
        );
        let rules: Vec<_> = scope
            .rules
            .iter()
            .map(|r| match &r.layer {
                Layer::Manifest => json!({"filter": r.filter.to_string()}),
                Layer::Policy(origin) => {
                    json!({"filter": r.filter.to_string(), "policy": origin.to_string()})
                }
            })
            .collect();
        Section {
            text,
            json: vec![("scope", json!(rules))],
        }
    }
}

fn shown(scope: &Scope) -> String {
    scope.combined().map(|f| f.to_string()).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    recipients: Option<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
}
