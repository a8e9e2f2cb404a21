//! Shared fixtures: a run, events, and raw line surgery on log files.

use std::path::Path;
use std::time::Duration;

use exorun_audit::{
    AuditLog, CallEvent, Decision, Durability, Entry, Event, PluginRef, Record, RunEndEvent,
    RunInfo, RunMode,
};
use exorun_cmdlet::{Call, CmdletError};

pub fn run_info(run_id: &str) -> RunInfo {
    RunInfo {
        run_id: run_id.to_owned(),
        plugin: PluginRef {
            name: "mailbox-cleanup".to_owned(),
            version: "1.2.0".to_owned(),
            sha256: "ab".repeat(32),
        },
        operator: "alice".to_owned(),
        tenant: "contoso.onmicrosoft.com".to_owned(),
        app_id: "11111111-2222-3333-4444-555555555555".to_owned(),
        mode: RunMode::Run,
        plan_sha256: None,
        policy: None,
    }
}

/// A call event numbered `i`, so each record differs.
pub fn call_event(i: u64) -> Event {
    let call = Call::new("Set-Mailbox")
        .param("Identity", format!("user{i}@contoso.com"))
        .param("CustomAttribute1", "cleanup");
    Event::Call(
        CallEvent::new(&call, &[])
            .outcome(Ok(1))
            .duration(Duration::from_millis(i % 50)),
    )
}

/// Appends `n` call records (fast durability) and returns them.
pub fn write_calls(path: &Path, n: u64) -> Vec<Record> {
    let run = run_info("run-1");
    let mut log = AuditLog::open(path)
        .unwrap()
        .with_durability(Durability::Flush);
    (1..=n)
        .map(|i| log.append(Entry::new(&run, &call_event(i))).unwrap())
        .collect()
}

/// A small run: start, an allowed call, a denied call, a failed call, end.
pub fn write_run(path: &Path, run: &RunInfo) -> Vec<Record> {
    let mut log = AuditLog::open(path)
        .unwrap()
        .with_durability(Durability::Flush);
    let allowed = Call::new("Get-Mailbox").param("ResultSize", "Unlimited");
    let denied = Call::new("Remove-Mailbox").param("Identity", "ceo@contoso.com");
    let failed = Call::new("Set-Mailbox").param("Identity", "ghost@contoso.com");
    let events = [
        Event::RunStart,
        Event::Call(
            CallEvent::new(&allowed, &[])
                .outcome(Ok(42))
                .duration(Duration::from_millis(120))
                .client_request_id("req-1"),
        ),
        Event::Call(
            CallEvent::new(&denied, &[])
                .decision(Decision::Denied {
                    rule: "cmdlets".to_owned(),
                })
                .outcome(Err(&CmdletError::Denied {
                    rule: "cmdlets".to_owned(),
                    message: "Remove-Mailbox is not in the manifest".to_owned(),
                })),
        ),
        Event::Call(
            CallEvent::new(&failed, &[])
                .outcome(Err(&CmdletError::not_found("ghost@contoso.com")))
                .duration(Duration::from_millis(30)),
        ),
        Event::RunEnd(
            RunEndEvent::ok()
                .counts(3, 1, 1)
                .duration(Duration::from_millis(400)),
        ),
    ];
    events
        .iter()
        .map(|e| log.append(Entry::new(run, e)).unwrap())
        .collect()
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Rewrites the log with these lines, each ending in a newline.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}
