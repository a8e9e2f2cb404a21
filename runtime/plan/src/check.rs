//! Before a plan is applied: is it still the plan that was reviewed, for
//! this plugin build and this tenant, recent enough, and does every call
//! still pass the current manifest? All of it is checked before the first
//! call is sent; any refusal refuses the whole plan.

use std::time::{Duration, SystemTime};

use exorun_policy::{Ceilings, Manifest};

use crate::file::Plan;

/// What a plan is checked against.
pub struct PlanCheck<'a> {
    /// The plugin's manifest as it is now.
    pub manifest: &'a Manifest,
    /// SHA-256 of the plugin's component file as it is now.
    pub component_sha256: &'a str,
    /// The tenant the apply is connected to.
    pub tenant: &'a str,
    /// The oldest plan that may be applied.
    pub max_age: Duration,
    pub now: SystemTime,
    pub ceilings: &'a Ceilings,
}

/// Why a plan is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the plan is for plugin '{plan}', but the manifest given is '{current}'")]
    PluginName { plan: String, current: String },
    #[error(
        "the plan was made by plugin build sha256 {plan}, but the plugin is now sha256 {current}; run the what-if again with this build"
    )]
    PluginDigest { plan: String, current: String },
    #[error(
        "the plugin's component has sha256 {actual}, but its manifest pins {pinned}; refusing a component that is not the one reviewed"
    )]
    ComponentMismatch { pinned: String, actual: String },
    #[error(
        "the plan was captured under a manifest with sha256 {plan}, but the plugin given has manifest sha256 {current}; a plan is applied only with the grants it was reviewed under (run the what-if again with this manifest)"
    )]
    ManifestDigest { plan: String, current: String },
    #[error("the plan is for tenant {plan}, but this connection is to {current}")]
    Tenant { plan: String, current: String },
    #[error(
        "the plan was written {age} ago, longer than the {max} a plan may wait (--max-age); run the what-if again"
    )]
    Stale { age: String, max: String },
    #[error("the plan's time {0} is not a time this exorun writes")]
    BadTime(String),
    #[error("the plan was written at {0}, in the future of this machine's clock")]
    FromTheFuture(String),
    #[error(
        "call {step} of the plan ({cmdlet}) is no longer allowed by the manifest: {message} [{rule}]"
    )]
    Denied {
        step: usize,
        cmdlet: String,
        rule: String,
        message: String,
    },
    #[error(
        "the plan has {calls} calls, more than the {max} the plugin may make ([limits] max-calls or --max-calls)"
    )]
    TooManyCalls { calls: u64, max: u64 },
}

/// How far a plan's clock may run ahead of this machine's.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Checks a plan; `Ok` means every call may be sent.
pub fn check_plan(plan: &Plan, with: &PlanCheck<'_>) -> Result<(), Refusal> {
    let manifest = with.manifest;
    if !plan.plugin.name.eq_ignore_ascii_case(&manifest.plugin.name) {
        return Err(Refusal::PluginName {
            plan: plan.plugin.name.clone(),
            current: manifest.plugin.name.clone(),
        });
    }
    let pinned = manifest.plugin.sha256.clone().unwrap_or_default();
    if !pinned.eq_ignore_ascii_case(with.component_sha256) {
        return Err(Refusal::ComponentMismatch {
            pinned,
            actual: with.component_sha256.to_owned(),
        });
    }
    if !plan
        .plugin
        .sha256
        .eq_ignore_ascii_case(with.component_sha256)
    {
        return Err(Refusal::PluginDigest {
            plan: plan.plugin.sha256.clone(),
            current: with.component_sha256.to_owned(),
        });
    }
    if !plan
        .plugin
        .manifest_sha256
        .eq_ignore_ascii_case(&manifest.sha256)
    {
        return Err(Refusal::ManifestDigest {
            plan: plan.plugin.manifest_sha256.clone(),
            current: manifest.sha256.clone(),
        });
    }
    if !plan.tenant.eq_ignore_ascii_case(with.tenant) {
        return Err(Refusal::Tenant {
            plan: plan.tenant.clone(),
            current: with.tenant.to_owned(),
        });
    }
    let created = exorun_audit::parse_rfc3339(&plan.created_at)
        .ok_or_else(|| Refusal::BadTime(plan.created_at.clone()))?;
    match with.now.duration_since(created) {
        Ok(age) if age > with.max_age => {
            return Err(Refusal::Stale {
                age: human(age),
                max: human(with.max_age),
            });
        }
        Ok(_) => {}
        Err(ahead) if ahead.duration() > CLOCK_SKEW => {
            return Err(Refusal::FromTheFuture(plan.created_at.clone()));
        }
        Err(_) => {}
    }
    let max = manifest.limits().max_calls.min(with.ceilings.max_calls);
    if plan.calls.len() as u64 > max {
        return Err(Refusal::TooManyCalls {
            calls: plan.calls.len() as u64,
            max,
        });
    }
    for (index, call) in plan.calls.iter().enumerate() {
        if let Err(denial) = exorun_policy::check(manifest.capabilities(), call) {
            return Err(Refusal::Denied {
                step: index + 1,
                cmdlet: call.cmdlet.clone(),
                rule: denial.rule(),
                message: denial.message,
            });
        }
    }
    Ok(())
}

