//! `[limits]`: the memory, run time and cmdlet calls a plugin asks for,
//! below the operator's [`Ceilings`]. Every run has limits: a manifest
//! without the table gets [`Limits::default`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{Capability, Change, Grant, Grants, Section, Source};
use crate::limits::{Ceilings, LimitError, Limits};
use crate::operator::{Narrowing, Origin, Rules};
use crate::source::ManifestError;

/// A run's resource limits.
pub struct LimitsCapability;

impl Capability for LimitsCapability {
    fn name(&self) -> &'static str {
        "limits"
    }

    fn keys(&self) -> &'static [&'static str] {
        &["limits"]
    }

    fn parse(&self, source: &Source<'_>) -> Result<Option<Arc<dyn Grant>>, ManifestError> {
        let raw: RawLimits = source.key("limits")?.unwrap_or_default();
        let defaults = Limits::default();
        Ok(Some(Arc::new(Limits {
            memory_mib: positive(source, raw.memory_mib, "memory-mib")?
                .unwrap_or(defaults.memory_mib),
            timeout: positive(source, raw.timeout_seconds, "timeout-seconds")?
                .map(Duration::from_secs)
                .unwrap_or(defaults.timeout),
            max_calls: positive(source, raw.max_calls, "max-calls")?.unwrap_or(defaults.max_calls),
        })))
    }

    fn within(&self, grants: &Grants, ceilings: &Ceilings) -> Result<(), LimitError> {
        grants
            .get::<Limits>()
            .copied()
            .unwrap_or_default()
            .within(ceilings)
    }

    /// The policy's `[limits]` lower the manifest's, one by one; a policy
    /// value above the manifest's changes nothing.
    fn narrow(
        &self,
        grants: &Grants,
        rules: &[&Rules],
        notes: &mut Vec<Narrowing>,
    ) -> Option<Arc<dyn Grant>> {
        let mut limits = grants.get::<Limits>().copied().unwrap_or_default();
        let before = limits;
        let mut lower = |value: &mut u64, rule: Option<&(u64, Origin)>, key: &str| {
            if let Some((lowered, origin)) = rule
                && *lowered < *value
            {
                notes.push(Narrowing {
                    capability: "limits",
                    key: Some(format!("limits.{key}")),
                    text: format!("limits: {key} {value} → {lowered}"),
                    origin: origin.clone(),
                });
                *value = *lowered;
            }
        };
        for rules in rules {
            lower(
                &mut limits.memory_mib,
                rules.limits.memory_mib.as_ref(),
                "memory-mib",
            );
            let mut timeout = limits.timeout.as_secs();
            lower(
                &mut timeout,
                rules.limits.timeout_seconds.as_ref(),
                "timeout-seconds",
            );
            limits.timeout = limits.timeout.min(Duration::from_secs(timeout));
            lower(
                &mut limits.max_calls,
                rules.limits.max_calls.as_ref(),
                "max-calls",
            );
        }
        (limits != before).then(|| Arc::new(limits) as Arc<dyn Grant>)
    }

    /// A higher limit widens, a lower one narrows.
    fn compare(&self, old: &Grants, new: &Grants) -> Vec<Change> {
        let old = old.get::<Limits>().copied().unwrap_or_default();
        let new = new.get::<Limits>().copied().unwrap_or_default();
        [
            Change::number("limits: memory MiB", old.memory_mib, new.memory_mib),
            Change::number(
                "limits: timeout seconds",
                old.timeout.as_secs(),
                new.timeout.as_secs(),
            ),
            Change::number("limits: cmdlet calls", old.max_calls, new.max_calls),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn describe(&self, grants: &Grants) -> Section {
        let limits = grants.get::<Limits>().copied().unwrap_or_default();
        Section {
            text: vec![format!(
                "Limits     memory {} MiB · timeout {} s · at most {} cmdlet calls",
                limits.memory_mib,
                limits.timeout.as_secs(),
                limits.max_calls
            )],
            json: vec![(
                "limits",
                json!({
                    "memoryMiB": limits.memory_mib,
                    "timeoutSeconds": limits.timeout.as_secs(),
                    "maxCalls": limits.max_calls,
                }),
            )],
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    memory_mib: Option<Spanned<u64>>,
    timeout_seconds: Option<Spanned<u64>>,
    max_calls: Option<Spanned<u64>>,
}

fn positive(
    loc: &Source<'_>,
    value: Option<Spanned<u64>>,
    key: &str,
) -> Result<Option<u64>, ManifestError> {
    match value {
        Some(v) if *v.get_ref() == 0 => {
            Err(loc.error_at(&v, format!("[limits] {key} must be greater than 0")))
        }
        Some(v) => Ok(Some(*v.get_ref())),
        None => Ok(None),
    }
}
