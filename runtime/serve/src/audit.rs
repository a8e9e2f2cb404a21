//! The service's own records in the audit trail: every API action and
//! every schedule firing, allowed or refused, naming the person or
//! schedule behind it. They go into the same hash-chained log as the runs'
//! records, and carry the run's id when they concern a run, so one query
//! by run id shows who asked, who approved and every call it made.

use std::path::{Path, PathBuf};

use exorun_audit::{AuditLog, Entry, Event, PackageEvent, PluginRef, RunInfo, ServiceEvent};

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
        self.append(run, event).await
    }

    /// Records a decision on a plugin (install, upgrade, uninstall, a
    /// refusal) as `exorun install` does, naming the person behind it.
    pub async fn record_package(
        &self,
        actor: &str,
        plugin: PluginRef,
        event: PackageEvent,
    ) -> Result<(), String> {
        let run = RunInfo::new(plugin, "", "")
            .operator(actor)
            .run_id(uuid::Uuid::new_v4().to_string());
        self.append(run, Event::Package(event)).await
    }

    async fn append(&self, run: RunInfo, event: Event) -> Result<(), String> {
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
            "first_seq": summary.first_seq,
            "segments": summary.segments,
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

/// Records read and not yet delivered, at most: a SIEM that stops reading
/// costs this much memory, then the oldest are dropped (and counted in
/// the log), since the service must not stop for it. The audit log itself
/// keeps every record.
const MAX_PENDING: usize = 100_000;

/// How long one delivery may block (a syslog daemon's full queue, a
/// stdout nobody reads) before it is retried at the next poll.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// How long the last delivery at shutdown keeps trying.
const FINAL_DELIVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Copies every new record to the sink as one JSON line, the stored bytes
/// unchanged (so a SIEM can check each record's hash), until the service
/// stops; the records written during shutdown are sent before it returns.
/// Reading and sending happen on a blocking thread: a sink that does not
/// keep up delays the stream, never the service.
pub async fn stream(
    follower: exorun_audit::Follower,
    sink: StreamSink,
    stop: exorun_sandbox::CancelRun,
) {
    let mut streamer = Some(Streamer {
        follower,
        sink,
        syslog: Syslog::new(),
        pending: std::collections::VecDeque::new(),
        failing: false,
    });
    loop {
        let last = tokio::select! {
            () = tokio::time::sleep(STREAM_POLL) => false,
            () = stop.cancelled() => true,
        };
        let Some(mut s) = streamer.take() else { return };
        match tokio::task::spawn_blocking(move || {
            s.step(last);
            s
        })
        .await
        {
            Ok(s) => streamer = Some(s),
            Err(e) => {
                tracing::error!(error = %e, "the audit streamer stopped");
                return;
            }
        }
        if last {
            return;
        }
    }
}

struct Streamer {
    follower: exorun_audit::Follower,
    sink: StreamSink,
    syslog: Syslog,
    pending: std::collections::VecDeque<Vec<u8>>,
    /// Deliveries are failing (warned once until they work again).
    failing: bool,
}

impl Streamer {
    /// Reads new records and delivers what it can, in order; with `last`,
    /// keeps trying for a while.
    fn step(&mut self, last: bool) {
        match self.follower.poll() {
            Ok(lines) => self.pending.extend(lines),
            Err(e) => tracing::warn!(error = %e, "cannot read new audit records to stream"),
        }
        if self.pending.len() > MAX_PENDING {
            let dropped = self.pending.len() - MAX_PENDING;
            self.pending.drain(..dropped);
            tracing::error!(
                dropped,
                "the audit stream's sink does not keep up: records dropped from the stream (the audit log keeps them)"
            );
        }
        let deadline = std::time::Instant::now() + FINAL_DELIVERY;
        while let Some(line) = self.pending.front() {
            let sent = match &self.sink {
                StreamSink::Stdout => write_stdout(line),
                StreamSink::Syslog(socket) => self.syslog.send(socket, line),
            };
            match sent {
                Ok(()) => {
                    if self.failing {
                        tracing::info!("audit records stream again");
                        self.failing = false;
                    }
                    self.pending.pop_front();
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(error = %e, pending = self.pending.len(), "cannot deliver audit records to the stream; retrying");
                        self.failing = true;
                    }
                    if !last || std::time::Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        }
    }
}

fn write_stdout(line: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(line)?;
    out.write_all(b"\n")?;
    out.flush()
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

    fn send(&mut self, path: &Path, line: &[u8]) -> std::io::Result<()> {
        let mut message = Vec::with_capacity(self.prefix.len() + line.len());
        message.extend_from_slice(self.prefix.as_bytes());
        message.extend_from_slice(line);
        let socket = match &self.socket {
            Some(socket) => socket,
            None => {
                let socket = std::os::unix::net::UnixDatagram::unbound()?;
                socket.set_write_timeout(Some(SEND_TIMEOUT))?;
                self.socket.insert(socket)
            }
        };
        socket.send_to(&message, path).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(log: &Path, i: u32) {
        let run = RunInfo::new(
            PluginRef {
                name: "report".to_owned(),
                version: "1.0.0".to_owned(),
                sha256: String::new(),
            },
            "contoso",
            "",
        );
        let event = Event::Service(ServiceEvent {
            action: format!("test.{i}"),
            reference: None,
            refused: None,
            message: None,
        });
        AuditLog::open(log)
            .unwrap()
            .append(Entry::new(&run, &event))
            .unwrap();
    }

    #[test]
    fn a_syslog_that_stops_reading_delays_the_stream_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let socket_path = dir.path().join("log");
        let receiver = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
        let mut streamer = Streamer {
            follower: exorun_audit::Follower::from_end(&log).unwrap(),
            sink: StreamSink::Syslog(socket_path),
            syslog: Syslog::new(),
            pending: std::collections::VecDeque::new(),
            failing: false,
        };
        // More records than a datagram socket queues by default (10).
        for i in 0..40 {
            record(&log, i);
        }
        let started = std::time::Instant::now();
        streamer.step(false);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "a step waited {:?} for a reader",
            started.elapsed()
        );
        assert!(streamer.failing);
        // The reader comes back: every record arrives once, in order.
        receiver.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while got.len() < 40 && std::time::Instant::now() < deadline {
            while let Ok(n) = receiver.recv(&mut buf) {
                let text = String::from_utf8(buf[..n].to_vec()).unwrap();
                let json = &text[text.find('{').unwrap()..];
                let value: serde_json::Value = serde_json::from_str(json).unwrap();
                got.push(value["action"].as_str().unwrap().to_owned());
            }
            streamer.step(false);
        }
        let expected: Vec<String> = (0..40).map(|i| format!("test.{i}")).collect();
        assert_eq!(got, expected);
        assert!(streamer.pending.is_empty());
        assert!(!streamer.failing);
    }
}
