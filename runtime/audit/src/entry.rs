//! What a caller hands to [`crate::AuditLog::append`]: the run's identity
//! and one event. The log adds `seq`, `time`, `prev` and `hash`.
//!
//! Built from exorun-cmdlet's types rather than the sandbox's `CallRecord`
//! so this crate stays small; mapping a `CallRecord` is one line per field:
//!
//! ```
//! # use exorun_audit::{CallEvent, Decision};
//! # use exorun_cmdlet::{Call, CmdletError};
//! # use std::time::Duration;
//! let call = Call::new("Set-Mailbox").param("Identity", "alice").param("Password", "p4ss");
//! let outcome: Result<u64, CmdletError> = Err(CmdletError::not_found("alice"));
//! let event = CallEvent::new(&call, &[])
//!     .decision(Decision::Allowed)
//!     .outcome(outcome.as_ref().copied())
//!     .duration(Duration::from_millis(12));
//! ```

use std::borrow::Cow;
use std::time::Duration;

use exorun_cmdlet::{Call, CmdletError};

use crate::operator::current_operator;
use crate::record::{DecisionKind, Kind, Parameters, PluginRef, RecordRef, RunMode, RunStatus};
use crate::redact::{clean_message, redact_parameters};

/// Everything every record of a run repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub plugin: PluginRef,
    pub operator: String,
    pub tenant: String,
    pub app_id: String,
    /// A plain run, a what-if run or the application of a plan.
    pub mode: RunMode,
    /// The SHA-256 of the plan a what-if run wrote or an apply executes.
    pub plan_sha256: Option<String>,
    /// The operator policy files the run's plugin was narrowed by
    /// (`label sha256:<hex>; …`), recorded on its run-start record.
    pub policy: Option<String>,
}

impl RunInfo {
    /// A new run: a fresh random run id and this process's operator.
    pub fn new(plugin: PluginRef, tenant: impl Into<String>, app_id: impl Into<String>) -> Self {
        RunInfo {
            run_id: uuid::Uuid::new_v4().to_string(),
            plugin,
            operator: current_operator(),
            tenant: tenant.into(),
            app_id: app_id.into(),
            mode: RunMode::Run,
            plan_sha256: None,
            policy: None,
        }
    }

    pub fn mode(mut self, mode: RunMode) -> Self {
        self.mode = mode;
        self
    }

    /// Names the operator policy the run's plugin was narrowed by.
    pub fn with_policy(mut self, policy: Option<String>) -> Self {
        self.policy = policy;
        self
    }

    pub fn plan_sha256(mut self, digest: impl Into<String>) -> Self {
        self.plan_sha256 = Some(digest.into());
        self
    }

    /// Who the run is for, when that is not this process's account: the
    /// service names the person (`user:alice`) or schedule
    /// (`schedule:nightly`) behind it.
    pub fn operator(mut self, operator: impl Into<String>) -> Self {
        self.operator = operator.into();
        self
    }

    /// A run id chosen by the caller (the service's queue entry), so its
    /// own records join the run's.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }
}

/// The policy gate's decision, as the audit trail keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused by the named manifest rule.
    Denied {
        rule: String,
    },
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// Succeeded with this many objects.
    Ok { objects: u64 },
    /// Failed; `kind` is [`CmdletError::kind`], `message` already cleaned.
    Failed { kind: String, message: String },
    /// Captured into a what-if plan instead of being sent.
    Planned,
}

/// One cmdlet call, redacted on construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallEvent {
    pub cmdlet: String,
    pub parameters: Parameters,
    pub read_only: bool,
    pub decision: Decision,
    pub outcome: CallOutcome,
    pub duration: Duration,
    pub client_request_id: Option<String>,
    /// Redacted values, to keep them out of messages set later.
    secrets: Vec<String>,
}

impl CallEvent {
    /// A call allowed and succeeded with no objects until told otherwise.
    /// `sensitive` names the parameters the manifest marks sensitive (any
    /// case); parameters whose names look secret are redacted regardless.
    pub fn new(call: &Call, sensitive: &[&str]) -> Self {
        let (parameters, secrets) = redact_parameters(&call.parameters, sensitive);
        CallEvent {
            cmdlet: call.cmdlet.clone(),
            parameters,
            read_only: call.is_read_only(),
            decision: Decision::Allowed,
            outcome: CallOutcome::Ok { objects: 0 },
            duration: Duration::ZERO,
            client_request_id: None,
            secrets,
        }
    }

