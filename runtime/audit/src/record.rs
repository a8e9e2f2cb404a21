//! One line of the audit trail, as it is written and read back.
//!
//! A single flat struct rather than an enum per kind: every line must carry
//! the same chain fields in the same order, serde's `flatten` would slow the
//! reader down, and a reader that meets a newer kind still gets the common
//! fields. Fields that a kind does not use are left out of the JSON.

use std::borrow::Cow;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    RunStart,
    /// A call that changes the tenant, written and fsynced before it is
    /// sent; its `call` record follows once it ends.
    Intent,
    Call,
    RunEnd,
    /// A shared plugin installed, upgraded, held for approval, approved or
    /// refused (`exorun install`, `exorun upgrade`); its `runId` is the
    /// event's own id, and it has no tenant.
    Package,
    /// A step of the app credential's life (`exorun cert rotate`): every
    /// step of one rotation shares its `runId`.
    Credential,
    /// An action taken through the automation service (`exorun serve`):
    /// who (`operator`: `user:alice`, `schedule:nightly`) did what
    /// (`action`) to which object (`reference`), allowed or refused (with
    /// the `rule`). Its `runId` is the run it concerns, so it joins that
    /// run's own records; otherwise the action's own id.
    Service,
}

/// Which plugin build ran: the manifest's name and version and the SHA-256
/// of the component, so a record names exactly the code that acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// Why a run happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// `exorun run`: every allowed call is sent.
    #[default]
    Run,
    /// `exorun run --what-if`: reads are sent, writes are captured into a
    /// plan (their outcome is `planned`).
    WhatIf,
    /// `exorun apply`: the calls of a reviewed plan, sent.
    Apply,
}

/// The policy gate's decision on a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    Allowed,
    Denied,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Ok,
    Failed,
}

/// A call's parameters, name to value, in the order the plugin bound them.
///
/// A list of pairs rather than a map so that the written order does not
/// depend on whether some other crate in the build turned on serde_json's
/// `preserve_order`; it is written as a JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parameters(pub Vec<(String, serde_json::Value)>);

impl Parameters {
    /// The value of a parameter, by exact name.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Parameters;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of parameter names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parameters, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Parameters(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

/// One audit record. Serialized as one line of camelCase JSON with the fields
/// in declaration order; `prev` and `hash` are always the last two, which the
/// hash chain depends on (see the crate docs, "Format").
///
/// Serialized through [`RecordRef`], the one place the written form (field
/// order, names, omitted fields) is declared.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// 1 for the first record of the file, then one more per record.
    pub seq: u64,
    /// When the record was appended, RFC 3339 UTC with milliseconds.
    pub time: String,
    pub kind: Kind,
    pub run_id: String,
    pub plugin: PluginRef,
    /// The local account that started the run.
    pub operator: String,
    pub tenant: String,
    pub app_id: String,
    /// Absent for a plain run.
    #[serde(default)]
    pub mode: Option<RunMode>,
    /// SHA-256 of the plan file a what-if run wrote or an apply executed.
    #[serde(default)]
    pub plan: Option<String>,
    /// The operator policy files a run was narrowed by, as
    /// `label sha256:<hex>` joined with `; ` (run-start records only).
    #[serde(default)]
    pub policy: Option<String>,

    // Calls.
    #[serde(default)]
    pub cmdlet: Option<String>,
    /// Values of sensitive parameters are `"<redacted>"`.
    #[serde(default)]
    pub parameters: Option<Parameters>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub decision: Option<DecisionKind>,
    /// The manifest rule that denied the call.
    #[serde(default)]
    pub rule: Option<String>,
    /// `"ok"`, `"planned"` (what-if) or the error kind (`"not-found"`,
    /// `"outcome-unknown"`, ...).
    #[serde(default)]
    pub outcome: Option<String>,
    /// The error text, capped and with sensitive values removed.
    #[serde(default)]
    pub message: Option<String>,
    /// How long the call (or, on run-end, the run) took.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Objects returned by a call that succeeded.
    #[serde(default)]
    pub objects: Option<u64>,
    /// The id sent to Exchange with the call, to join with Exchange's logs.
    #[serde(default)]
    pub client_request_id: Option<String>,

    // Run end.
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// The run error's kind (`"timeout"`, `"plugin-error"`, ...).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub calls: Option<u64>,
    #[serde(default)]
    pub denied: Option<u64>,
    #[serde(default)]
    pub failed: Option<u64>,
    /// Reads the host made to enforce the plugin's object scope (only
    /// when it made any).
    #[serde(default)]
    pub scope_lookups: Option<u64>,
    /// The folder the run's output files went to.
    #[serde(default)]
    pub outputs: Option<String>,

