//! Runs, their logs and denials, and the plans that wait for approval.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Result, StoreError, now_text};

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The service stopped (or died) while the run was running; the run
    /// is not started again. `writes_unknown` says how many of its writes
    /// may or may not have reached the tenant.
    Interrupted,
    /// A what-if run of a two-person plugin whose plan waits for approval.
    AwaitingApproval,
    /// Its plan was approved; the apply is its own run (`apply_run`).
    Approved,
    Rejected,
    Expired,
    /// A scheduled slot skipped because the previous run still ran.
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
            RunStatus::AwaitingApproval => "awaiting-approval",
            RunStatus::Approved => "approved",
            RunStatus::Rejected => "rejected",
            RunStatus::Expired => "expired",
            RunStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::Interrupted,
            RunStatus::AwaitingApproval,
            RunStatus::Approved,
            RunStatus::Rejected,
            RunStatus::Expired,
            RunStatus::Skipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::Queued | RunStatus::Running | RunStatus::AwaitingApproval
        )
    }
}

/// A run being asked for.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: String,
    pub plugin: String,
    pub tenant: String,
    /// `run`, `what-if` or `apply`.
    pub mode: String,
    pub requested_by: String,
    pub schedule: Option<String>,
    pub slot: Option<String>,
    /// The inputs as shown (sensitive values redacted): what the history
    /// keeps. The values themselves stay in memory with the queue.
    pub inputs_shown: Vec<(String, String)>,
    pub apply_of: Option<String>,
}

/// A run as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunRow {
    pub seq: i64,
    pub id: String,
    pub plugin: String,
    pub tenant: String,
    pub mode: String,
    pub requested_by: String,
    pub schedule: Option<String>,
    pub slot: Option<String>,
    pub inputs: serde_json::Value,
    pub status: RunStatus,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub plugin_version: Option<String>,
    pub plugin_sha256: Option<String>,
    pub calls: i64,
    pub denied: i64,
    pub failed: i64,
    pub objects: i64,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub writes_unknown: i64,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    #[serde(skip)]
    pub output: Option<String>,
    pub outputs_folder: Option<String>,
    pub plan_id: Option<String>,
    pub apply_of: Option<String>,
    pub cancelled_by: Option<String>,
    /// The worker that ran it, for a run taken from the NATS queue.
    pub worker: Option<String>,
}

const RUN_COLUMNS: &str = "seq, id, plugin, tenant, mode, requested_by, schedule, slot, inputs, status, created_at, started_at, ended_at, plugin_version, plugin_sha256, calls, denied, failed, objects, progress_done, progress_total, writes_unknown, error_kind, error_message, output, outputs_folder, plan_id, apply_of, cancelled_by, worker";

fn run_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let inputs: String = r.get(8)?;
    let status: String = r.get(9)?;
    Ok(RunRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        plugin: r.get(2)?,
        tenant: r.get(3)?,
        mode: r.get(4)?,
        requested_by: r.get(5)?,
        schedule: r.get(6)?,
        slot: r.get(7)?,
        inputs: serde_json::from_str(&inputs).unwrap_or(serde_json::Value::Null),
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        created_at: r.get(10)?,
        started_at: r.get(11)?,
        ended_at: r.get(12)?,
        plugin_version: r.get(13)?,
        plugin_sha256: r.get(14)?,
        calls: r.get(15)?,
        denied: r.get(16)?,
        failed: r.get(17)?,
        objects: r.get(18)?,
        progress_done: r.get(19)?,
        progress_total: r.get(20)?,
        writes_unknown: r.get(21)?,
        error_kind: r.get(22)?,
        error_message: r.get(23)?,
        output: r.get(24)?,
        outputs_folder: r.get(25)?,
        plan_id: r.get(26)?,
        apply_of: r.get(27)?,
        cancelled_by: r.get(28)?,
        worker: r.get(29)?,
    })
}

fn inputs_json(inputs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Adds a run to the queue (status `queued`, or `skipped` for a slot whose
/// run was skipped).
pub fn insert_run(conn: &Connection, run: &NewRun, status: RunStatus) -> Result<i64> {
    conn.execute(
        "INSERT INTO runs (id, plugin, tenant, mode, requested_by, schedule, slot, inputs, status, created_at, apply_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            run.id,
            run.plugin,
            run.tenant,
            run.mode,
            run.requested_by,
            run.schedule,
            run.slot,
            inputs_json(&run.inputs_shown),
            status.as_str(),
            now_text(),
            run.apply_of,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn get_run(conn: &Connection, id: &str) -> Result<Option<RunRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_from,
        )
        .optional()?)
}

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub plugin: Option<String>,
    pub tenant: Option<String>,
    pub schedule: Option<String>,
    /// Runs with a `seq` below this (paging backwards).
    pub before: Option<i64>,
    pub limit: u32,
}