    pub fn decision(mut self, decision: Decision) -> Self {
        self.decision = decision;
        self
    }

    /// Objects returned, or the error (its message scrubbed of redacted
    /// values and capped at [`crate::MAX_MESSAGE_BYTES`]).
    /// Captured into a what-if plan: allowed, never sent.
    pub fn planned(mut self) -> Self {
        self.outcome = CallOutcome::Planned;
        self
    }

    pub fn outcome(mut self, outcome: Result<u64, &CmdletError>) -> Self {
        self.outcome = match outcome {
            Ok(objects) => CallOutcome::Ok { objects },
            Err(error) => CallOutcome::Failed {
                kind: error.kind().to_owned(),
                message: clean_message(&error.to_string(), &self.secrets),
            },
        };
        self
    }

    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    pub fn client_request_id(mut self, id: impl Into<String>) -> Self {
        self.client_request_id = Some(id.into());
        self
    }
}

/// The end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEndEvent {
    pub status: RunStatus,
    /// The run error's kind (`RunError::kind`), when it failed.
    pub error: Option<String>,
    /// The run error's text, capped.
    pub message: Option<String>,
    pub calls: u64,
    pub denied: u64,
    pub failed: u64,
    /// Reads the host made to enforce the plugin's object scope: they
    /// reached the tenant on the run's behalf.
    pub scope_lookups: u64,
    pub duration: Duration,
    /// The folder the run's output files were written to.
    pub outputs: Option<String>,
}

impl RunEndEvent {
    /// A run that finished normally.
    pub fn ok() -> Self {
        RunEndEvent {
            status: RunStatus::Ok,
            error: None,
            message: None,
            calls: 0,
            denied: 0,
            failed: 0,
            scope_lookups: 0,
            duration: Duration::ZERO,
            outputs: None,
        }
    }

    /// A run that ended in an error of this kind.
    pub fn failed(kind: impl Into<String>, message: &str) -> Self {
        RunEndEvent {
            status: RunStatus::Failed,
            error: Some(kind.into()),
            message: Some(clean_message(message, &[])),
            ..RunEndEvent::ok()
        }
    }

    /// The reads the object scope made (see [`RunEndEvent::scope_lookups`]).
    pub fn scope_lookups(mut self, lookups: u64) -> Self {
        self.scope_lookups = lookups;
        self
    }

    /// Calls made, how many the gate denied, how many failed otherwise.
    pub fn counts(mut self, calls: u64, denied: u64, failed: u64) -> Self {
        self.calls = calls;
        self.denied = denied;
        self.failed = failed;
        self
    }

    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    pub fn outputs(mut self, folder: impl Into<String>) -> Self {
        self.outputs = Some(folder.into());
        self
    }
}

/// A shared plugin's install, upgrade, hold or refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageEvent {
    /// `install`, `upgrade`, `hold` (a widening upgrade waits for
    /// approval) or `refuse`.
    pub action: String,
    pub reference: String,
    /// The OCI manifest digest, when the artifact got that far.
    pub digest: Option<String>,
    /// `<publisher> (<key id>)`, or `unsigned`.
    pub signer: Option<String>,
    pub permissions: Option<String>,
    /// Why it was refused or held, capped.
    pub message: Option<String>,
}

/// A step of the app credential's life: a key made, registered, proved,
/// switched to, removed, or a step that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialEvent {
    /// `rotate-start`, `key-created`, `key-added`, `sign-in-verified`,
    /// `profile-switched`, `key-removed`, `rotate-failed`.
    pub action: String,
    /// The SHA-1 thumbprint of the certificate the step acted on.
    pub certificate: Option<String>,
    /// The key credential's id in the app registration.
    pub key_id: Option<String>,
    /// What happened, capped; never a secret.
    pub message: Option<String>,
}

/// An action taken through the automation service, allowed or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEvent {
    /// `run.start`, `run.cancel`, `plan.approve`, `plan.reject`,
    /// `schedule.fire`, `login`, ...
    pub action: String,
    /// What it acted on: `run/<id>`, `plan/<sha256>`, `schedule/<name>`,
    /// `user/<name>`.
    pub reference: Option<String>,
    /// `None` when allowed; the refusal's rule (`role`, `own-plan`,
    /// `plan-changed`, ...) when refused.
    pub refused: Option<String>,
    /// What happened, capped; never a secret.
    pub message: Option<String>,
}

