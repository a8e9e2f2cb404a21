//! The run log: stdout, stderr and `log` calls, captured line by line into
//! one size-capped buffer per run.
//!
//! Past the cap the plugin is stopped with a typed trap rather than silently
//! truncated, so a plugin that floods its output ends quickly with a clear
//! `log-limit` outcome instead of burning its whole time budget.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::report::{LogLevel, LogLine, LogSource, Observer};

/// Raised (as a trap) when a run writes more log than it may.
#[derive(Debug, thiserror::Error)]
#[error("log limit of {limit} bytes exceeded")]
pub struct LogLimitExceeded {
    pub limit: u64,
}

/// Longest line kept whole; longer lines are split so one newline-free
/// flood cannot hold the whole budget in a partial buffer.
const MAX_LINE: usize = 16 * 1024;

/// The shared log of one run.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Mutex<LogBuffer>>,
    observer: Arc<dyn Observer>,
}

struct LogBuffer {
    lines: Vec<LogLine>,
    used: u64,
    limit: u64,
    exceeded: bool,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl LogSink {
    pub fn new(limit: u64, observer: Arc<dyn Observer>) -> Self {
        LogSink {
            inner: Arc::new(Mutex::new(LogBuffer {
                lines: Vec::new(),
                used: 0,
                limit,
                exceeded: false,
                partial_stdout: Vec::new(),
                partial_stderr: Vec::new(),
            })),
            observer,
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, LogBuffer> {
        self.inner.lock()
    }

    /// Appends one line from a `log` call.
    pub fn push_line(
        &self,
        level: LogLevel,
        source: LogSource,
        message: String,
    ) -> Result<(), LogLimitExceeded> {
        let mut buf = self.lock();
        buf.charge(message.len() as u64 + 1)?;
        let line = LogLine {
            level,
            source,
            message,
        };
        self.observer.log(&line);
        buf.lines.push(line);
        Ok(())
    }

    /// Appends raw bytes from stdout or stderr, emitting complete lines.
    pub fn write_stream(&self, source: LogSource, bytes: &[u8]) -> Result<(), LogLimitExceeded> {
        let mut buf = self.lock();
        buf.charge(bytes.len() as u64)?;
        let level = match source {
            LogSource::Stderr => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        let mut complete = Vec::new();
        {
            let partial = buf.partial(source);
            for &b in bytes {
                if b == b'\n' || partial.len() >= MAX_LINE {
                    complete.push(std::mem::take(partial));
                    if b == b'\n' {
                        continue;
                    }
                }
                partial.push(b);
            }
        }
        for raw in complete {
            let line = LogLine {
                level,
                source,
                message: String::from_utf8_lossy(&raw).into_owned(),
            };
            self.observer.log(&line);
            buf.lines.push(line);
        }
        Ok(())
    }

    fn exceeded(&self) -> Option<LogLimitExceeded> {
        let buf = self.lock();
        buf.exceeded
            .then_some(LogLimitExceeded { limit: buf.limit })
    }

    /// The whole log, with any unfinished stdout/stderr line flushed.
    pub fn finish(&self) -> Vec<LogLine> {
        let mut buf = self.lock();
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let rest = std::mem::take(buf.partial(source));
            if !rest.is_empty() {
                let line = LogLine {
                    level: if source == LogSource::Stderr {
                        LogLevel::Warn
                    } else {
                        LogLevel::Info
                    },
                    source,
                    message: String::from_utf8_lossy(&rest).into_owned(),
                };
                self.observer.log(&line);
                buf.lines.push(line);
            }
        }
        std::mem::take(&mut buf.lines)
    }
}

impl LogBuffer {
    fn charge(&mut self, bytes: u64) -> Result<(), LogLimitExceeded> {
        if self.exceeded || self.used.saturating_add(bytes) > self.limit {
            self.exceeded = true;
            return Err(LogLimitExceeded { limit: self.limit });
        }
        self.used += bytes;
        Ok(())
    }

    fn partial(&mut self, source: LogSource) -> &mut Vec<u8> {
        match source {
            LogSource::Stderr => &mut self.partial_stderr,
            _ => &mut self.partial_stdout,
        }
    }
}

/// A plugin's stdout or stderr, feeding the run log.
#[derive(Clone)]
pub struct StdioPipe {
    sink: LogSink,
    source: LogSource,
}

impl StdioPipe {
    pub fn new(sink: LogSink, source: LogSource) -> Self {
        StdioPipe { sink, source }
    }
}

impl IsTerminal for StdioPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for StdioPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.sink
            .write_stream(self.source, &bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.sink.exceeded() {
            Some(e) => Err(StreamError::Trap(wasmtime::Error::new(e))),
            None => Ok(64 * 1024),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for StdioPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for StdioPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.sink
                .write_stream(self.source, buf)
                .map(|()| buf.len())
                .map_err(io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;
    impl Observer for Quiet {}

    fn sink(limit: u64) -> LogSink {
        LogSink::new(limit, Arc::new(Quiet))
    }

    #[test]
    fn splits_stdout_into_lines_and_flushes_the_last_partial_line() {
        let log = sink(1024);
        log.write_stream(LogSource::Stdout, b"one\ntw").unwrap();
        log.write_stream(LogSource::Stdout, b"o\nthree").unwrap();
        let lines: Vec<String> = log.finish().into_iter().map(|l| l.message).collect();
        assert_eq!(lines, ["one", "two", "three"]);
    }

    #[test]
    fn keeps_stdout_and_stderr_lines_apart() {
        let log = sink(1024);
        log.write_stream(LogSource::Stdout, b"out-").unwrap();
        log.write_stream(LogSource::Stderr, b"err\n").unwrap();
        log.write_stream(LogSource::Stdout, b"more\n").unwrap();
        let lines: Vec<(LogSource, String)> = log
            .finish()
            .into_iter()
            .map(|l| (l.source, l.message))
            .collect();
        assert_eq!(
            lines,
            [
                (LogSource::Stderr, "err".to_owned()),
                (LogSource::Stdout, "out-more".to_owned())
            ]
        );
    }

    #[test]
    fn refuses_writes_past_the_limit_and_stays_refused() {
        let log = sink(10);
        log.write_stream(LogSource::Stdout, b"12345").unwrap();
        let err = log.write_stream(LogSource::Stdout, b"678901").unwrap_err();
        assert_eq!(err.limit, 10);
        assert!(
            log.push_line(LogLevel::Info, LogSource::Log, "x".into())
                .is_err()
        );
    }

    #[test]
    fn splits_a_newline_free_flood_into_bounded_lines() {
        let log = sink(1 << 20);
        log.write_stream(LogSource::Stdout, &vec![b'x'; MAX_LINE * 2 + 5])
            .unwrap();
        let lengths: Vec<usize> = log.finish().into_iter().map(|l| l.message.len()).collect();
        assert_eq!(lengths, [MAX_LINE, MAX_LINE, 5]);
    }
}