    // Package events.
    /// `install`, `upgrade`, `hold`, `refuse`.
    #[serde(default)]
    pub action: Option<String>,
    /// Where the plugin came from: a registry reference or a bundle file.
    #[serde(default)]
    pub reference: Option<String>,
    /// The OCI manifest digest (`sha256:…`), which covers the component and
    /// the plugin's manifest.
    #[serde(default)]
    pub digest: Option<String>,
    /// Who signed it: `<publisher> (<key id>)`, or `unsigned`.
    #[serde(default)]
    pub signer: Option<String>,
    /// SHA-256 of the permissions the operator granted.
    #[serde(default)]
    pub permissions: Option<String>,

    // Credential events.
    /// The SHA-1 thumbprint of the certificate a step acted on.
    #[serde(default)]
    pub certificate: Option<String>,
    /// The key credential's id in the app registration.
    #[serde(default)]
    pub key_id: Option<String>,

    /// Hex SHA-256 of the previous line's bytes, 64 zeros for the first.
    pub prev: String,
    /// Hex SHA-256 of this record's canonical bytes; empty only while the
    /// record is being sealed, which is why it is skipped when empty.
    pub hash: String,
}

/// The longest line the log writes or reads. Far above any real record
/// (messages are capped at 1 KiB), it bounds the memory a reader spends on
/// a hostile file with no newlines.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A [`Record`] borrowing its strings (from the run and the event, or from
/// a `Record`): the one serialized form of a record. A record being sealed
/// has an empty `hash`, which is left out, so it serializes to exactly the
/// canonical bytes the chain hashes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordRef<'a> {
    pub seq: u64,
    pub time: &'a str,
    pub kind: Kind,
    pub run_id: &'a str,
    pub plugin: &'a PluginRef,
    pub operator: &'a str,
    pub tenant: &'a str,
    pub app_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<RunMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdlet: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<&'a Parameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_lookups: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<&'a str>,
    pub prev: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub hash: &'a str,
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RecordRef::from(self).serialize(serializer)
    }
}

impl<'a> From<&'a Record> for RecordRef<'a> {
    fn from(r: &'a Record) -> Self {
        RecordRef {
            seq: r.seq,
            time: &r.time,
            kind: r.kind,
            run_id: &r.run_id,
            plugin: &r.plugin,
            operator: &r.operator,
            tenant: &r.tenant,
            app_id: &r.app_id,
            mode: r.mode,
            plan: r.plan.as_deref(),
            policy: r.policy.as_deref(),
            cmdlet: r.cmdlet.as_deref(),
            parameters: r.parameters.as_ref(),
            read_only: r.read_only,
            decision: r.decision,
            rule: r.rule.as_deref(),
            outcome: r.outcome.as_deref(),
            message: r.message.as_deref().map(Cow::Borrowed),
            duration_ms: r.duration_ms,
            objects: r.objects,
            client_request_id: r.client_request_id.as_deref(),
            status: r.status,
            error: r.error.as_deref(),
            calls: r.calls,
            denied: r.denied,
            failed: r.failed,
            scope_lookups: r.scope_lookups,
            outputs: r.outputs.as_deref(),
            action: r.action.as_deref(),
            reference: r.reference.as_deref(),
            digest: r.digest.as_deref(),
            signer: r.signer.as_deref(),
            permissions: r.permissions.as_deref(),
            certificate: r.certificate.as_deref(),
            key_id: r.key_id.as_deref(),
            prev: &r.prev,
            hash: &r.hash,
        }
    }
}

impl RecordRef<'_> {
    /// The owned record.
    pub fn to_owned_record(&self) -> Record {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Record {
            seq: self.seq,
            time: self.time.to_owned(),
            kind: self.kind,
            run_id: self.run_id.to_owned(),
            plugin: self.plugin.clone(),
            operator: self.operator.to_owned(),
            tenant: self.tenant.to_owned(),
            app_id: self.app_id.to_owned(),
            mode: self.mode,
            plan: own(self.plan),
            policy: own(self.policy),
            cmdlet: own(self.cmdlet),
            parameters: self.parameters.cloned(),
            read_only: self.read_only,
            decision: self.decision,
            rule: own(self.rule),
            outcome: own(self.outcome),
            message: own(self.message.as_deref()),
            duration_ms: self.duration_ms,
            objects: self.objects,
            client_request_id: own(self.client_request_id),
            status: self.status,
            error: own(self.error),
            calls: self.calls,
            denied: self.denied,
            failed: self.failed,
            scope_lookups: self.scope_lookups,
            outputs: own(self.outputs),
            action: own(self.action),
            reference: own(self.reference),
            digest: own(self.digest),
            signer: own(self.signer),
            permissions: own(self.permissions),
            certificate: own(self.certificate),
            key_id: own(self.key_id),
            prev: self.prev.to_owned(),
            hash: self.hash.to_owned(),
        }
    }
}