pub fn list_runs(conn: &Connection, filter: &RunFilter) -> Result<Vec<RunRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR plugin = ?2)
           AND (?3 IS NULL OR tenant = ?3) AND (?4 IS NULL OR schedule = ?4)
           AND (?5 IS NULL OR seq < ?5)
         ORDER BY seq DESC LIMIT ?6"
    ))?;
    let rows = stmt.query_map(
        params![
            filter.status.map(RunStatus::as_str),
            filter.plugin,
            filter.tenant,
            filter.schedule,
            filter.before,
            filter.limit.clamp(1, 1000),
        ],
        run_from,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs still waiting to start, oldest first: the queue after a restart.
pub fn queued_runs(conn: &Connection) -> Result<Vec<RunRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'queued' ORDER BY seq"
    ))?;
    let rows = stmt.query_map([], run_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Moves a queued run to `running`. `false` when it was no longer queued
/// (cancelled meanwhile, or taken by someone else): it must not start.
/// `runner`: the service instance (`serve:<name>`) when several share the
/// history.
pub fn claim_run(
    conn: &Connection,
    id: &str,
    version: &str,
    sha256: &str,
    runner: Option<&str>,
) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE runs SET status = 'running', started_at = ?2, plugin_version = ?3, plugin_sha256 = ?4,
             worker = ?5
         WHERE id = ?1 AND status = 'queued'",
        params![id, now_text(), version, sha256, runner],
    )?;
    Ok(changed == 1)
}

/// Moves a run a worker took to `running`, naming the worker: from
/// `queued`, or from `running` when a second worker took it over after the
/// first stopped answering. `false` when the run has ended (cancelled
/// meanwhile): its events no longer change it.
pub fn claim_run_by_worker(
    conn: &Connection,
    id: &str,
    worker: &str,
    version: &str,
    sha256: &str,
) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?2), plugin_version = ?3,
             plugin_sha256 = ?4, worker = ?5
         WHERE id = ?1 AND status IN ('queued', 'running')",
        params![id, now_text(), version, sha256, worker],
    )?;
    Ok(changed == 1)
}

/// Runs running now, by tenant, wherever they run (the service or its
/// workers).
pub fn running_by_tenant(conn: &Connection) -> Result<std::collections::HashMap<String, u32>> {
    let mut stmt = conn.prepare_cached(
        "SELECT tenant, COUNT(*) FROM runs WHERE status = 'running' GROUP BY tenant",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What a run did since the last time: its counts, new log lines and
/// denials (a service's own run, or a worker's progress event).
pub fn record_progress(
    conn: &mut Connection,
    id: &str,
    counts: &RunCounts,
    logs: &[LogRow],
    denials: &[Denial],
) -> Result<()> {
    update_progress(conn, id, counts)?;
    if !logs.is_empty() {
        append_logs(conn, id, logs)?;
    }
    for d in denials {
        add_denial(conn, id, d)?;
    }
    Ok(())
}

/// Counts of a run so far, for live progress and the end.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct RunCounts {
    pub calls: i64,
    pub denied: i64,
    pub failed: i64,
    pub objects: i64,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub writes_unknown: i64,
}

pub fn update_progress(conn: &Connection, id: &str, counts: &RunCounts) -> Result<()> {
    conn.execute(
        "UPDATE runs SET calls = ?2, denied = ?3, failed = ?4, objects = ?5, progress_done = ?6, progress_total = ?7
         WHERE id = ?1 AND status = 'running'",
        params![
            id,
            counts.calls,
            counts.denied,
            counts.failed,
            counts.objects,
            counts.progress_done,
            counts.progress_total,
        ],
    )?;
    Ok(())
}

/// How a run ended, to record.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RunEnd {
    pub status: RunStatus,
    pub counts: RunCounts,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub output: Option<String>,
    pub outputs_folder: Option<String>,
    pub plan_id: Option<String>,
}

impl RunEnd {
    /// A run that failed with an error of this kind before it ended well.
    pub fn failed(kind: &str, message: String, counts: RunCounts) -> RunEnd {
        RunEnd {
            status: RunStatus::Failed,
            counts,
            error_kind: Some(kind.to_owned()),
            error_message: Some(message),
            output: None,
            outputs_folder: None,
            plan_id: None,
        }
    }
}

pub fn finish_run(conn: &Connection, id: &str, end: &RunEnd) -> Result<()> {
    conn.execute(
        "UPDATE runs SET status = ?2, ended_at = ?3, calls = ?4, denied = ?5, failed = ?6, objects = ?7,
             progress_done = ?8, progress_total = ?9, writes_unknown = ?10, error_kind = ?11,
             error_message = ?12, output = ?13, outputs_folder = ?14, plan_id = ?15
         WHERE id = ?1",
        params![
            id,
            end.status.as_str(),
            now_text(),
            end.counts.calls,
            end.counts.denied,
            end.counts.failed,
            end.counts.objects,
            end.counts.progress_done,
            end.counts.progress_total,
            end.counts.writes_unknown,
            end.error_kind,
            end.error_message,
            end.output,
            end.outputs_folder,
            end.plan_id,
        ],
    )?;
    Ok(())
}

