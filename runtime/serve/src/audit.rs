//! The service's own records in the audit trail: every API action and
//! every schedule firing, allowed or refused, naming the person or
//! schedule behind it. They go into the same hash-chained log as the runs'
//! records, and carry the run's id when they concern a run, so one query
//! by run id shows who asked, who approved and every call it made.

use std::path::{Path, PathBuf};

use exorun_audit::{AuditLog, Entry, Event, PluginRef, RunInfo, ServiceEvent};

/// Appends service records to the audit log.
#[derive(Clone, Debug)]
pub struct ServiceAudit {
    path: PathBuf,
}

/// One action to record.
#[derive(Clone, Debug, Default)]
pub struct Action<'a> {
    /// `user:alice`, `schedule:nightly`, `service`.
    pub actor: &'a str,
    pub action: &'a str,
    /// The run it concerns (its records join on this id).
    pub run_id: Option<&'a str>,
    pub plugin: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub reference: Option<String>,
    /// The refusal's rule, when refused.
    pub refused: Option<&'a str>,
    pub message: Option<String>,
}

impl ServiceAudit {
    pub fn new(path: &Path) -> Self {
        ServiceAudit {
            path: path.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the record on a blocking thread. An error is returned to
    /// the caller, which refuses the action it was about to take: nothing
    /// happens through the service that the trail does not show.
    pub async fn record(&self, action: Action<'_>) -> Result<(), String> {
        let run = RunInfo::new(
            PluginRef {
                name: action.plugin.unwrap_or_default().to_owned(),
                version: String::new(),
                sha256: String::new(),
            },
            action.tenant.unwrap_or_default(),
            "",
        )
        .operator(action.actor)
        .run_id(
            action
                .run_id
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        );
        let event = Event::Service(ServiceEvent {
            action: action.action.to_owned(),
            reference: action.reference,
            refused: action.refused.map(str::to_owned),
            message: action.message,
        });
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut log = AuditLog::open(&path).map_err(|e| e.to_string())?;
            log.append(Entry::new(&run, &event))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// The audit trail's verification as the API and the dashboard show it.
pub async fn verify_json(path: &Path) -> serde_json::Value {
    let path = path.to_owned();
    let result = tokio::task::spawn_blocking(move || {
        if !path.exists() {
            return Ok(None);
        }
        exorun_audit::verify(&path).map(Some)
    })
    .await;
    match result {
        Ok(Ok(None)) => serde_json::json!({"ok": true, "records": 0}),
        Ok(Ok(Some(summary))) => serde_json::json!({
            "ok": true,
            "records": summary.records,
            "last": {"seq": summary.last.seq, "hash": summary.last.hash},
            "torn_lines": summary.torn_count,
            "unfinished_runs": summary.unfinished.iter().map(|u| serde_json::json!({
                "run_id": u.run_id,
                "unknown_writes": u.unknown_writes(),
            })).collect::<Vec<_>>(),
        }),
        Ok(Err(e)) => serde_json::json!({"ok": false, "error": e.to_string()}),
        Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
    }
}
