//! The history database's schema, as migrations applied in order
//! (`PRAGMA user_version` counts them). A migration once released is never
//! edited: a change is a new one at the end.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- API tokens are stored as the SHA-256 of the token: 32 random bytes need
-- no slow hash, and a stolen database holds nothing that signs in.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users(name),
    sha256     TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
) STRICT;

CREATE TABLE sessions (
    sha256     TEXT PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users(name),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

-- One row per run, from the moment it is asked for. `seq` orders the
-- queue; `id` is the run id its audit records carry.
CREATE TABLE runs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    plugin         TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    mode           TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    schedule       TEXT,
    slot           TEXT,
    inputs         TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    ended_at       TEXT,
    plugin_version TEXT,
    plugin_sha256  TEXT,
    calls          INTEGER NOT NULL DEFAULT 0,
    denied         INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    objects        INTEGER NOT NULL DEFAULT 0,
    progress_done  INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER,
    writes_unknown INTEGER NOT NULL DEFAULT 0,
    error_kind     TEXT,
    error_message  TEXT,
    output         TEXT,
    outputs_folder TEXT,
    plan_id        TEXT,
    apply_of       TEXT,
    cancelled_by   TEXT
) STRICT;
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_schedule ON runs(schedule, status);

CREATE TABLE run_logs (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    time   TEXT NOT NULL,
    level  TEXT NOT NULL,
    line   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE denials (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    cmdlet  TEXT NOT NULL,
    rule    TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- A what-if run's plan waiting for (or past) a second person's decision.
-- `id` is the plan's SHA-256, which also names its file under plans/.
CREATE TABLE plans (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE,
    plugin       TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    calls        INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    status       TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   TEXT,
    reason       TEXT,
    apply_run_id TEXT
) STRICT;

CREATE TABLE schedules (
    name           TEXT PRIMARY KEY,
    plugin         TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    cron           TEXT NOT NULL,
    time_zone      TEXT NOT NULL,
    overlap        TEXT NOT NULL,
    catch_up_secs  INTEGER NOT NULL,
    jitter_secs    INTEGER NOT NULL,
    inputs         TEXT NOT NULL,
    enabled        INTEGER NOT NULL,
    source         TEXT NOT NULL,
    -- The last slot handled (fired, skipped or missed): the next is after it.
    cursor         TEXT
) STRICT;

-- One row per slot a schedule handled. The primary key is what makes a
-- slot fire once, across restarts and across instances sharing the file.
CREATE TABLE schedule_fires (
    schedule TEXT NOT NULL,
    slot     TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    run_id   TEXT,
    PRIMARY KEY (schedule, slot)
) STRICT, WITHOUT ROWID;
"#,
        ),
        // Tenants an admin added through the API; serve.toml's are not kept
        // here (the file stays their one source).
        M::up(
            r#"
CREATE TABLE tenants (
    name                TEXT PRIMARY KEY,
    profile             TEXT,
    sim_mailboxes       INTEGER,
    sim_seed            INTEGER,
    max_concurrent_runs INTEGER NOT NULL,
    added_by            TEXT NOT NULL,
    added_at            TEXT NOT NULL,
    CHECK ((profile IS NULL) <> (sim_mailboxes IS NULL))
) STRICT;
"#,
        ),
        // The worker that ran a run taken from the NATS queue; empty for a
        // run the service ran itself.
        M::up("ALTER TABLE runs ADD COLUMN worker TEXT;"),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