/// Cancels a run that has not started. `false` when it was not queued.
pub fn cancel_queued(conn: &Connection, id: &str, by: &str) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE runs SET status = 'cancelled', ended_at = ?2, cancelled_by = ?3,
             error_kind = 'cancelled', error_message = ?4
         WHERE id = ?1 AND status = 'queued'",
        params![
            id,
            now_text(),
            by,
            format!("cancelled by {by} before it started")
        ],
    )?;
    Ok(changed == 1)
}

pub fn mark_cancel_requested(conn: &Connection, id: &str, by: &str) -> Result<()> {
    conn.execute(
        "UPDATE runs SET cancelled_by = ?2 WHERE id = ?1",
        params![id, by],
    )?;
    Ok(())
}

/// Runs left `running` by a service that died: they are not started
/// again. Returns their ids. `runner`: this instance's name when several
/// share the history; only its own runs are its to end (a worker's run is
/// the queue's to deliver again, another instance's is that instance's).
pub fn interrupt_running(conn: &Connection, runner: Option<&str>) -> Result<Vec<String>> {
    let mine = "status = 'running' AND (worker IS NULL OR worker = ?1)";
    let runner = runner.unwrap_or("");
    let mut stmt = conn.prepare(&format!("SELECT id FROM runs WHERE {mine}"))?;
    let ids: Vec<String> = stmt
        .query_map([runner], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute(
        &format!("UPDATE runs SET status = 'interrupted', ended_at = ?2, error_kind = 'interrupted',
             error_message = 'the service stopped while the run was running; it is not started again (see the audit trail for writes whose outcome is unknown)'
         WHERE {mine}"),
        params![runner, now_text()],
    )?;
    Ok(ids)
}

pub fn set_status(
    conn: &Connection,
    id: &str,
    status: RunStatus,
    message: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE runs SET status = ?2, ended_at = COALESCE(ended_at, ?3), error_message = COALESCE(?4, error_message) WHERE id = ?1",
        params![id, status.as_str(), now_text(), message],
    )?;
    Ok(())
}

/// One log line of a run.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct LogRow {
    pub seq: i64,
    pub time: String,
    pub level: String,
    pub line: String,
}

