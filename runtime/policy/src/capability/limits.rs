//! `[limits]`: the memory, run time, cmdlet calls and call rate a plugin
//! asks for, below the operator's [`Ceilings`]. Every run has limits: a
//! manifest without the table gets [`Limits::default`]. The operator
//! policy lowers them, and alone sets a run's `weight` (its share of the
//! tenant's budget while runs compete).

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
        if let Some(weight) = &raw.weight {
            return Err(source.error_at(
                weight,
                "[limits] weight is not the plugin's to choose: the operator sets it in the operator policy (docs/operator-policy.md)".to_owned(),
            ));
        }
        let calls_per_second = positive(source, raw.calls_per_second, "calls-per-second")?;
        let defaults = Limits::default();
        Ok(Some(Arc::new(Limits {
            calls_per_second,
            weight: defaults.weight,
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
                    text: if *value == u64::MAX {
                        format!("limits: {key} unlimited → {lowered}")
                    } else {
                        format!("limits: {key} {value} → {lowered}")
                    },
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
            // No rate is the highest rate: a policy's rate always applies
            // then.
            let mut rate = limits.calls_per_second.unwrap_or(u64::MAX);
            lower(
                &mut rate,
                rules.limits.calls_per_second.as_ref(),
                "calls-per-second",
            );
            limits.calls_per_second = (rate != u64::MAX).then_some(rate);
        }
        // The weight is set, not lowered: the last file (and within one,
        // [plugin.<name>] after [all]) decides.
        for rules in rules {
            if let Some((weight, origin)) = &rules.limits.weight {
                let weight = u32::try_from(*weight).unwrap_or(u32::MAX);
                if weight != limits.weight {
                    notes.push(Narrowing {
                        capability: "limits",
                        key: Some("limits.weight".to_owned()),
                        text: format!("limits: weight {} → {weight}", limits.weight),
                        origin: origin.clone(),
                    });
                    limits.weight = weight;
                }
            }
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
            rate_change(old.calls_per_second, new.calls_per_second),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn describe(&self, grants: &Grants) -> Section {
        let limits = grants.get::<Limits>().copied().unwrap_or_default();
        let mut text = format!(
            "Limits     memory {} MiB · timeout {} s · at most {} cmdlet calls",
            limits.memory_mib,
            limits.timeout.as_secs(),
            limits.max_calls
        );
        let mut json = json!({
            "memoryMiB": limits.memory_mib,
            "timeoutSeconds": limits.timeout.as_secs(),
            "maxCalls": limits.max_calls,
        });
        // Only when set, so that manifests without them keep the
        // permissions digest they were consented to with.
        if let Some(rate) = limits.calls_per_second {
            text.push_str(&format!(" · at most {rate} calls per second"));
            json["callsPerSecond"] = json!(rate);
        }
        if limits.weight != 1 {
            text.push_str(&format!(" · weight {}", limits.weight));
            json["weight"] = json!(limits.weight);
        }
        Section {
            text: vec![text],
            json: vec![("limits", json)],
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    memory_mib: Option<Spanned<u64>>,
    timeout_seconds: Option<Spanned<u64>>,
    max_calls: Option<Spanned<u64>>,
    calls_per_second: Option<Spanned<u64>>,
    /// Refused with its own message: the operator's key.
    weight: Option<Spanned<toml::Value>>,
}

/// Gaining a rate narrows, losing one widens, a higher one widens.
fn rate_change(old: Option<u64>, new: Option<u64>) -> Option<Change> {
    match (old, new) {
        (None, None) => None,
        (None, Some(new)) => Some(Change::narrows(format!(
            "limits: calls per second: unlimited → {new}"
        ))),
        (Some(old), None) => Some(Change::widens(format!(
            "limits: calls per second: {old} → unlimited"
        ))),
        (Some(old), Some(new)) => Change::number("limits: calls per second", old, new),
    }
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