/// One thing that happened in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    RunStart,
    /// A write about to be sent (its parameters; no outcome yet).
    Intent(CallEvent),
    Call(CallEvent),
    RunEnd(RunEndEvent),
    /// Not a run: `run` names the event and the plugin, with no tenant.
    Package(PackageEvent),
    /// Not a run: `run` names the rotation, the tenant and the app.
    Credential(CredentialEvent),
    /// Not necessarily a run: `operator` names the person or schedule
    /// behind an action of the automation service.
    Service(ServiceEvent),
}

/// What to append: a run and one of its events.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub run: &'a RunInfo,
    pub event: &'a Event,
}

impl<'a> Entry<'a> {
    pub fn new(run: &'a RunInfo, event: &'a Event) -> Self {
        Entry { run, event }
    }
}

/// The record for an entry, before it is sealed (`hash` empty).
#[cfg(test)]
pub(crate) fn to_record(entry: Entry<'_>, seq: u64, time: &str, prev: &str) -> crate::Record {
    to_record_ref(entry, seq, time, prev).to_owned_record()
}

/// The record for an entry, borrowing from it: what the log serializes, so
/// that a batch of call records is written without copying each run's
/// identity and each call's parameters into an owned [`crate::Record`].
pub(crate) fn to_record_ref<'a>(
    entry: Entry<'a>,
    seq: u64,
    time: &'a str,
    prev: &'a str,
) -> RecordRef<'a> {
    let run = entry.run;
    let mut record = RecordRef {
        seq,
        time,
        kind: Kind::RunStart,
        run_id: &run.run_id,
        plugin: &run.plugin,
        operator: &run.operator,
        tenant: &run.tenant,
        app_id: &run.app_id,
        mode: (run.mode != RunMode::Run).then_some(run.mode),
        plan: run.plan_sha256.as_deref(),
        policy: None,
        cmdlet: None,
        parameters: None,
        read_only: None,
        decision: None,
        rule: None,
        outcome: None,
        message: None,
        duration_ms: None,
        objects: None,
        client_request_id: None,
        status: None,
        error: None,
        calls: None,
        denied: None,
        failed: None,
        scope_lookups: None,
        outputs: None,
        action: None,
        reference: None,
        digest: None,
        signer: None,
        permissions: None,
        certificate: None,
        key_id: None,
        prev,
        hash: "",
    };
    match entry.event {
        Event::RunStart => record.policy = run.policy.as_deref(),
        Event::Intent(call) => {
            record.kind = Kind::Intent;
            record.cmdlet = Some(&call.cmdlet);
            record.parameters = Some(&call.parameters);
            record.read_only = Some(call.read_only);
            record.decision = Some(DecisionKind::Allowed);
            record.client_request_id = call.client_request_id.as_deref();
        }
        Event::Call(call) => {
            record.kind = Kind::Call;
            record.cmdlet = Some(&call.cmdlet);
            record.parameters = Some(&call.parameters);
            record.read_only = Some(call.read_only);
            match &call.decision {
                Decision::Allowed => record.decision = Some(DecisionKind::Allowed),
                Decision::Denied { rule } => {
                    record.decision = Some(DecisionKind::Denied);
                    record.rule = Some(rule);
                }
            }
            match &call.outcome {
                CallOutcome::Ok { objects } => {
                    record.outcome = Some("ok");
                    record.objects = Some(*objects);
                }
                CallOutcome::Failed { kind, message } => {
                    record.outcome = Some(kind);
                    record.message = Some(Cow::Borrowed(message));
                }
                CallOutcome::Planned => record.outcome = Some("planned"),
            }
            record.duration_ms = Some(millis(call.duration));
            record.client_request_id = call.client_request_id.as_deref();
        }
        Event::RunEnd(end) => {
            record.kind = Kind::RunEnd;
            record.status = Some(end.status);
            record.error = end.error.as_deref();
            record.message = end.message.as_deref().map(Cow::Borrowed);
            record.calls = Some(end.calls);
            record.denied = Some(end.denied);
            record.failed = Some(end.failed);
            record.scope_lookups = (end.scope_lookups > 0).then_some(end.scope_lookups);
            record.duration_ms = Some(millis(end.duration));
            record.outputs = end.outputs.as_deref();
        }
        Event::Package(package) => {
            record.kind = Kind::Package;
            record.action = Some(&package.action);
            record.reference = Some(&package.reference);
            record.digest = package.digest.as_deref();
            record.signer = package.signer.as_deref();
            record.permissions = package.permissions.as_deref();
            record.message = package
                .message
                .as_deref()
                .map(|m| Cow::Owned(clean_message(m, &[])));
        }
        Event::Service(service) => {
            record.kind = Kind::Service;
            record.action = Some(&service.action);
            record.reference = service.reference.as_deref();
            match &service.refused {
                None => record.decision = Some(DecisionKind::Allowed),
                Some(rule) => {
                    record.decision = Some(DecisionKind::Denied);
                    record.rule = Some(rule);
                }
            }
            record.message = service
                .message
                .as_deref()
                .map(|m| Cow::Owned(clean_message(m, &[])));
        }
        Event::Credential(credential) => {
            record.kind = Kind::Credential;
            record.action = Some(&credential.action);
            record.certificate = credential.certificate.as_deref();
            record.key_id = credential.key_id.as_deref();
            record.message = credential
                .message
                .as_deref()
                .map(|m| Cow::Owned(clean_message(m, &[])));
        }
    }
    record
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{PluginRef, Record};

    /// Every kind of event, with every optional field the kind can carry.
    fn events() -> Vec<Event> {
        let call = Call::new("Set-Mailbox")
            .param("Identity", "alice@contoso.com")
            .param("Password", "hunter2");
        vec![
            Event::RunStart,
            Event::Intent(CallEvent::new(&call, &[]).client_request_id("req-1")),
            Event::Call(
                CallEvent::new(&call, &["Identity"])
                    .outcome(Ok(3))
                    .duration(Duration::from_millis(12)),
            ),
            Event::Call(
                CallEvent::new(&call, &[])
                    .decision(Decision::Denied {
                        rule: "validate-set:Set-Mailbox/Identity".to_owned(),
                    })
                    .outcome(Err(&CmdletError::not_found("hunter2 was not found"))),
            ),
            Event::Call(CallEvent::new(&call, &[]).planned()),
            Event::RunEnd(
                RunEndEvent::failed("timeout", "ran out of time")
                    .counts(5, 1, 2)
                    .outputs("/tmp/out"),
            ),
            Event::RunEnd(RunEndEvent::ok()),
            Event::Package(PackageEvent {
                action: "install".to_owned(),
                reference: "registry.example/it/x:1.0.0".to_owned(),
                digest: Some(format!("sha256:{}", "ab".repeat(32))),
                signer: Some("Contoso IT (0123456789ABCDEF)".to_owned()),
                permissions: Some("cd".repeat(32)),
                message: Some("consented\u{1b}[2J at the prompt".to_owned()),
            }),
            Event::Service(ServiceEvent {
                action: "plan.approve".to_owned(),
                reference: Some(format!("plan/{}", "ef".repeat(32))),
                refused: Some("own-plan".to_owned()),
                message: Some("alice requested this plan".to_owned()),
            }),
            Event::Service(ServiceEvent {
                action: "run.start".to_owned(),
                reference: None,
                refused: None,
                message: None,
            }),
        ]
    }

    #[test]
    fn the_borrowed_record_serializes_exactly_as_the_owned_one() {
        let mut run = RunInfo::new(
            PluginRef {
                name: "p".to_owned(),
                version: "1.0.0".to_owned(),
                sha256: "ef".repeat(32),
            },
            "contoso.onmicrosoft.com",
            "app-id",
        );
        for mode in [RunMode::Run, RunMode::WhatIf, RunMode::Apply] {
            run = run.mode(mode).plan_sha256("01".repeat(32));
            for event in events() {
                let entry = Entry::new(&run, &event);
                let borrowed = to_record_ref(entry, 7, "2026-12-02T00:00:00.000Z", "00");
                let owned: Record = to_record(entry, 7, "2026-12-02T00:00:00.000Z", "00");
                assert_eq!(
                    serde_json::to_string(&borrowed).unwrap(),
                    serde_json::to_string(&owned).unwrap(),
                    "{event:?}"
                );
            }
        }
    }
}
