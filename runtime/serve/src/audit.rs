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
    let path_for_segments = path.clone();
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
            "first_seq": summary.first_seq,
            "segments": exorun_audit::segments(&path_for_segments).map(|s| s.len()).unwrap_or(0),
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

/// Where streamed records go.
#[derive(Debug)]
pub enum StreamSink {
    Stdout,
    Syslog(PathBuf),
}

impl StreamSink {
    pub fn from_config(config: &crate::config::AuditConfig) -> Option<StreamSink> {
        match config.stream {
            crate::config::AuditStream::None => None,
            crate::config::AuditStream::Stdout => Some(StreamSink::Stdout),
            crate::config::AuditStream::Syslog => {
                Some(StreamSink::Syslog(config.syslog_socket.clone()))
            }
        }
    }
}

/// How often the log is looked at for new records.
const STREAM_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Copies every new record to the sink as one JSON line, the stored bytes
/// unchanged (so a SIEM can check each record's hash), until the service
/// stops; the records written during shutdown are sent before it returns.
pub async fn stream(
    mut follower: exorun_audit::Follower,
    sink: StreamSink,
    stop: exorun_sandbox::CancelRun,
) {
    let mut syslog = Syslog::new();
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(STREAM_POLL) => false,
            () = stop.cancelled() => true,
        };
        let polled = tokio::task::spawn_blocking(move || {
            let lines = follower.poll();
            (follower, lines)
        })
        .await;
        let lines = match polled {
            Ok((back, lines)) => {
                follower = back;
                lines
            }
            Err(e) => {
                tracing::error!(error = %e, "the audit streamer stopped");
                return;
            }
        };
        match lines {
            Ok(lines) => {
                for line in lines {
                    match &sink {
                        StreamSink::Stdout => write_stdout(&line),
                        StreamSink::Syslog(socket) => syslog.send(socket, &line),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read new audit records to stream"),
        }
        if stopping {
            return;
        }
    }
}

fn write_stdout(line: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot stream an audit record to standard output");
    }
}

/// The local syslog protocol: one datagram per message on a Unix socket,
/// `<PRI>TAG[PID]: MESSAGE`, the daemon adding time and host. Hand-rolled
/// on std's `UnixDatagram`: the format is one line, and the syslog crates
/// add a logger facade and their own formatting that the stored bytes
/// must not go through.
struct Syslog {
    socket: Option<std::os::unix::net::UnixDatagram>,
    prefix: String,
}

/// Facility authpriv (10), severity info (6): security records, kept
/// apart from ordinary logs by most syslog set-ups.
const SYSLOG_PRI: u8 = 10 * 8 + 6;

impl Syslog {
    fn new() -> Syslog {
        Syslog {
            socket: None,
            prefix: format!("<{SYSLOG_PRI}>exorun[{}]: ", std::process::id()),
        }
    }

    fn send(&mut self, path: &Path, line: &[u8]) {
        let mut message = Vec::with_capacity(self.prefix.len() + line.len());
        message.extend_from_slice(self.prefix.as_bytes());
        message.extend_from_slice(line);
        let socket = match &self.socket {
            Some(socket) => socket,
            None => match std::os::unix::net::UnixDatagram::unbound() {
                Ok(socket) => self.socket.insert(socket),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open a socket for syslog");
                    return;
                }
            },
        };
        if let Err(e) = socket.send_to(&message, path) {
            tracing::warn!(error = %e, socket = %path.display(), bytes = message.len(), "cannot send an audit record to syslog");
        }
    }
}
