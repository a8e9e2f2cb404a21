//! The human-readable listing for `exorun audit show` (the JSON listing is
//! just the records, one per line).

use crate::record::{DecisionKind, Kind, Record, RunMode, RunStatus};

const HEADERS: [&str; 8] = [
    "TIME", "RUN", "PLUGIN", "CMDLET", "DECISION", "OUTCOME", "OBJECTS", "DURATION",
];

/// Renders records as an aligned text table, one row per record, columns
/// separated by two spaces, no trailing spaces. The run id is shortened to
/// its first 8 characters. Control characters (a plugin chooses cmdlet
/// names and error texts) are shown as `?` so a record cannot rewrite the
/// operator's terminal.
pub fn render_table(records: &[Record]) -> String {
    let rows: Vec<[String; 8]> = records.iter().map(row).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let headers = HEADERS.map(str::to_owned);
    for cells in std::iter::once(&headers).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn mode(record: &Record) -> &'static str {
    match record.mode {
        Some(RunMode::WhatIf) => "what-if",
        Some(RunMode::Apply) => "apply",
        Some(RunMode::Run) | None => "run",
    }
}

fn row(record: &Record) -> [String; 8] {
    let run: String = record.run_id.chars().take(8).collect();
    // Service records name a plugin without a build (the run they start
    // has not loaded it yet).
    let plugin = if record.plugin.version.is_empty() {
        record.plugin.name.clone()
    } else {
        format!("{}@{}", record.plugin.name, record.plugin.version)
    };
    let (cmdlet, decision, outcome) = match record.kind {
        Kind::RunStart => (
            format!("({} start)", mode(record)),
            String::new(),
            String::new(),
        ),
        Kind::RunEnd => {
            let status = match record.status {
                Some(RunStatus::Ok) => "ok",
                Some(RunStatus::Failed) => "failed",
                None => "",
            };
            let outcome = record.error.clone().unwrap_or_else(|| status.to_owned());
            (format!("({} end)", mode(record)), String::new(), outcome)
        }
        Kind::Package => (
            format!("(plugin {})", record.action.as_deref().unwrap_or("?")),
            record.signer.clone().unwrap_or_default(),
            record
                .digest
                .as_deref()
                .map(|d| d.chars().take(19).collect())
                .unwrap_or_default(),
        ),
        Kind::Credential => (
            format!("(cert {})", record.action.as_deref().unwrap_or("?")),
            record.certificate.clone().unwrap_or_default(),
            record.key_id.clone().unwrap_or_default(),
        ),
        Kind::Service => (
            format!("(service {})", record.action.as_deref().unwrap_or("?")),
            match (record.decision, &record.rule) {
                (Some(DecisionKind::Denied), Some(rule)) => format!("refused ({rule})"),
                (Some(DecisionKind::Denied), None) => "refused".to_owned(),
                _ => "allowed".to_owned(),
            },
            record.reference.clone().unwrap_or_default(),
        ),
        Kind::Intent => (
            record.cmdlet.clone().unwrap_or_default(),
            "allowed".to_owned(),
            "(sending)".to_owned(),
        ),
        Kind::Call => {
            let decision = match (record.decision, &record.rule) {
                (Some(DecisionKind::Denied), Some(rule)) => format!("denied ({rule})"),
                (Some(DecisionKind::Denied), None) => "denied".to_owned(),
                (Some(DecisionKind::Allowed), _) => "allowed".to_owned(),
                (None, _) => String::new(),
            };
            (
                record.cmdlet.clone().unwrap_or_default(),
                decision,
                record.outcome.clone().unwrap_or_default(),
            )
        }
    };
    let objects = record.objects.map(|n| n.to_string()).unwrap_or_default();
    let duration = record
        .duration_ms
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_default();
    [
        record.time.clone(),
        run,
        plugin,
        cmdlet,
        decision,
        outcome,
        objects,
        duration,
    ]
    .map(|cell| {
        cell.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    })
}
