//! Schedules and the slots they handled.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::runs::{NewRun, RunStatus, insert_run};
use super::{Result, StoreError, now_text};

#[derive(Clone, Debug, Serialize)]
pub struct ScheduleRow {
    pub name: String,
    pub plugin: String,
    pub tenant: String,
    pub cron: String,
    pub time_zone: String,
    pub overlap: String,
    pub catch_up_secs: i64,
    pub jitter_secs: i64,
    pub inputs: serde_json::Value,
    pub enabled: bool,
    /// `config` (serve.toml) or `api`.
    pub source: String,
    pub cursor: Option<String>,
}

const COLUMNS: &str = "name, plugin, tenant, cron, time_zone, overlap, catch_up_secs, jitter_secs, inputs, enabled, source, cursor";

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    let inputs: String = r.get(8)?;
    Ok(ScheduleRow {
        name: r.get(0)?,
        plugin: r.get(1)?,
        tenant: r.get(2)?,
        cron: r.get(3)?,
        time_zone: r.get(4)?,
        overlap: r.get(5)?,
        catch_up_secs: r.get(6)?,
        jitter_secs: r.get(7)?,
        inputs: serde_json::from_str(&inputs).unwrap_or(serde_json::Value::Null),
        enabled: r.get::<_, i64>(9)? != 0,
        source: r.get(10)?,
        cursor: r.get(11)?,
    })
}

pub fn list_schedules(conn: &Connection) -> Result<Vec<ScheduleRow>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))?;
    let rows = stmt.query_map([], row_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get_schedule(conn: &Connection, name: &str) -> Result<Option<ScheduleRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1"),
            [name],
            row_from,
        )
        .optional()?)
}

/// Adds or replaces a schedule's definition, keeping its cursor (so a
/// restart with the same serve.toml fires nothing twice). A schedule added
/// through the API may not be replaced by one of another source.
pub fn put_schedule(conn: &Connection, s: &ScheduleRow) -> Result<()> {
    if let Some(existing) = get_schedule(conn, &s.name)?
        && existing.source != s.source
    {
        return Err(StoreError::Conflict(format!(
            "schedule '{}' is defined by {} already",
            s.name,
            if existing.source == "config" {
                "serve.toml"
            } else {
                "the API"
            }
        )));
    }
    conn.execute(
        &format!(
            "INSERT INTO schedules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)
             ON CONFLICT(name) DO UPDATE SET plugin = excluded.plugin, tenant = excluded.tenant,
                 cron = excluded.cron, time_zone = excluded.time_zone, overlap = excluded.overlap,
                 catch_up_secs = excluded.catch_up_secs, jitter_secs = excluded.jitter_secs,
                 inputs = excluded.inputs, enabled = excluded.enabled"
        ),
        params![
            s.name,
            s.plugin,
            s.tenant,
            s.cron,
            s.time_zone,
            s.overlap,
            s.catch_up_secs,
            s.jitter_secs,
            s.inputs.to_string(),
            s.enabled as i64,
            s.source,
        ],
    )?;
    Ok(())
}

/// Removes config schedules no longer in serve.toml.
pub fn remove_config_schedules_except(conn: &Connection, keep: &[String]) -> Result<Vec<String>> {
    let existing: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM schedules WHERE source = 'config'")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut removed = Vec::new();
    for name in existing {
        if !keep.contains(&name) {
            conn.execute("DELETE FROM schedules WHERE name = ?1", [&name])?;
            removed.push(name);
        }
    }
    Ok(removed)
}

pub fn delete_schedule(conn: &Connection, name: &str) -> Result<()> {
    let Some(existing) = get_schedule(conn, name)? else {
        return Err(StoreError::NotFound(format!(
            "there is no schedule '{name}'"
        )));
    };
    if existing.source == "config" {
        return Err(StoreError::Conflict(format!(
            "schedule '{name}' is defined in serve.toml; remove it there"
        )));
    }
    conn.execute("DELETE FROM schedules WHERE name = ?1", [name])?;
    Ok(())
}

pub fn set_enabled(conn: &Connection, name: &str, enabled: bool) -> Result<()> {
    let changed = conn.execute(
        "UPDATE schedules SET enabled = ?2 WHERE name = ?1",
        params![name, enabled as i64],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!(
            "there is no schedule '{name}'"
        )));
    }
    Ok(())
}

pub fn set_cursor(conn: &Connection, name: &str, cursor: &str) -> Result<()> {
    conn.execute(
        "UPDATE schedules SET cursor = ?2 WHERE name = ?1 AND (cursor IS NULL OR cursor < ?2)",
        params![name, cursor],
    )?;
    Ok(())
}

/// What became of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FireOutcome {
    /// Its run was queued.
    Queued,
    /// The previous run still ran and the overlap policy is skip.
    Skipped,
    /// Slots missed while the service was down, beyond the catch-up window.
    Missed,
    /// Another instance (or an earlier life of this one) handled it.
    AlreadyHandled,
}

impl FireOutcome {
    fn as_str(self) -> &'static str {
        match self {
            FireOutcome::Queued => "queued",
            FireOutcome::Skipped => "skipped",
            FireOutcome::Missed => "missed",
            FireOutcome::AlreadyHandled => "already-handled",
        }
    }
}

/// Runs of this schedule that are queued or running.
pub fn active_runs(conn: &Connection, schedule: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM runs WHERE schedule = ?1 AND status IN ('queued', 'running') ORDER BY seq",
    )?;
    let rows = stmt.query_map([schedule], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Handles one slot in one transaction: the slot's row (whose primary key
/// makes it once-only), the cursor, and the run when one is queued.
pub fn fire(
    conn: &mut Connection,
    schedule: &str,
    slot: &str,
    outcome: FireOutcome,
    run: Option<&NewRun>,
) -> Result<FireOutcome> {
    let tx = conn.transaction()?;
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO schedule_fires (schedule, slot, fired_at, outcome, run_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            schedule,
            slot,
            now_text(),
            outcome.as_str(),
            run.map(|r| r.id.as_str())
        ],
    )?;
    tx.execute(
        "UPDATE schedules SET cursor = ?2 WHERE name = ?1 AND (cursor IS NULL OR cursor < ?2)",
        params![schedule, slot],
    )?;
    if inserted == 0 {
        tx.commit()?;
        return Ok(FireOutcome::AlreadyHandled);
    }
    if let Some(run) = run {
        let status = match outcome {
            FireOutcome::Queued => RunStatus::Queued,
            _ => RunStatus::Skipped,
        };
        insert_run(&tx, run, status)?;
    }
    tx.commit()?;
    Ok(outcome)
}

/// How many slots a schedule fired, by outcome (for the dashboard).
pub fn fire_counts(conn: &Connection, schedule: &str) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT outcome, COUNT(*) FROM schedule_fires WHERE schedule = ?1 GROUP BY outcome ORDER BY outcome",
    )?;
    let rows = stmt.query_map([schedule], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