/// `90 s`, `12 min`, `3 h 5 min`, `24 h`, `2 d 4 h`, `7 d`.
///
/// Written here rather than with `humantime`: its `2h 5m 3s` form is not
/// the console's spelling, and [`parse_duration`] deliberately accepts fewer
/// units than `humantime` does (no weeks, months or years, whose lengths a
/// plan's `--max-age` should not leave to interpretation).
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (major, minor) = match s {
        0..120 => return format!("{s} s"),
        120..7200 => return format!("{} min", s / 60),
        7200..172_800 => ((s / 3600, "h"), (s % 3600 / 60, "min")),
        _ => ((s / 86_400, "d"), (s % 86_400 / 3600, "h")),
    };
    match minor {
        (0, _) => format!("{} {}", major.0, major.1),
        (n, unit) => format!("{} {} {n} {unit}", major.0, major.1),
    }
}

/// Parses a duration as the CLI takes it: `90s`, `30m`, `12h`, `7d`, or a
/// bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" | "sec" => n,
        "m" | "min" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{PLAN_FORMAT, PlanPlugin};
    use exorun_cmdlet::{Call, Value};
    use std::path::Path;

    const SHA: &str = "abababababababababababababababababababababababababababababababab";

    fn manifest() -> Manifest {
        Manifest::parse(
            Path::new("p/exorun.toml"),
            &format!(
                r#"
[plugin]
name = "cleanup"
version = "0.1.0"
component = "c.wasm"
sha256 = "{SHA}"

[[cmdlet]]
name = "Set-Mailbox"
parameters.Identity = {{ pattern = '[^@]+@contoso\.com' }}
parameters.ForwardingSmtpAddress = {{ set = ["$null"] }}

[limits]
max-calls = 3
"#
            ),
        )
        .unwrap()
    }

    fn plan(created_at: &str) -> Plan {
        Plan {
            format: PLAN_FORMAT.to_owned(),
            created_at: created_at.to_owned(),
            what_if_run_id: "r".to_owned(),
            operator: "alice".to_owned(),
            plugin: PlanPlugin {
                name: "cleanup".to_owned(),
                version: "0.1.0".to_owned(),
                sha256: SHA.to_owned(),
                manifest_sha256: manifest().sha256,
            },
            tenant: "contoso.onmicrosoft.com".to_owned(),
            app_id: "app".to_owned(),
            inputs: vec![],
            calls: vec![
                Call::new("Set-Mailbox")
                    .param("Identity", "ann@contoso.com")
                    .param("ForwardingSmtpAddress", Value::Null),
            ],
            checksum: String::new(),
        }
    }

    fn now() -> SystemTime {
        exorun_audit::parse_rfc3339("2026-11-28T12:00:00Z").unwrap()
    }

    fn check(plan: &Plan) -> Result<(), Refusal> {
        let manifest = manifest();
        check_plan(
            plan,
            &PlanCheck {
                manifest: &manifest,
                component_sha256: SHA,
                tenant: "Contoso.onmicrosoft.com",
                max_age: Duration::from_secs(3600),
                now: now(),
                ceilings: &Ceilings::default(),
            },
        )
    }

    #[test]
    fn a_fresh_plan_for_this_build_and_tenant_passes() {
        assert_eq!(check(&plan("2026-11-28T11:30:00.000Z")), Ok(()));
    }

    #[test]
    fn a_plan_older_than_the_maximum_age_is_stale() {
        assert_eq!(
            check(&plan("2026-11-28T10:59:59.000Z"))
                .unwrap_err()
                .to_string(),
            "the plan was written 60 min ago, longer than the 60 min a plan may wait (--max-age); run the what-if again"
        );
    }

    #[test]
    fn a_plan_from_the_future_is_refused() {
        assert!(matches!(
            check(&plan("2026-11-28T12:10:00.000Z")),
            Err(Refusal::FromTheFuture(_))
        ));
    }

    #[test]
    fn another_plugin_build_or_tenant_is_refused() {
        let mut other_build = plan("2026-11-28T11:30:00.000Z");
        other_build.plugin.sha256 = "cd".repeat(32);
        assert!(matches!(
            check(&other_build),
            Err(Refusal::PluginDigest { .. })
        ));
        let mut other_tenant = plan("2026-11-28T11:30:00.000Z");
        other_tenant.tenant = "fabrikam.onmicrosoft.com".to_owned();
        assert_eq!(
            check(&other_tenant).unwrap_err(),
            Refusal::Tenant {
                plan: "fabrikam.onmicrosoft.com".to_owned(),
                current: "Contoso.onmicrosoft.com".to_owned()
            }
        );
    }

    #[test]
    fn a_plan_captured_under_another_manifest_is_refused_naming_both_digests() {
        let mut p = plan("2026-11-28T11:30:00.000Z");
        p.plugin.manifest_sha256 = "ef".repeat(32);
        let refusal = check(&p).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::ManifestDigest {
                plan: "ef".repeat(32),
                current: manifest().sha256,
            }
        );
        let text = refusal.to_string();
        assert!(
            text.contains(&"ef".repeat(32)) && text.contains(&manifest().sha256),
            "{text}"
        );
    }

    #[test]
    fn a_call_the_manifest_no_longer_allows_refuses_the_whole_plan() {
        let mut p = plan("2026-11-28T11:30:00.000Z");
        p.calls.push(
            Call::new("Set-Mailbox")
                .param("Identity", "ceo@contoso.com")
                .param("ForwardingSmtpAddress", "x@evil.example"),
        );
        assert_eq!(
            check(&p).unwrap_err(),
            Refusal::Denied {
                step: 2,
                cmdlet: "Set-Mailbox".to_owned(),
                rule: "validate-set:Set-Mailbox/ForwardingSmtpAddress".to_owned(),
                message: "Set-Mailbox -ForwardingSmtpAddress 'x@evil.example' is not allowed: the manifest allows one of [$null]".to_owned(),
            }
        );
    }

    #[test]
    fn more_calls_than_the_plugin_may_make_are_refused() {
        let mut p = plan("2026-11-28T11:30:00.000Z");
        let call = p.calls[0].clone();
        p.calls = vec![call; 4];
        assert_eq!(
            check(&p).unwrap_err(),
            Refusal::TooManyCalls { calls: 4, max: 3 }
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(90)), "90 s");
        assert_eq!(human(Duration::from_secs(3600)), "60 min");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 300)), "3 h 5 min");
        assert_eq!(human(Duration::from_secs(86_400)), "24 h");
        assert_eq!(human(Duration::from_secs(2 * 86_400)), "2 d");
        assert_eq!(human(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2 d 4 h");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5w"), None);
    }
}