pub fn append_logs(conn: &mut Connection, run_id: &str, lines: &[LogRow]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO run_logs (run_id, seq, time, level, line) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for l in lines {
            stmt.execute(params![run_id, l.seq, l.time, l.level, l.line])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn logs(conn: &Connection, run_id: &str, after: i64, limit: u32) -> Result<Vec<LogRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time, level, line FROM run_logs WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![run_id, after, limit.clamp(1, 10_000)], |r| {
        Ok(LogRow {
            seq: r.get(0)?,
            time: r.get(1)?,
            level: r.get(2)?,
            line: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A call the gate (or the scope) refused.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Denial {
    pub seq: i64,
    pub cmdlet: String,
    pub rule: String,
    pub message: String,
}

pub fn add_denial(conn: &Connection, run_id: &str, d: &Denial) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO denials (run_id, seq, cmdlet, rule, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![run_id, d.seq, d.cmdlet, d.rule, d.message],
    )?;
    Ok(())
}

pub fn denials(conn: &Connection, run_id: &str) -> Result<Vec<Denial>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, cmdlet, rule, message FROM denials WHERE run_id = ?1 ORDER BY seq LIMIT 1000",
    )?;
    let rows = stmt.query_map([run_id], |r| {
        Ok(Denial {
            seq: r.get(0)?,
            cmdlet: r.get(1)?,
            rule: r.get(2)?,
            message: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Where a plan is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Pending => "pending",
            PlanStatus::Approved => "approved",
            PlanStatus::Rejected => "rejected",
            PlanStatus::Expired => "expired",
        }
    }

    fn parse(text: &str) -> PlanStatus {
        match text {
            "pending" => PlanStatus::Pending,
            "approved" => PlanStatus::Approved,
            "rejected" => PlanStatus::Rejected,
            _ => PlanStatus::Expired,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanRow {
    /// The plan file's SHA-256.
    pub id: String,
    pub run_id: String,
    pub plugin: String,
    pub tenant: String,
    pub requested_by: String,
    pub calls: i64,
    pub created_at: String,
    pub expires_at: String,
    pub status: PlanStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub reason: Option<String>,
    pub apply_run_id: Option<String>,
}

const PLAN_COLUMNS: &str = "id, run_id, plugin, tenant, requested_by, calls, created_at, expires_at, status, decided_by, decided_at, reason, apply_run_id";

fn plan_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlanRow> {
    let status: String = r.get(8)?;
    Ok(PlanRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        plugin: r.get(2)?,
        tenant: r.get(3)?,
        requested_by: r.get(4)?,
        calls: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        status: PlanStatus::parse(&status),
        decided_by: r.get(9)?,
        decided_at: r.get(10)?,
        reason: r.get(11)?,
        apply_run_id: r.get(12)?,
    })
}

pub fn insert_plan(conn: &Connection, plan: &PlanRow) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO plans ({PLAN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            plan.id,
            plan.run_id,
            plan.plugin,
            plan.tenant,
            plan.requested_by,
            plan.calls,
            plan.created_at,
            plan.expires_at,
            plan.status.as_str(),
            plan.decided_by,
            plan.decided_at,
            plan.reason,
            plan.apply_run_id,
        ],
    )?;
    Ok(())
}

pub fn get_plan(conn: &Connection, id: &str) -> Result<Option<PlanRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?1"),
            [id],
            plan_from,
        )
        .optional()?)
}

pub fn list_plans(conn: &Connection, status: Option<PlanStatus>) -> Result<Vec<PlanRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PLAN_COLUMNS} FROM plans WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at DESC LIMIT 500"
    ))?;
    let rows = stmt.query_map([status.map(PlanStatus::as_str)], plan_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a decision on a pending plan, and (when approved) queues the
/// apply run in the same transaction, so an approval never exists without
/// its apply nor an apply without its approval.
pub fn decide_plan(
    conn: &mut Connection,
    id: &str,
    status: PlanStatus,
    by: &str,
    reason: Option<&str>,
    apply: Option<&NewRun>,
) -> Result<()> {
    let tx = conn.transaction()?;
    let changed = tx.execute(
        "UPDATE plans SET status = ?2, decided_by = ?3, decided_at = ?4, reason = ?5, apply_run_id = ?6
         WHERE id = ?1 AND status = 'pending'",
        params![
            id,
            status.as_str(),
            by,
            now_text(),
            reason,
            apply.map(|a| a.id.as_str())
        ],
    )?;
    if changed != 1 {
        return Err(StoreError::Conflict(format!(
            "plan {id} is no longer pending; it was decided meanwhile"
        )));
    }
    let run_status = match status {
        PlanStatus::Approved => RunStatus::Approved,
        PlanStatus::Rejected => RunStatus::Rejected,
        PlanStatus::Expired => RunStatus::Expired,
        PlanStatus::Pending => RunStatus::AwaitingApproval,
    };
    tx.execute(
        "UPDATE runs SET status = ?2 WHERE plan_id = ?1 AND status = 'awaiting-approval'",
        params![id, run_status.as_str()],
    )?;
    if let Some(apply) = apply {
        insert_run(&tx, apply, RunStatus::Queued)?;
    }
    tx.commit()?;
    Ok(())
}

/// Plans past their expiry: marked expired, with their what-if runs.
pub fn expire_plans(conn: &mut Connection, now: &str) -> Result<Vec<PlanRow>> {
    let expired: Vec<PlanRow> = {
        let mut stmt = conn.prepare(&format!(
            "SELECT {PLAN_COLUMNS} FROM plans WHERE status = 'pending' AND expires_at <= ?1"
        ))?;
        stmt.query_map([now], plan_from)?
            .collect::<rusqlite::Result<_>>()?
    };
    for plan in &expired {
        decide_plan(
            conn,
            &plan.id,
            PlanStatus::Expired,
            "service",
            Some("nobody decided before the plan expired"),
            None,
        )?;
    }
    Ok(expired)
}

/// Forgets finished runs (and their logs and denials) that ended before
/// `before`. Runs waiting or running are kept whatever their age.
pub fn purge(conn: &mut Connection, before: &str) -> Result<usize> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE ended_at < ?1 AND status NOT IN ('queued','running','awaiting-approval'))",
        [before],
    )?;
    tx.execute(
        "DELETE FROM denials WHERE run_id IN (SELECT id FROM runs WHERE ended_at < ?1 AND status NOT IN ('queued','running','awaiting-approval'))",
        [before],
    )?;
    let n = tx.execute(
        "DELETE FROM runs WHERE ended_at < ?1 AND status NOT IN ('queued','running','awaiting-approval')",
        [before],
    )?;
    tx.execute(
        "DELETE FROM plans WHERE status != 'pending' AND created_at < ?1",
        [before],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Inputs as the history keeps them (a JSON object of strings), back as
/// the `name=value` pairs a run is given.
pub fn input_pairs(inputs: &serde_json::Value) -> Vec<(String, String)> {
    inputs
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}
